"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, or refuses on demand."""

from __future__ import annotations

import asyncio
import email
import email.policy
import errno
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from failover.testing._net import LOOPBACK, Served, free_port

if TYPE_CHECKING:
    # trustme (a development dependency) is only ever handed in by a caller that has it
    import trustme

__all__ = ["ReceivedMessage", "SmtpSink"]

_REASONS = {4: "4.3.0 Temporary failure (test sink)", 5: "5.7.1 Rejected (test sink)"}


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as delivered: the envelope and the parsed message.

    ``received_at`` (UTC, when the message was accepted) takes no part in comparisons.
    """

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)


class _Handler:
    """aiosmtpd handler hooks; runs on the controller's loop thread."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    # aiosmtpd passes the hooks' and the authenticator's arguments by position: the names
    # of those left unused start with an underscore
    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _rcpt_options: list[str]
    ) -> str:
        reply = self._sink._failure("rcpt")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        reply = self._sink._failure("data")
        if reply is not None:
            return reply
        transport = server.transport
        if transport is None or transport.is_closing():
            # The sink cut this session (``stop``) after the data had arrived but before it was
            # answered: the client never hears a 250, so, as with a real server that goes
            # down, the message is not delivered.
            return "421 Service not available, closing transmission channel"
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._sink.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos), message=message
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller with a shutdown that closes every session first.

    ``Controller.stop`` stops the loop and cancels the tasks in one go, so a session still
    open (even the one ``start`` opens itself to trigger the factory) is destroyed pending,
    its socket unclosed: a ResourceWarning, which this suite turns into an error.
    """

    def __init__(self, handler: object, **options: Any) -> None:
        super().__init__(handler, **options)
        self._sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        """Create the SMTP protocol for one connection and remember it."""
        session = cast(SMTP, super().factory())  # type: ignore[no-untyped-call]
        self._sessions.append(session)
        return session

    def stop(self, no_assert: bool = False) -> None:
        """Close the listener and every session on the loop, then stop as usual."""
        if self._thread is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop).result(timeout=5.0)
        super().stop(no_assert)

    async def _close_sessions(self) -> None:
        loop = asyncio.get_running_loop()
        if self.server is not None:
            # As in StreamServer.close: stop accepting and let accepts under way finish first.
            for listener in cast(asyncio.Server, self.server).sockets:
                loop.remove_reader(listener.fileno())
            for _ in range(3):
                await asyncio.sleep(0)
            self.server.close()
        for session in self._sessions:
            if isinstance(session.transport, asyncio.Transport):
                session.transport.abort()
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        # Let the aborted transports run connection_lost, which closes their sockets.
        await asyncio.sleep(0)


class SmtpSink(Served):
    """An SMTP server on 127.0.0.1 (ephemeral port) that stores every accepted message.

    ``tls`` offers STARTTLS with a certificate for ``localhost``/127.0.0.1 from that CA (the
    CA PEM is at ``ca_file``); ``auth`` advertises AUTH PLAIN/LOGIN and accepts any
    credentials, recording them in ``logins``.
    """

    def __init__(self, *, tls: trustme.CA | None = None, auth: bool = False) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.tls = tls
        self.auth = auth
        self.ca_file: str | None = None
        self.messages: list[ReceivedMessage] = []
        self.logins: list[tuple[str, str]] = []
        self._failure_code: int | None = None
        self._failure_stage: Literal["rcpt", "data"] = "rcpt"
        self._lock = threading.Lock()
        self._controller: _Controller | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None

    def fail_with(self, code: int | None, *, stage: Literal["rcpt", "data"] = "rcpt") -> None:
        """Answer RCPT (or DATA) with ``code`` (a 4xx or 5xx) from now on; None accepts again."""
        if code is not None and code // 100 not in _REASONS:
            raise ValueError(f"fail_with expects a 4xx or 5xx code, got {code}")
        with self._lock:
            self._failure_code = code
            self._failure_stage = stage

    def _failure(self, stage: Literal["rcpt", "data"]) -> str | None:
        with self._lock:
            code, failing_stage = self._failure_code, self._failure_stage
        if code is None or stage != failing_stage:
            return None
        return f"{code} {_REASONS[code // 100]}"

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived and return them all.

        Raises AssertionError on timeout. From an async test whose own loop sends the mail,
        use ``wait_for_async`` so the sender keeps running while we wait.
        """
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(count, timeout))
            time.sleep(0.01)
        return list(self.messages)

    # The timeout parameter mirrors wait_for, so that both read the same in a test.
    async def wait_for_async(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:  # noqa: ASYNC109
        """Like ``wait_for``, but yields to the caller's event loop while polling."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(count, timeout))
            await asyncio.sleep(0.01)
        return list(self.messages)

    def _timeout_message(self, count: int, timeout: float) -> str:
        got = [(m.mail_from, m.rcpt_tos, m.message["Subject"]) for m in self.messages]
        return f"expected {count} message(s) within {timeout}s, received {len(got)}: {got}"

    def clear(self) -> None:
        """Forget the messages and logins received so far."""
        self.messages.clear()
        self.logins.clear()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server on a free port, retrying if another process grabs the port first."""
        tls_context = self._tls_context()
        for _ in range(10):
            options: dict[str, Any] = {
                "hostname": LOOPBACK,
                "port": free_port(),
                "tls_context": tls_context,
                "require_starttls": False,
            }
            if self.auth:
                # Plaintext AUTH on loopback is the point here: the client under test is
                # exercised, not the transport's secrecy.
                options |= {"authenticator": self._authenticate, "auth_require_tls": False}
            controller = _Controller(_Handler(self), **options)
            try:
                controller.start()
            except OSError as exc:
                _discard(controller)
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            self._controller = controller
            self.port = controller.port
            return
        raise RuntimeError("SmtpSink found no free port after 10 attempts")

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        self._tempdir = tempfile.TemporaryDirectory(prefix="failover-testing-")
        ca_path = Path(self._tempdir.name) / "ca.pem"
        self.tls.cert_pem.write_to_path(str(ca_path))
        self.ca_file = str(ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.issue_cert("localhost", LOOPBACK).configure_cert(context)
        return context

    def stop(self) -> None:
        """Stop the server thread and close its loop."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def _discard(controller: Controller) -> None:
    """Clean up after a Controller whose server never bound: its thread ended, its loop stayed open."""
    thread = getattr(controller, "_thread", None)
    if thread is not None:
        thread.join()
    if not controller.loop.is_closed():
        controller.loop.close()
