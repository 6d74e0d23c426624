"""E-mail delivery without apprise's sender: one long-lived SMTP connection per worker
thread and server, one TLS context per verification setting, and one plain-text message
per recipient (see :mod:`failover.notify._send` for why), whose text, sender and headers
are encoded once for all who receive the same.

Imported at the first e-mail: a daemon that has mailed nobody carries neither
:mod:`smtplib` nor the message classes.
"""

from __future__ import annotations

import contextlib
import email.quoprimime
import functools
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32, compat32
from email.utils import formataddr, formatdate, make_msgid

from failover.notify._render import RenderedNotice

__all__ = ["MailFailure", "MailRoute", "SmtpPool", "SmtpServer", "mail_message"]

#: an idle pooled SMTP connection is checked with NOOP before reuse after this long
_SMTP_IDLE_CHECK_S = 10.0
_SMTP_ERRORS = (smtplib.SMTPException, OSError)
#: "service not available, closing transmission channel": smtplib closes the socket
_CLOSING = 421


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    mode: str  # apprise's secure mode: insecure, ssl, starttls
    user: str | None
    password: str | None
    verify: bool
    timeout_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MailRoute:
    server: SmtpServer
    from_name: str | None
    from_addr: str
    to_name: str | None
    to_addr: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MailFailure:
    """Why a message was not taken: a short, secret-free ``reason``, and whether it is
    ``permanent`` (a 5xx reply: sending it again will not help) or temporary (a 4xx reply,
    a refused or dropped connection, a timeout: the server may take it later)."""

    reason: str
    permanent: bool


@dataclass(slots=True)
class _PooledSmtp:
    connection: smtplib.SMTP
    last_used: float


class SmtpPool:
    """SMTP connections kept open, one per worker thread and server."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[_PooledSmtp] = []
        self._all_lock = threading.Lock()
        self._contexts: dict[bool, ssl.SSLContext] = {}
        self._contexts_lock = threading.Lock()

    def _context(self, verify: bool) -> ssl.SSLContext:
        with self._contexts_lock:
            context = self._contexts.get(verify)
            if context is None:
                context = ssl.create_default_context()
                if not verify:  # the URL said verify=no: the operator's choice
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = context
            return context

    def _open(self, server: SmtpServer) -> smtplib.SMTP:
        connection: smtplib.SMTP
        if server.mode == "ssl":
            connection = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout_s, context=self._context(server.verify)
            )
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=server.timeout_s)
        try:
            if server.mode == "starttls":
                connection.starttls(context=self._context(server.verify))
            if server.user and server.password:
                connection.login(server.user, server.password)
        except _SMTP_ERRORS:
            with contextlib.suppress(*_SMTP_ERRORS):
                connection.close()
            raise
        return connection

    def _mine(self) -> dict[SmtpServer, _PooledSmtp]:
        mine: dict[SmtpServer, _PooledSmtp] | None = getattr(self._local, "connections", None)
        if mine is None:
            mine = self._local.connections = {}
        return mine

    @contextlib.contextmanager
    def connection(self, server: SmtpServer) -> Iterator[smtplib.SMTP]:
        """This thread's connection to ``server``; dropped if the block fails."""
        mine = self._mine()
        pooled = mine.get(server)
        now = time.monotonic()
        if pooled is not None and now - pooled.last_used > _SMTP_IDLE_CHECK_S:
            try:
                pooled.connection.noop()
            except _SMTP_ERRORS:
                self._drop(server, pooled)
                pooled = None
        if pooled is None:
            pooled = _PooledSmtp(self._open(server), now)
            mine[server] = pooled
            with self._all_lock:
                self._all.append(pooled)
        try:
            yield pooled.connection
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop(server, pooled)
            raise
        finally:
            pooled.last_used = time.monotonic()

    def _forget(self, server: SmtpServer) -> None:
        """Drop this thread's connection to ``server`` (after a 421, smtplib closed it)."""
        pooled = self._mine().get(server)
        if pooled is not None:
            self._drop(server, pooled)

    def _drop(self, server: SmtpServer, pooled: _PooledSmtp) -> None:
        self._mine().pop(server, None)
        with self._all_lock:
            if pooled in self._all:
                self._all.remove(pooled)
        with contextlib.suppress(*_SMTP_ERRORS):
            pooled.connection.close()

    def send(self, route: MailRoute, notice: RenderedNotice) -> MailFailure | None:
        """Send ``notice`` along ``route``: None when the server took it, else why not.
        Runs in a worker thread."""
        message = mail_message(route, notice)
        try:
            with self.connection(route.server) as smtp:
                try:
                    smtp.sendmail(route.from_addr, [route.to_addr], message)
                except smtplib.SMTPResponseException as exc:
                    if exc.smtp_code == _CLOSING:
                        self._forget(route.server)
                    raise
                except smtplib.SMTPRecipientsRefused as exc:
                    if any(code == _CLOSING for code, _ in exc.recipients.values()):
                        self._forget(route.server)
                    raise
        except _SMTP_ERRORS as exc:
            return _smtp_error(exc)
        return None

    def close(self) -> None:
        """Say QUIT on every connection; call once no worker uses the pool."""
        with self._all_lock:
            pooled, self._all = self._all, []
        for entry in pooled:
            with contextlib.suppress(*_SMTP_ERRORS):
                entry.connection.quit()
            with contextlib.suppress(*_SMTP_ERRORS):
                entry.connection.close()


