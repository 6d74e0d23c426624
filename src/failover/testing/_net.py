"""Loopback plumbing shared by the fake servers: ports, a background event loop, a black hole.

Everything here binds 127.0.0.1 only; nothing started here can send a packet off the machine.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

if TYPE_CHECKING:
    # trustme (a development dependency) is only ever handed in by a caller that has it
    import trustme

__all__ = [
    "LOOPBACK",
    "Blackhole",
    "LoopThread",
    "Served",
    "StreamServer",
    "bind_tcp_and_udp",
    "closed_port_socket",
    "free_port",
    "write_ca_file",
]

#: The only address the fake world ever binds or connects to.
LOOPBACK = "127.0.0.1"

_T = TypeVar("_T")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on at the moment of the call.

    The port is released before returning, so another process could take it; prefer the
    ``closed_port`` fixture, which keeps the port reserved, when the port must stay refused.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def write_ca_file(ca: trustme.CA, path: str | Path) -> str:
    """Write ``ca``'s certificate as PEM to ``path`` and return the path as a string."""
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def closed_port_socket() -> socket.socket:
    """Bind a TCP socket on an ephemeral port without listening: a connect to it is refused.

    Holding the bound socket keeps the kernel from handing the port to anyone else, so the
    port stays refused for as long as the caller keeps the socket open.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    return sock


def bind_tcp_and_udp(host: str = LOOPBACK, *, attempts: int = 50) -> tuple[socket.socket, socket.socket]:
    """Bind a TCP and a UDP socket to the same ephemeral port (DNS serves both on one port)."""
    for _ in range(attempts):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind((host, 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, tcp.getsockname()[1]))
        except OSError as exc:
            tcp.close()
            udp.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return tcp, udp
    raise RuntimeError(f"no port free for both TCP and UDP on {host} after {attempts} attempts")


StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Served:
    """A server a ``with`` block runs: :meth:`start` on entry, :meth:`stop` on exit."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _TrackedStreamProtocol(asyncio.StreamReaderProtocol):
    """A StreamReaderProtocol that keeps its transport in a set for as long as it is open."""

    def __init__(
        self, reader: asyncio.StreamReader, handler: StreamHandler, transports: set[asyncio.Transport]
    ) -> None:
        super().__init__(reader, handler)
        self._transports = transports
        self._own_transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._own_transport = cast(asyncio.Transport, transport)
        self._transports.add(self._own_transport)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._own_transport is not None:
            self._transports.discard(self._own_transport)
        super().connection_lost(exc)


