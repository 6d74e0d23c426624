"""Probe fixtures the shared kit does not offer: redirects, connection accounting, raw TCP misbehaviour."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import pytest

from failover.probes import Prober
from tests.kit import LOOPBACK, DnsServer, HttpServer, LoopThread, Request, Response

USER_AGENT = "failover-tests/0.1 (+https://example.invalid/failover)"
#: Larger than any body a probe reads whole (status sources: 2 MiB).
HUGE_BYTES = 3 * 1024 * 1024


class ProbeServer(HttpServer):
    """An HTTP server that redirects, counts connections and concurrent requests.

    ``/hop/N`` redirects to ``/hop/N-1`` until ``/hop/0``, which answers 200. Every response
    offers keep-alive, so a client that reuses connections would. ``connections`` holds one
    entry per request: the number of the connection it came on (one serving task per
    connection). ``/huge`` answers a body of ``HUGE_BYTES``. ``/wait`` holds the request for
    ``wait_s`` and tracks ``max_in_flight``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.connections: list[int] = []
        self.wait_s = 0.2
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()
        self._tasks: list[asyncio.Task[object] | None] = []

    async def respond(self, request: Request) -> Response:
        task = asyncio.current_task()
        if task not in self._tasks:
            self._tasks.append(task)  # held, so that no two connections share an identity
        self.connections.append(self._tasks.index(task))
        hop = re.fullmatch(r"/hop/(\d+)", request.path)
        if hop is not None:
            left = int(hop.group(1))
            if left > 0:
                return Response(302, b"", headers={"Location": f"/hop/{left - 1}"})
            return Response(200, b"landed")
        if request.path == "/huge":
            return Response(200, b"{" + b" " * HUGE_BYTES + b"}", "application/json")
        if request.path == "/wait":
            with self._count_lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(self.wait_s)
            with self._count_lock:
                self.in_flight -= 1
        return Response(200, b"ok")


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handed to ``handle``."""

    def __init__(
        self, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> None:
        self._handle = handle
        self._loop = LoopThread("RawServer-loop")
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            await self._handle(reader, writer)
        except OSError:
            pass
        finally:
            writer.transport.abort()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    def __enter__(self) -> Self:
        self._loop.start()
        self._loop.run(self._listen())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.run(self._close())
        self._loop.stop()


async def _answer_not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def _answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.write(b"SSH-2.0-OpenSSH_9.2 not http at all\r\n\r\n")
    await writer.drain()


async def _stay_mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


@pytest.fixture
def probe_server() -> Iterator[ProbeServer]:
    """An HTTP server with redirect chains, connection and concurrency accounting."""
    with ProbeServer() as server:
        yield server


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port that completes TCP handshakes (in the kernel's backlog) and never accepts.

    For connect-only probes: an asyncio server could be stopped between the kernel's
    handshake and its own accept, and leave a transport behind.
    """
    with socket.create_server((LOOPBACK, 0), backlog=64) as listener:
        yield listener.getsockname()[1]


@pytest.fixture
def not_tls_port() -> Iterator[int]:
    """A port that answers a TLS ClientHello with a plain HTTP error: a TLS protocol error."""
    with RawServer(_answer_not_tls) as server:
        yield server.port


@pytest.fixture
def garbage_port() -> Iterator[int]:
    """A port that answers an HTTP request with something that is not HTTP."""
    with RawServer(_answer_garbage) as server:
        yield server.port


@pytest.fixture
def mute_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with RawServer(_stay_mute) as server:
        yield server.port


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    """A prober with the system resolver left as configured (tests never use it unprepared)."""
    async with Prober(user_agent=USER_AGENT, clock=utc_now) as instance:
        yield instance


@pytest.fixture
async def dns_prober(dns_server: DnsServer) -> AsyncIterator[Prober]:
    """A prober whose "system" resolver is the kit's DNS server."""
    async with Prober(
        user_agent=USER_AGENT, clock=utc_now, system_nameservers=[dns_server.endpoint]
    ) as instance:
        yield instance