#: SMTP wants CRLF line ends, and smtplib does not fix those of a bytes message
_SMTP_POLICY = compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable, and kinder to spam filters than base64


def _address(name: str | None, address: str) -> str:
    return formataddr((name, address), charset="utf-8") if name else address


class _KeepingFolds(Compat32):
    """The SMTP policy, keeping in order each header line it folds for the generator;
    one for each message generated."""

    folds: list[bytes]

    def __init__(self) -> None:
        super().__init__(linesep=_SMTP_POLICY.linesep)
        object.__setattr__(self, "folds", [])  # a policy refuses attributes once made

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = super().fold_binary(name, value)
        self.folds.append(folded)
        return folded


#: message heads kept, the most recently used: a fan-out sends one subject to tens of
#: thousands (one per language and event), while a subject written for one contact alone
#: is soon forgotten
TEXTS_KEPT = 64


@dataclass(frozen=True, slots=True)
class _SharedParts:
    """A message's header bytes that are the same for every recipient of one subject and
    sender (the body, which greets each by name, is encoded for each)."""

    before_to: bytes  # Content-Type, MIME-Version, Content-Transfer-Encoding, From
    subject: bytes
    after_message_id: bytes  # Content-Language, X-Application, the route's headers, blank line
    domain: str


@functools.lru_cache(maxsize=TEXTS_KEPT)
def _shared_parts(
    from_name: str | None, from_addr: str, headers: tuple[tuple[str, str], ...], subject: str, language: str
) -> _SharedParts:
    """The header lines of :func:`mail_message` that do not depend on the recipient, cut
    from a message built and generated as before without a body, less To, Date and
    Message-ID. The generator writes each header line as the policy folds it, then the
    blank line: the lines it folded are the message's first bytes, cut where To, Date and
    Message-ID go. Kept from that one generation, because folding a subject again costs as
    much as the rest."""
    message = MIMENonMultipart("text", "plain")
    message.set_payload("", _UTF8_QP)  # the headers are those of any body
    message["From"] = _address(from_name, from_addr)
    to_at = len(message)
    # a Header, not its encoded text: the generator folds it knowing the name before it (an
    # encoded string with its own fold went out as "Subject: \r\n =?utf-8?...", read back
    # by clients with a leading space)
    if subject.isascii():
        message["Subject"] = subject
    else:  # compat32 takes a Header where typeshed says str
        message["Subject"] = Header(subject, "utf-8", header_name="Subject")  # type: ignore[assignment]
    date_at = len(message)
    message["Content-Language"] = language
    message["X-Application"] = "failover"
    for name, value in headers:
        message[name] = value
    policy = _KeepingFolds()
    whole = message.as_bytes(policy=policy)
    folds = policy.folds
    head = b"".join(folds[:date_at])
    if len(folds) != len(message) or not whole.startswith(head):  # not the generator assumed
        raise RuntimeError("mail: the email package no longer writes the headers first")
    return _SharedParts(
        before_to=b"".join(folds[:to_at]),
        subject=b"".join(folds[to_at:date_at]),
        after_message_id=whole[len(head) :],
        # given so make_msgid does not resolve our own host name each time
        domain=from_addr.rpartition("@")[2] or "localhost",
    )


