"""The status site's own listener: a tiny ASGI app serving the newest build from memory,
run by uvicorn on the daemon's loop, apart from the admin API (``failover.api``), so that
the page can face the public while the API stays on loopback.

======  ===================  ==================================================================
method  path                 answers
======  ===================  ==================================================================
GET     ``/``, /index.html   the page in the visitor's language: ``?lang=fr``, else the first of
                             the site's languages ``Accept-Language`` prefers, else the default
GET     any file of the      200 with an ``ETag`` (304 to ``If-None-Match``), ``Cache-Control:
        site                 public, max-age=15``, and for pages a ``Content-Security-Policy``
HEAD    the same             the same headers, no body
other                        405; 404 for what the site does not hold; 503 before the first build
======  ===================  ==================================================================

Any ``Host`` is served: everything here is public.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from failover.api import TimelyH11Protocol
from failover.status_page import Site, SiteFile

__all__ = ["StatusPageListenError", "StatusSiteApp", "preferred_language", "serve_site"]


class StatusPageListenError(OSError):
    """The status page's listener cannot bind its address."""


@dataclass(frozen=True, slots=True)
class _Served:
    body: bytes
    headers: list[tuple[bytes, bytes]]
    etag: bytes


def _headers(site_file: SiteFile, etag: bytes) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", site_file.media_type.encode("ascii")),
        (b"content-length", str(len(site_file.content)).encode("ascii")),
        (b"etag", etag),
        # fresh within a round or two of the judge; a cache revalidates after that
        (b"cache-control", b"public, max-age=15"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if site_file.path.endswith(".html"):
        headers.append((b"content-security-policy", _header_policy(site_file.content)))
    elif site_file.path.endswith(".svg"):
        headers.append((b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"))
    return headers


def _header_policy(page: bytes) -> bytes:
    """The page's own policy (in its ``<meta>``) with what only a header can say."""
    start = page.find(b'http-equiv="Content-Security-Policy" content="')
    policy = b"default-src 'none'"
    if start >= 0:
        start += len(b'http-equiv="Content-Security-Policy" content="')
        policy = page[start : page.find(b'"', start)].replace(b"&#39;", b"'")
    return policy + b"; frame-ancestors 'none'"


def _served(site: Site) -> dict[str, _Served]:
    served = {}
    for site_file in site.files.values():
        etag = b'"' + hashlib.blake2b(site_file.content, digest_size=12).hexdigest().encode("ascii") + b'"'
        served[site_file.path] = _Served(site_file.content, _headers(site_file, etag), etag)
    return served


def preferred_language(accept_language: str, languages: Collection[str], default: str) -> str:
    """The first of ``languages`` the ``Accept-Language`` header prefers (``fr-CA`` counts
    for ``fr``), else ``default``."""
    best, best_q = default, 0.0
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-", maxsplit=1)[0]
        # earlier entries win ties, as the header lists them by preference
        score = quality - position * 1e-6
        if base in languages and score > best_q:
            best, best_q = base, score
    return best


ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_NOT_READY = b"The status page is being built; try again in a moment.\n"
_NOT_FOUND = b"Not found.\n"


class StatusSiteApp:
    """A tiny ASGI app serving the newest build from memory: ``GET``/``HEAD`` of any file
    of the site; ``/`` is the page in the visitor's language (``Accept-Language``, or
    ``?lang=fr``); ``ETag``/``If-None-Match`` answer 304. No state but the build."""

    def __init__(self) -> None:
        self._build: _Build | None = None

    @property
    def ready(self) -> bool:
        return self._build is not None

    def swap(self, site: Site) -> None:
        """Serve ``site`` from the next request on."""
        self._build = _Build(files=_served(site), pages=dict(site.pages), default=site.default_language)

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: ASGIReceive,  # noqa: ARG002 - no request here has a body worth reading
        send: ASGISend,
    ) -> None:
        if scope["type"] != "http":
            return  # no lifespan (uvicorn runs with lifespan="off"), no websockets
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _answer(send, 405, b"Method not allowed.\n", [(b"allow", b"GET, HEAD")], head=False)
            return
        head = method == "HEAD"
        build = self._build
        if build is None:
            await _answer(send, 503, _NOT_READY, [(b"retry-after", b"5")], head=head)
            return
        path = scope["path"]
        headers = dict(scope["headers"])
        vary = False
        if path in ("/", "/index.html"):
            language = build.language(scope.get("query_string", b""), headers.get(b"accept-language", b""))
            path, vary = "/" + build.pages.get(language, "index.html"), True
        served = build.files.get(path[1:])
        if served is None:
            await _answer(send, 404, _NOT_FOUND, [], head=head)
            return
        extra = [(b"vary", b"accept-language")] if vary else []
        if headers.get(b"if-none-match") == served.etag:
            not_modified = [(b"etag", served.etag), *extra]
            await send({"type": "http.response.start", "status": 304, "headers": not_modified})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": served.headers + extra})
        await send({"type": "http.response.body", "body": b"" if head else served.body})


@dataclass(frozen=True, kw_only=True, slots=True)
class _Build:
    """One build as served: swapped whole, so a request never sees half of two builds."""

    files: Mapping[str, _Served]
    #: each language's page
    pages: Mapping[str, str]
    default: str

    def language(self, query: bytes, accept_language: bytes) -> str:
        """``?lang=fr`` if the site has it, else what ``Accept-Language`` prefers."""
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            language = value.decode("ascii", "replace")
            if name == b"lang" and language in self.pages:
                return language
        return preferred_language(accept_language.decode("latin-1"), self.pages, self.default)


async def _answer(
    send: ASGISend, status: int, body: bytes, headers: list[tuple[bytes, bytes]], *, head: bool
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(slots=True)
class Listener:
    """A running listener: stop it with :meth:`close`."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    sock: socket.socket
    address: str

    async def close(self) -> None:
        self.server.should_exit = True
        try:
            async with asyncio.timeout(3.0):
                await self.task
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        finally:
            self.sock.close()


async def serve_site(app: StatusSiteApp, *, host: str, port: int) -> Listener:
    """Serve ``app`` on ``host:port`` from the running loop (port 0: any free port). Raises
    :class:`StatusPageListenError` when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)  # noqa: FBT003 - the socket API's own spelling
    except OSError as exc:
        sock.close()
        raise StatusPageListenError(
            f"cannot listen on {where} (status_page.listen): {exc.strerror or exc}"
        ) from exc
    config = uvicorn.Config(
        app,
        log_config=None,
        use_colors=False,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=2,
        backlog=512,
        # past this many requests under way, 503; connections without a request under way
        # closed after a while (see failover.api)
        limit_concurrency=512,
        http=TimelyH11Protocol,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="failover-status-page-http")
    # uvicorn has no start-up event: it reports a failed start by ending the task
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if task.done():
        sock.close()
        raise StatusPageListenError(
            f"the status page's listener on {where} did not start: {task.exception()!r}"
        )
    bound_host, bound_port = sock.getsockname()[:2]
    address = f"[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"{bound_host}:{bound_port}"
    return Listener(server=server, task=task, sock=sock, address=address)
