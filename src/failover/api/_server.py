"""The server: uvicorn on the daemon's loop, without its signal handling, bounded in
connections, closing those on which no request gets under way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

#: requests in progress (and open connections, counted when a request arrives) an HTTP
#: listener takes before answering 503
HTTP_CONNECTIONS_MAX = 128
#: how long a connection may stay without a request under way before it is closed: a
#: client that opens connections and never finishes a request's head holds none for long
HTTP_IDLE_TIMEOUT_S = 10.0


class TimelyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection on which no request got under way
    within :data:`HTTP_IDLE_TIMEOUT_S` (uvicorn's own keep-alive timeout only runs between
    requests, and stops at the first byte of the next one: a request head that never
    ends would hold its connection, and a file descriptor, for ever)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._unwatch()
        super().connection_lost(exc)

    def _watch(self, seen: object) -> None:
        self._idle_task = self.loop.call_later(HTTP_IDLE_TIMEOUT_S, self._check_idle, seen)

    def _unwatch(self) -> None:
        task = getattr(self, "_idle_task", None)
        if task is not None:
            task.cancel()

    def _check_idle(self, seen: object) -> None:
        cycle: object = self.cycle  # None until a first request gets under way
        busy = cycle is not None and not self.cycle.response_complete
        if cycle is seen and not busy:
            # no request started since the last look, and none under way
            if not self.transport.is_closing():
                self.transport.close()
            return
        self._watch(cycle)


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP
    and stops the server by setting ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def create_server(app: Starlette, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app``, to run as a task of the daemon's loop (``await
    server.serve()``); set ``server.should_exit = True`` to stop it. Logs go through the
    process's logging setup (no uvicorn log config, no access log, no colours)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        use_colors=False,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
        # Connections past this many are answered 503 and closed at once: clients that open
        # connections and never finish a request cannot take every file descriptor of the
        # process, which the probes, the database and the outbox need.
        limit_concurrency=HTTP_CONNECTIONS_MAX,
        http=TimelyH11Protocol,
    )
    return _Server(config)
