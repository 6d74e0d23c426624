"""The guard every route stands behind: a ``Host`` outside the machine's own names is
refused (DNS rebinding), a refusal is answered as its 4xx, and any other failure is a
generic 500, logged, while the server keeps serving."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Collection

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from failover.api._answers import RequestRefused, error_answer

# the surface logs under one name, whichever of its modules logs
_log = logging.getLogger("failover.api")

Endpoint = Callable[[Request], Awaitable[Response]]


def local_hosts(listen_host: str) -> frozenset[str] | None:
    """The names a ``Host`` header may carry when the surface listens on ``listen_host``:
    the machine's own names for a loopback address, None (any) otherwise."""
    host = listen_host.strip("[]").lower()
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return None
        except ValueError:
            return None  # a name other than localhost: the operator decided who reaches it
    return frozenset({"127.0.0.1", "localhost", "::1", host})


def _host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:9464`` → ``::1``, ``localhost:9464`` → ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    name, _, _port = header.partition(":")
    return name.rstrip(".")


def _host_refusal(request: Request, hosts: Collection[str] | None) -> Response | None:
    """The 400 for a ``Host`` outside ``hosts`` (never echoing it); None when it is one."""
    if hosts is None or _host_name(request.headers.get("host", "")) in hosts:
        return None
    return error_answer(400, "unexpected Host header", [f"host: one of {', '.join(sorted(hosts))}"])


def guarded_endpoint(name: str, endpoint: Endpoint, hosts: Collection[str] | None) -> Endpoint:
    """Answer refusals as 4xx and any other exception as a generic 500, logged; refuse a
    ``Host`` outside ``hosts`` (never echoing it)."""

    async def guarded(request: Request) -> Response:
        refusal = _host_refusal(request, hosts)
        if refusal is not None:
            return refusal
        try:
            return await endpoint(request)
        except RequestRefused as refused:
            return error_answer(refused.status, refused.error, refused.detail, refused.headers)
        except Exception:  # noqa: BLE001 (the surface outlives a failing backend; the log keeps the cause)
            _log.exception("api_request_failed", extra={"endpoint": name})
            return error_answer(500, "internal error")

    return guarded


class GuardedApp:
    """An ASGI app (the metrics exposition) behind the same guard as the endpoints: a
    foreign ``Host`` is refused, and a failure before the answer started is a logged 500."""

    def __init__(self, name: str, app: ASGIApp, hosts: Collection[str] | None) -> None:
        self._name = name
        self._app = app
        self._hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _host_refusal(Request(scope), self._hosts)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_noting_start)
        except Exception:
            if started:  # half an answer cannot be taken back: let the server close it
                raise
            _log.exception("api_request_failed", extra={"endpoint": self._name})
            await error_answer(500, "internal error")(scope, receive, send)