#: line ends as the generator writes them (``email.generator.NLCRE``)
_LINE_END = re.compile(r"\r\n|\r|\n")


def _body(text: str) -> bytes:
    """The body as ``set_payload(text, utf-8 quoted-printable)`` encodes it and the
    generator writes it: the UTF-8 bytes, quoted-printable, every line end CRLF."""
    if not text:
        return b""
    encoded = email.quoprimime.body_encode(text.encode("utf-8").decode("latin-1"))
    return _LINE_END.sub("\r\n", encoded).encode("ascii")


@functools.lru_cache(maxsize=4)
def _date_header(date: str) -> bytes:
    """The Date line: one a second serves every message sent in it."""
    return _SMTP_POLICY.fold_binary("Date", date)


def mail_message(route: MailRoute, notice: RenderedNotice) -> bytes:
    """One plain-text message for one recipient. The compat32 classes are used on
    purpose: ``EmailMessage`` with the modern policy costs about 3x the CPU per message.
    The header lines shared by every recipient of a subject are generated once (see
    :func:`_shared_parts`): generating them for each of 20,000 recipients was most of the
    cost; To, Date, Message-ID and the body are made for each, as the generator makes them."""
    shared = _shared_parts(route.from_name, route.from_addr, route.headers, notice.subject, notice.language)
    return b"".join(
        (
            shared.before_to,
            _SMTP_POLICY.fold_binary("To", _address(route.to_name, route.to_addr)),
            shared.subject,
            _date_header(formatdate(usegmt=True)),
            _SMTP_POLICY.fold_binary("Message-ID", make_msgid(domain=shared.domain)),
            shared.after_message_id,
            _body(notice.body),
        )
    )


def _is_permanent(code: int) -> bool:
    # RFC 5321 4.2.1: 5yz is a permanent negative completion, 4yz a transient one
    return 500 <= code < 600


def _smtp_error(exc: BaseException) -> MailFailure:
    """What an SMTP exchange's exception says: the reply code decides permanence; a
    connection that failed or was dropped is always worth another try."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        reason = "mail: recipient refused (SMTP " + ", ".join(str(code) for code in codes) + ")"
        return MailFailure(reason, permanent=bool(codes) and all(_is_permanent(c) for c in codes))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailFailure(
            f"mail: authentication failed (SMTP {exc.smtp_code})", permanent=_is_permanent(exc.smtp_code)
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailFailure(f"mail: rejected (SMTP {exc.smtp_code})", permanent=_is_permanent(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # the server lacks what the URL asks for (STARTTLS, AUTH): it will not grow it
        return MailFailure("mail: not supported by the server", permanent=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailFailure("mail: server disconnected", permanent=False)
    if isinstance(exc, TimeoutError):
        return MailFailure("mail: timeout", permanent=False)
    if isinstance(exc, ssl.SSLError):
        return MailFailure("mail: TLS error", permanent=False)
    if isinstance(exc, ConnectionRefusedError):
        return MailFailure("mail: connection refused", permanent=False)
    if isinstance(exc, OSError):
        return MailFailure("mail: connection error", permanent=False)
    return MailFailure(f"mail: {type(exc).__name__}", permanent=False)
