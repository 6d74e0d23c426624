"""HTTP(S) probes and status-source fetches over the Prober's shared httpx clients."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import zlib
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import httpcore
import httpx

from failover.domain import HttpCheck, Outcome, StatusCheck, StatusFormat
from failover.probes._finding import Finding, Progress
from failover.probes._lookup import NameLookup, NameLookupError
from failover.probes._status import MAX_STATUS_BYTES, StatusReading, parse_feed, parse_meta, parse_statuspage
from failover.probes._tcp import dns_outcome_for_gaierror
from failover.probes._tls import cert_days_left, outcome_for_verification

__all__ = ["MAX_BODY_BYTES", "fetch_status", "new_client", "outcome_for_http_error", "probe_http"]

#: A probed page is read up to this size; a body pattern must match within it.
MAX_BODY_BYTES = 1024 * 1024

_TCP_STARTED = "connection.connect_tcp.started"
_TCP_DONE = "connection.connect_tcp.complete"
_TLS_STARTED = "connection.start_tls.started"
_TLS_DONE = "connection.start_tls.complete"
_SENDING = "http11.send_request_headers.started"
_HEADERS_DONE = "http11.receive_response_headers.complete"


class _LookupBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with host names resolved by :class:`NameLookup` first,
    so that no lookup ever waits in the event loop's thread pool. TLS still sees the URL's
    host name (SNI and verification), and the request its Host header."""

    def __init__(self, lookup: NameLookup) -> None:
        self._lookup = lookup
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._lookup.addresses(host, within_s=timeout)
        except NameLookupError as exc:
            raise httpcore.ConnectError(exc.detail) from exc
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # a lookup returns at least one address
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - probes speak TCP only
        return await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - no retries configured
        await self._inner.sleep(seconds)


def new_client(*, user_agent: str, context: ssl.SSLContext, lookup: NameLookup) -> httpx.AsyncClient:
    """A client that never reuses a connection: every probe sees a fresh connect and handshake.

    ``trust_env`` is off so that proxy variables cannot stand between a probe and its target.
    Redirects are followed by hand, to honour each check's own limit. Names are resolved by
    ``lookup``: httpx offers no other way to give its pool a network backend than to build
    the pool, so the transport's pool is replaced by one with the same settings.
    """
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=None,
        max_keepalive_connections=0,
        network_backend=_LookupBackend(lookup),
    )
    return httpx.AsyncClient(
        transport=transport,
        headers={"User-Agent": user_agent, "Connection": "close"},
        timeout=None,  # noqa: S113  # every request carries its check's own timeout
        follow_redirects=False,
        trust_env=False,
    )


class _Timings:
    """The trace extension's callback: stamps each httpcore event, keeps the TLS stream."""

    __slots__ = ("marks", "monotonic", "tls_stream")

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.marks: dict[str, float] = {}
        self.tls_stream: Any = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        self.marks[event] = self.monotonic()
        if event == _TLS_DONE:
            self.tls_stream = info.get("return_value")

    def phases(self, started: float, finished: float) -> dict[str, float]:
        """connect and tls handshake durations; first_byte from request sent to response
        headers (the server's think time); total from start to the last body byte. With
        redirects, the phases are the final hop's and total spans all hops."""
        marks = self.marks
        phases: dict[str, float] = {}
        if _TCP_DONE in marks and _TCP_STARTED in marks:
            phases["connect"] = marks[_TCP_DONE] - marks[_TCP_STARTED]
        if _TLS_DONE in marks and _TLS_STARTED in marks:
            phases["tls"] = marks[_TLS_DONE] - marks[_TLS_STARTED]
        if _HEADERS_DONE in marks and _SENDING in marks:
            phases["first_byte"] = marks[_HEADERS_DONE] - marks[_SENDING]
        phases["total"] = finished - started
        return phases

    def cert_days_left(self, now: datetime) -> float | None:
        if self.tls_stream is None:
            return None
        return cert_days_left(self.tls_stream.get_extra_info("ssl_object"), now)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def outcome_for_http_error(exc: httpx.HTTPError) -> tuple[Outcome, str]:
    """Map an httpx failure (and the OS or TLS error beneath it) to an outcome and a detail."""
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.http_timeout, type(exc).__name__
    for cause in _causes(exc):
        if isinstance(cause, NameLookupError):
            return cause.outcome, cause.detail[:200]
        if isinstance(cause, ssl.SSLCertVerificationError):
            return outcome_for_verification(cause), f"certificate: {cause.verify_message}"[:200]
        if isinstance(cause, socket.gaierror):
            return dns_outcome_for_gaierror(cause), f"resolving host: {cause.strerror or cause}"[:200]
        if isinstance(cause, ConnectionRefusedError):
            return Outcome.http_error, "refused"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return Outcome.http_error, "reset"
        if isinstance(cause, ssl.SSLError):
            return Outcome.http_error, f"tls: {getattr(cause, 'reason', None) or cause}"[:200]
    if isinstance(exc, httpx.RemoteProtocolError):
        return Outcome.http_error, f"protocol: {exc}"[:200]
    if isinstance(exc, httpx.ConnectError):
        return Outcome.http_error, f"connect: {exc}"[:200]
    return Outcome.http_error, f"{type(exc).__name__}: {exc}"[:200]