class StreamServer:
    """``asyncio.start_server`` on 127.0.0.1 with a close that leaves no connection behind.

    Python 3.11's ``Server.close`` leaves accepted connections open, and cancelling a handler
    makes its done-callback log a spurious error. ``close`` therefore aborts every accepted
    transport, lets the handlers finish on their own, and cancels (quietly) only the ones
    still stuck after a short grace period, e.g. in a slow answer's sleep.
    """

    def __init__(self, handler: StreamHandler, *, limit: int = 2**16) -> None:
        self._handler = handler
        self._limit = limit
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``sock``, or on a fresh ephemeral loopback port."""
        loop = asyncio.get_running_loop()

        def protocol() -> _TrackedStreamProtocol:
            reader = asyncio.StreamReader(limit=self._limit)
            return _TrackedStreamProtocol(reader, self._run_handler, self._transports)

        if sock is None:
            self._server = await loop.create_server(protocol, LOOPBACK, 0)
        else:
            self._server = await loop.create_server(protocol, sock=sock)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _run_handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except asyncio.CancelledError:
            # Only close() cancels a handler; ending quietly is the point (see the class).
            writer.transport.abort()
        finally:
            self._tasks.discard(task)

    async def close(self, grace: float = 0.2) -> None:
        """Stop listening, abort every connection and wait for the handlers to end."""
        if self._server is None:
            return
        # Stop accepting, then let the accepts already under way build their transports
        # before closing: Python 3.11 drops (unclosed) a socket whose accept completes after
        # Server.close, since the transport then fails to attach to the closed server.
        loop = asyncio.get_running_loop()
        for listener in self._server.sockets:
            loop.remove_reader(listener.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        self._server.close()
        for transport in list(self._transports):
            transport.abort()
        if self._tasks:
            _, stuck = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await self._server.wait_closed()
        # Let the aborted transports run connection_lost, which closes their sockets.
        await asyncio.sleep(0)
        self._server = None


class LoopThread:
    """An asyncio event loop running in a thread of its own.

    Servers run here so that sync tests, async tests (whose loop must stay free) and
    subprocesses can all talk to them; ``stop`` cancels what is left and joins the thread.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; only valid between ``start`` and ``stop``."""
        if self._loop is None:
            raise RuntimeError(f"{self._name}: loop not started")
        return self._loop

    def start(self) -> None:
        """Create the loop and run it forever in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name}: already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run_forever() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        # A daemon thread so that a test that forgets to stop a server cannot hang the run.
        self._thread = threading.Thread(target=run_forever, name=self._name, daemon=True)
        self._loop = loop
        self._thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coro`` on the loop from another thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, callback: Any, *args: Any) -> None:
        """Schedule a plain callback on the loop, from any thread."""
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Cancel every task still on the loop, stop it, join the thread and close the loop."""
        if self._thread is None or self._loop is None:
            return
        loop, thread = self._loop, self._thread

        async def cancel_remaining() -> None:
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        try:
            self.run(cancel_remaining())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10.0)
            loop.close()
            self._loop = None
            self._thread = None


# struct tcp_info (linux/tcp.h) starts with 8 one-byte fields, then u32 rto, ato, snd_mss,
# rcv_mss, unacked, sacked. On a listening socket the kernel reports the accept queue's
# current length in `unacked` and its limit in `sacked` (the same numbers `ss -lt` shows).
_TCP_INFO_QUEUE = struct.Struct("8x4x4x4x4xII")


def _accept_queue(listener: socket.socket) -> tuple[int, int]:
    """Return (current length, limit) of a Linux listening socket's accept queue."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_QUEUE.size)
    length, limit = _TCP_INFO_QUEUE.unpack(info)
    return length, limit


class Blackhole(Served):
    """A loopback TCP port where ``connect()`` times out instead of being refused.

    Linux drops a SYN when the listener's accept queue is full (``tcp_abort_on_overflow`` is 0
    by default) and the client keeps retransmitting until its own timeout. So: listen with a
    backlog of 0, fill the queue with connections that are never accepted, and every further
    connect hangs. Nothing leaves 127.0.0.0/8, and no firewall rule or privilege is needed.
    """

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._fillers: list[socket.socket] = []
        self.host = LOOPBACK
        self.port = 0

    def start(self) -> None:
        """Listen and fill the accept queue until the kernel reports it full."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener = listener
        try:
            listener.bind((LOOPBACK, 0))
            listener.listen(0)
            self.port = listener.getsockname()[1]
            self._fill(listener)
        except BaseException:
            self.stop()
            raise

    def _fill(self, listener: socket.socket) -> None:
        # The queue holds limit + 1 connections (the kernel tests `length > limit`).
        for _ in range(64):
            length, limit = _accept_queue(listener)
            if length > limit:
                return
            self._fillers.append(socket.create_connection((LOOPBACK, self.port), timeout=1.0))
            self._wait_for_queue_length(listener, length + 1)
        raise RuntimeError("the accept queue of the black hole never filled up")

    @staticmethod
    def _wait_for_queue_length(listener: socket.socket, wanted: int) -> None:
        # The client's connect() returns on the SYN-ACK; the server side queues the
        # connection when the final ACK lands, which on loopback is a hair later at most.
        deadline = time.monotonic() + 1.0
        while _accept_queue(listener)[0] < wanted and time.monotonic() < deadline:
            time.sleep(0.001)

    def stop(self) -> None:
        """Close the fillers and the listener."""
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
