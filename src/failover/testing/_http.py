"""A small HTTP/1.1 server on raw asyncio streams, and the switchable target built on it.

``HttpServer`` owns the socket, the optional TLS, the parsing and the connection lifecycle;
subclasses only decide what to answer (``respond``). ``HttpTarget`` answers according to a
fault mode that tests switch at run time; the test kit's fakes answer like real APIs.
"""

from __future__ import annotations

import asyncio
import enum
import http
import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from failover.testing._net import LOOPBACK, LoopThread, Served, StreamServer

if TYPE_CHECKING:
    # trustme (a development dependency) is imported only where TLS is asked for
    import trustme

__all__ = [
    "CertificateKind",
    "Fault",
    "Headers",
    "HttpServer",
    "HttpTarget",
    "Mode",
    "Request",
    "Response",
]

Mode = Literal["ok", "status", "slow", "reset", "silent", "body"]
CertificateKind = Literal["valid", "wrong_host", "expired", "expiring", "untrusted"]

#: Longest request head accepted; anything longer is a broken client, not a test.
_MAX_HEAD = 64 * 1024
_LINGER_ZERO = struct.pack("ii", 1, 0)


class Headers(dict[str, str]):
    """Request headers, stored under lower-case names and looked up case-insensitively."""

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """Return the header's value, whatever the case of ``name``, or ``default``."""
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server received it; ``path`` excludes the query string.

    ``received_at`` (UTC, once the whole request was read) takes no part in comparisons.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)