@lru_cache(maxsize=256)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


#: The content codings a body is decoded from (httpx's own, without brotli or zstandard);
#: a body in any other is passed on as it came.
_INFLATE_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def _content_codings(response: httpx.Response) -> list[str]:
    """The codings of ``Content-Encoding``, in the order they were applied."""
    listed = (coding.strip().lower() for coding in response.headers.get("content-encoding", "").split(","))
    return [coding for coding in listed if coding and coding != "identity"]


class _Inflater:
    """One gzip or deflate layer whose output comes at most ``room`` bytes at a time: a
    small body that inflates to gigabytes (a "zip bomb", maybe gzip within gzip) is never
    held whole, so the cap on what is read holds for what it inflates to."""

    def __init__(self, coding: str, room: int) -> None:
        self._coding = coding
        self._room = room
        self._inflate = zlib.decompressobj(_INFLATE_WBITS[coding])
        self._first = coding == "deflate"

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._inflate.decompress(data, self._room)
            except zlib.error as exc:
                if self._first:  # deflate comes with its zlib header or without, as httpx allows
                    self._first = False
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(f"{self._coding}: {exc}") from exc
            self._first = False
            data = self._inflate.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < self._room:
                return


def _through(layer: _Inflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.pieces(piece)


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body, decoded, up to ``limit`` bytes, and whether there was more. Reading stops
    as soon as either what came over the network or what it inflates to passes ``limit``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= limit and "content-encoding" not in response.headers:
        # The common case, read in one go: cheaper than streaming, and no decoder can inflate it.
        return await response.aread(), False
    codings = _content_codings(response)
    if not all(coding in _INFLATE_WBITS for coding in codings):
        codings = []
    # the last coding applied is undone first
    layers = [_Inflater(coding, limit + 1) for coding in reversed(codings)]
    chunks: list[bytes] = []
    size = received = 0
    # httpx implements aiter_raw as an async generator; close it when we stop early.
    raw_chunks = cast("AsyncGenerator[bytes, None]", response.aiter_raw())
    async with contextlib.aclosing(raw_chunks) as stream:
        async for raw in stream:
            received += len(raw)
            pieces: Iterable[bytes] = (raw,)
            for layer in layers:
                pieces = _through(layer, pieces)
            for piece in pieces:
                chunks.append(piece)
                size += len(piece)
                if size > limit:
                    return b"".join(chunks)[:limit], True
            if received > limit:
                return b"".join(chunks), True
    return b"".join(chunks), False


async def _get(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    timeout_s: float,
    max_redirects: int,
    limit: int,
    timings: _Timings,
) -> tuple[httpx.Response, bytes, bool] | str:
    """Send, follow up to ``max_redirects`` redirects, read the body. A str means too many redirects."""
    request = client.build_request(method, url, timeout=timeout_s, extensions={"trace": timings})
    hops = 0
    while True:
        response = await client.send(request, stream=True)
        try:
            if response.next_request is not None:
                if hops >= max_redirects:
                    location = response.headers.get("location", "")
                    return f"more than {max_redirects} redirects (last to {location})"
                request = response.next_request
                hops += 1
                continue
            body, truncated = await _read_capped(response, limit)
        finally:
            await response.aclose()
        return response, body, truncated


async def probe_http(
    check: HttpCheck,
    progress: Progress,
    monotonic: Callable[[], float],
    client: httpx.AsyncClient,
    now: datetime,
) -> Finding:
    """One request on a fresh connection, judged by status, body pattern and latency."""
    progress.timeout_outcome = Outcome.http_timeout
    timings = _Timings(monotonic)
    started = monotonic()
    try:
        got = await _get(
            client,
            check.method,
            check.url,
            timeout_s=check.timeout_s,
            max_redirects=check.max_redirects,
            limit=MAX_BODY_BYTES,
            timings=timings,
        )
    except httpx.HTTPError as exc:
        outcome, detail = outcome_for_http_error(exc)
        return Finding(outcome=outcome, detail=detail, phases=timings.phases(started, monotonic()))
    except httpx.InvalidURL as exc:
        return Finding(outcome=Outcome.http_error, detail=f"invalid URL: {exc}"[:200])
    phases = timings.phases(started, monotonic())
    days = timings.cert_days_left(now)
    if isinstance(got, str):
        return Finding(outcome=Outcome.http_error, detail=got[:200], phases=phases, cert_days_left=days)
    response, body, _ = got
    code = response.status_code
    if code not in check.accept_status:
        return Finding(outcome=Outcome.http_status, detail=f"HTTP {code}", phases=phases, cert_days_left=days)
    if check.body_pattern is not None and not _pattern(check.body_pattern).search(
        body.decode(response.encoding or "utf-8", errors="replace")
    ):
        return Finding(
            outcome=Outcome.http_body_mismatch,
            detail=f"HTTP {code}, body does not match {check.body_pattern!r}"[:200],
            phases=phases,
            cert_days_left=days,
        )
    if phases["total"] > check.slow_after_s:
        return Finding(
            outcome=Outcome.http_slow,
            detail=f"HTTP {code} in {phases['total']:.3f}s (slow after {check.slow_after_s}s)",
            phases=phases,
            cert_days_left=days,
        )
    return Finding(outcome=Outcome.ok, detail=f"HTTP {code}", phases=phases, cert_days_left=days)


def read_status(fmt: StatusFormat, body: bytes, components: tuple[str, ...], now: datetime) -> StatusReading:
    if fmt is StatusFormat.statuspage:
        return parse_statuspage(body, components)
    if fmt is StatusFormat.feed:
        return parse_feed(body, components, now=now)
    return parse_meta(body, components)


async def fetch_status(
    check: StatusCheck,
    progress: Progress,
    monotonic: Callable[[], float],
    client: httpx.AsyncClient,
    now: datetime,
) -> Finding:
    """Fetch a status source and read it; a source we cannot fetch is status_unreachable."""
    progress.timeout_outcome = Outcome.status_unreachable
    timings = _Timings(monotonic)
    started = monotonic()
    try:
        got = await _get(
            client,
            "GET",
            check.url,
            timeout_s=check.timeout_s,
            max_redirects=3,
            limit=MAX_STATUS_BYTES,
            timings=timings,
        )
    except httpx.HTTPError as exc:
        _, detail = outcome_for_http_error(exc)
        return Finding(outcome=Outcome.status_unreachable, detail=detail)
    except httpx.InvalidURL as exc:
        return Finding(outcome=Outcome.status_unreachable, detail=f"invalid URL: {exc}"[:200])
    phases = timings.phases(started, monotonic())
    if isinstance(got, str):
        return Finding(outcome=Outcome.status_unreachable, detail=got[:200], phases=phases)
    response, body, truncated = got
    if not response.is_success:
        return Finding(
            outcome=Outcome.status_unreachable, detail=f"HTTP {response.status_code}", phases=phases
        )
    codings = _content_codings(response)
    unread = [coding for coding in codings if coding not in _INFLATE_WBITS]
    if unread:
        return Finding(
            outcome=Outcome.parse_error,
            detail=f"body in a content-encoding failover does not read: {', '.join(unread)}"[:200],
            phases=phases,
        )
    if truncated:
        inflated = f" once decoded from {', '.join(codings)}" if codings else ""
        return Finding(
            outcome=Outcome.parse_error,
            detail=f"body over {MAX_STATUS_BYTES / 2**20:g} MiB{inflated}: not read further"[:200],
            phases=phases,
        )
    reading = read_status(check.format, body, check.components, now)
    return Finding(outcome=reading.outcome, detail=reading.detail, phases=phases)
