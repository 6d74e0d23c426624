"""Servers that go away and come back, for the outage tests of the notice outbox.

``SmtpSinkOnPort`` is the kit's SMTP sink started on a port of our choosing (the server
that comes back where one went away), sharing its list of messages with the one it
replaces so that messages are counted per recipient across both. ``TcpProxy`` relays TCP
on 127.0.0.1 to a server (the machine's PostgreSQL) and can go down: every connection cut,
new ones refused, until it comes back on the same port: a server restart as its clients
see it. Only 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

# the sink's own controller and handler: the sink's behaviour, on a port we choose
from failover.testing._smtp import _Controller, _Handler
from tests.kit import LOOPBACK, ReceivedMessage, Served, SmtpSink, free_port

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


class TcpProxy(Served):
    """A TCP relay from a port of its own on 127.0.0.1 to ``upstream_port``: a thread
    accepts, and two threads per connection copy bytes each way."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.up()

    def up(self) -> None:
        """Accept connections (again) on the same port."""
        deadline = time.monotonic() + 10.0
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        while True:
            try:
                listener.bind((LOOPBACK, self.port))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        listener.listen(64)
        with self._lock:
            self._listener = listener
        self._spawn(self._accept_loop, listener)

    def down(self) -> None:
        """Stop accepting (connections are refused) and cut every connection relayed so far."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            _close(listener)
        for sock in sockets:
            _close(sock)
        self._join()

    def stop(self) -> None:
        self.down()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _join(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=10.0)

    def _keep(self, sock: socket.socket) -> bool:
        """Track a relayed socket; False (and closed) when the relay went down meanwhile."""
        with self._lock:
            if self._listener is None:
                _close(sock)
                return False
            self._sockets.add(sock)
            return True

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the relay went down
            if not self._keep(client):
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5.0)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            if not self._keep(upstream):
                _close(client)
                continue
            self._spawn(_copy, client, upstream)
            self._spawn(_copy, upstream, client)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
