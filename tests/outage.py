"""Servers that go away and come back, for the outage tests of the notice outbox.

``SmtpSinkOnPort`` is the kit's SMTP sink started on a port of our choosing (the server
that comes back where one went away), sharing its list of messages with the one it
replaces so that messages are counted per recipient across both. ``TcpProxy`` relays TCP
on 127.0.0.1 to a server (the machine's PostgreSQL) and can go down: every connection cut,
new ones refused, until it comes back on the same port: a server restart as its clients
see it. Only 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections import Counter
from types import TracebackType
from typing import Self

from tests.kit import LOOPBACK, LoopThread, ReceivedMessage, SmtpSink, free_port

# the kit's own controller and handler: the sink's behaviour, on a port we choose
from tests.kit._smtp import _Controller, _Handler

__all__ = ["SmtpSinkOnPort", "TcpProxy", "per_recipient"]


def per_recipient(messages: list[ReceivedMessage]) -> Counter[str]:
    """Messages received per recipient (one message names one recipient)."""
    return Counter(rcpt for message in list(messages) for rcpt in message.rcpt_tos)


class SmtpSinkOnPort(SmtpSink):
    """An SMTP sink bound to ``port`` (retried while the old listener lets it go), adding
    what it receives to ``messages`` when given."""

    def __init__(self, port: int, *, messages: list[ReceivedMessage] | None = None) -> None:
        super().__init__()
        self._wanted = port
        if messages is not None:
            self.messages = messages

    def start(self) -> None:
        """Listen on the wanted port, trying for up to 10 s while it is still in use."""
        deadline = time.monotonic() + 10.0
        while True:
            controller = _Controller(_Handler(self), hostname=LOOPBACK, port=self._wanted)
            try:
                controller.start()
            except OSError as exc:
                thread = getattr(controller, "_thread", None)
                if thread is not None:
                    thread.join()
                if not controller.loop.is_closed():
                    controller.loop.close()
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            self._controller = controller
            self.port = self._wanted
            return


class TcpProxy:
    """A TCP relay from a port of its own on 127.0.0.1 to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._loop = LoopThread("tcp-proxy")
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._loop.start()
        self.up()

    def up(self) -> None:
        """Accept connections (again) on the same port."""
        self._loop.run(self._listen())

    def down(self) -> None:
        """Stop accepting and cut every connection relayed so far."""
        self._loop.run(self._cut())

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.run(self._cut())
        self._loop.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _listen(self) -> None:
        deadline = time.monotonic() + 10.0
        while self._server is None:
            try:
                self._server = await asyncio.start_server(
                    self._accept, LOOPBACK, self.port, reuse_address=True
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        relays = list(self._relays)
        for relay in relays:
            relay.cancel()
        if relays:
            await asyncio.wait(relays, timeout=5.0)
        await asyncio.sleep(0)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
            self._writers.add(upstream_writer)
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.transport.abort()
            self._relays.discard(relay)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()