@dataclass(frozen=True, slots=True)
class Response:
    """What to send back; ``Content-Length`` and ``Connection`` are added by the server."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)


class Fault(enum.Enum):
    """Misbehaviours that are not a response at all."""

    #: close the connection with a TCP RST (SO_LINGER 0) instead of answering
    reset = "reset"
    #: never answer; keep the connection open until the server stops
    silent = "silent"


class _BadRequestError(Exception):
    """The client sent something that is not HTTP/1.1; the connection is dropped."""


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """Read one request, or return None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequestError("connection closed inside a request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadRequestError("request head too long") from exc
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = request_line.split(" ", 2)
    except ValueError as exc:
        raise _BadRequestError(f"bad request line {request_line!r}") from exc
    headers = Headers()
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    if (headers.get("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if (headers.get("transfer-encoding") or "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length") or "0"))
    path, _, query = target.partition("?")
    return Request(method, path, headers, body, query)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            # Skip trailers up to the blank line that ends the message.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


#: What ends one connection without stopping the server: a client that hangs up, fails the
#: TLS handshake or speaks nonsense.
_CONNECTION_ENDED = (
    OSError,
    _BadRequestError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


def _encode_response(response: Response, *, head_only: bool, keep_alive: bool) -> bytes:
    try:
        reason = http.HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


class HttpServer(Served):
    """An HTTP/1.1 server on 127.0.0.1 (ephemeral port) in a thread with its own event loop.

    Subclasses override ``respond``. With ``tls`` set, every connection is wrapped with the
    certificate chosen by ``set_certificate`` at the time it is accepted. Every request is
    recorded in ``received``, whatever the answer.
    """

    def __init__(self, *, tls: trustme.CA | None = None) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.tls = tls
        #: path of the CA certificate PEM for clients to trust (TLS only; set by ``start``)
        self.ca_file: str | None = None
        self.received: list[Request] = []
        self._lock = threading.Lock()
        self._certificate: CertificateKind = "valid"
        self._contexts: dict[CertificateKind, ssl.SSLContext] = {}
        self._loop = LoopThread(f"{type(self).__name__}-loop")
        self._server = StreamServer(self._serve_connection, limit=_MAX_HEAD)
        self._serving = False
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash; TLS certificates name ``localhost``."""
        if self.tls is not None:
            return f"https://localhost:{self.port}"
        return f"http://{self.host}:{self.port}"

    async def respond(self, request: Request) -> Response | Fault:
        """Decide the answer to ``request``; runs on the server's loop."""
        raise NotImplementedError

    # --- TLS ---------------------------------------------------------------------------------

    def set_certificate(self, kind: CertificateKind) -> None:
        """Serve a ``valid``, ``wrong_host``, ``expired``, ``expiring`` (in 3 days) or
        ``untrusted`` certificate from the next accepted connection on."""
        if self.tls is None:
            raise RuntimeError("set_certificate needs a server started with tls=CA")
        if kind not in get_args(CertificateKind):
            raise ValueError(f"unknown certificate kind {kind!r}")
        context = self._context_for(kind)
        with self._lock:
            self._contexts[kind] = context
            self._certificate = kind

    def _context_for(self, kind: CertificateKind) -> ssl.SSLContext:
        with self._lock:
            if kind in self._contexts:
                return self._contexts[kind]
        assert self.tls is not None
        now = datetime.now(UTC)
        names = ("localhost", LOOPBACK)
        if kind == "valid":
            cert = self.tls.issue_cert(*names)
        elif kind == "wrong_host":
            cert = self.tls.issue_cert("wrong.example")
        elif kind == "expired":
            cert = self.tls.issue_cert(
                *names, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
            )
        elif kind == "expiring":
            cert = self.tls.issue_cert(
                *names, not_before=now - timedelta(days=1), not_after=now + timedelta(days=3)
            )
        else:
            import trustme

            # A CA of its own that no client was told to trust.
            cert = trustme.CA().issue_cert(*names)
        return _server_context(cert)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind, start serving in the background and return once the port accepts."""
        if self.tls is not None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="failover-testing-")
            ca_path = Path(self._tempdir.name) / "ca.pem"
            self.tls.cert_pem.write_to_path(str(ca_path))
            self.ca_file = str(ca_path)
            self.set_certificate("valid")
        self._loop.start()
        try:
            self._loop.run(self._server.start())
        except BaseException:
            self.stop()
            raise
        self._serving = True
        self.port = self._server.port

    def stop(self) -> None:
        """Close the listener and every open connection, then end the thread."""
        if self._serving:
            self._loop.run(self._server.close())
            self._serving = False
        self._loop.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    # --- one connection ----------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # stop() aborts the socket's own transport, which also ends a TLS layer on top of it.
        try:
            if self.tls is not None:
                with self._lock:
                    context = self._contexts[self._certificate]
                await writer.start_tls(context)
            await self._serve_requests(reader, writer)
        except _CONNECTION_ENDED:
            writer.transport.abort()
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await _read_request(reader, writer)) is not None:
            self.received.append(request)
            answer = await self.respond(request)
            if answer is Fault.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                writer.transport.abort()
                return
            if answer is Fault.silent:
                # Answer nothing; return once the client hangs up or stop() aborts us.
                await reader.read()
                return
            keep_alive = "close" not in request.headers.get("connection", "").lower()
            writer.write(_encode_response(answer, head_only=request.method == "HEAD", keep_alive=keep_alive))
            await writer.drain()
            if not keep_alive:
                return


@dataclass(frozen=True, slots=True)
class _Behaviour:
    mode: Mode = "ok"
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    content_type: str = "text/plain"


class HttpTarget(HttpServer):
    """An HTTP(S) target whose behaviour tests switch at run time with ``set`` and ``route``.

    Modes: ``ok`` (200 + body), ``status`` (the given status + body), ``slow`` (wait ``delay``
    seconds, then 200), ``reset`` (read the request, then TCP RST), ``silent`` (never answer),
    ``body`` (200 with the given body, e.g. to miss a keyword). Routes fixed with ``route``
    answer in modes ok, status and slow (after the delay); other paths follow the mode.
    """

    def __init__(self, *, tls: trustme.CA | None = None) -> None:
        super().__init__(tls=tls)
        self._behaviour = _Behaviour()
        self._routes: dict[str, Response] = {}

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in order (the same list as ``received``)."""
        return self.received

    def set(
        self,
        mode: Mode,
        *,
        status: int = 200,
        body: bytes | str = b"ok",
        delay: float = 0.0,
        content_type: str = "text/plain",
    ) -> None:
        """Switch the behaviour for every following request (thread-safe)."""
        if mode not in get_args(Mode):
            raise ValueError(f"unknown mode {mode!r}; expected one of {get_args(Mode)}")
        behaviour = _Behaviour(mode, status, _as_bytes(body), delay, content_type)
        with self._lock:
            self._behaviour = behaviour

    def route(
        self, path: str, *, status: int = 200, body: bytes | str = b"", content_type: str = "application/json"
    ) -> None:
        """Serve a fixed response at ``path`` (e.g. ``/api/v2/summary.json``)."""
        with self._lock:
            self._routes[path] = Response(status, _as_bytes(body), content_type)

    async def respond(self, request: Request) -> Response | Fault:
        """Answer according to the current mode and routes."""
        with self._lock:
            behaviour = self._behaviour
            route = self._routes.get(request.path)
        mode = behaviour.mode
        if mode == "reset":
            return Fault.reset
        if mode == "silent":
            return Fault.silent
        if mode == "slow":
            await asyncio.sleep(behaviour.delay)
        if route is not None and mode != "body":
            return route
        status = behaviour.status if mode == "status" else 200
        return Response(status, behaviour.body, behaviour.content_type)


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body
