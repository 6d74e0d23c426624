"""``failover demo``: the real daemon against fake platforms on 127.0.0.1, in under a minute.

Everything runs in this process on one event loop: a DNS server (authoritative for the
platforms' names and the only "public resolver"), an HTTP front door per platform, three
control targets, a webhook sink and an SMTP server (aiosmtpd, a development dependency,
imported only here). The configuration is generated with ephemeral ports, the database
lives in a temporary directory, and the :class:`Daemon` runs with short intervals.

The scenario: WhatsApp goes dark (DNS SERVFAIL, connections reset), then the whole Meta
family, then everything recovers. The demo prints a timeline, what each contact received
and the measured latencies (first failing look → confirmed → first e-mail received).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from failover.config import load_config
from failover.domain import IncidentKind
from failover.errors import FailoverError
from failover.service._daemon import Daemon, DaemonTimings
from failover.service._record import journal
from failover.service._runtime import utc_now
from failover.store import JournalEntry

if TYPE_CHECKING:
    # the demo draws with rich, imported when it draws: the daemon starts without rich
    from rich.console import Console

__all__ = ["run_demo"]

_LOOPBACK = "127.0.0.1"
_META = ("whatsapp", "facebook", "instagram", "messenger")
_PLATFORMS = (*_META, "telegram")
_DISPLAY = {
    "whatsapp": "WhatsApp",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "messenger": "Messenger",
    "telegram": "Telegram",
}
#: authoritative zone and the name resolvers are asked for, per platform
_NAMES = {
    "whatsapp": ("whatsapp.net", "web.whatsapp.com"),
    "facebook": ("facebook.com", "www.facebook.com"),
    "instagram": ("instagram.com", "www.instagram.com"),
    "messenger": ("messenger.com", "www.messenger.com"),
    "telegram": ("telegram.org", "web.telegram.org"),
}
_STEP_TIMEOUT_S = 20.0


class DemoError(FailoverError):
    """The demo could not run (a dependency is missing, a step did not happen in time)."""


# ------------------------------------------------------------------------------ fake DNS


class _Dns(asyncio.DatagramProtocol):
    """Answers A/SOA/NS for the names it knows, SERVFAIL for the names set dark."""

    def __init__(self) -> None:
        self.dark: set[str] = set()
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # noqa: BLE001 - not DNS: drop it like a real server
            return
        if not query.question or self._transport is None:
            return
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.dark:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            rdtype = question.rdtype
            soa = dns.rrset.from_text(
                question.name, 60, "IN", "SOA", f"ns1.{name}. hostmaster.{name}. 1 3600 600 86400 60"
            )
            if rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", _LOOPBACK))
            elif rdtype == dns.rdatatype.NS:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "NS", f"ns1.{name}."))
            elif rdtype == dns.rdatatype.SOA:
                response.answer.append(soa)
            else:
                response.authority.append(soa)
        self._transport.sendto(response.to_wire(), addr)


# ------------------------------------------------------------------------------ fake HTTP


class _Http(asyncio.Protocol):
    """A front door: answers 200 while up; resets every connection while dark.
    As a webhook sink it keeps the JSON bodies posted to it."""

    def __init__(self, door: _Door) -> None:
        self._door = door
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self._door.dark:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head, sep, rest = self._buffer.partition(b"\r\n\r\n")
        if not sep or self._transport is None:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if len(rest) < length:
            return
        if head.startswith(b"POST"):
            self._door.posted.append((utc_now(), rest[:length]))
        body = b"ok\n"
        self._transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        self._transport.close()


@dataclass(kw_only=True)
class _Door:
    dark: bool = False
    port: int = 0
    posted: list[tuple[datetime, bytes]] = field(default_factory=list)


# ------------------------------------------------------------------------------ SMTP sink


@dataclass(frozen=True, kw_only=True)
class _Mail:
    at: datetime
    to: str
    subject: str


class _SmtpHandler:
    def __init__(self) -> None:
        self.mails: list[_Mail] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        for rcpt in envelope.rcpt_tos:
            self.mails.append(_Mail(at=utc_now(), to=str(rcpt), subject=str(message.get("Subject", ""))))
        return "250 Message accepted for delivery"


# ------------------------------------------------------------------------------ the world


@dataclass(kw_only=True)
class _World:
    dns: _Dns
    dns_port: int
    doors: dict[str, _Door]
    controls: list[_Door]
    webhook: _Door
    smtp: _SmtpHandler
    smtp_port: int

    def go_dark(self, platforms: tuple[str, ...]) -> None:
        for platform in platforms:
            self.doors[platform].dark = True
            self.dns.dark.update(_NAMES[platform])

    def recover(self) -> None:
        for door in self.doors.values():
            door.dark = False
        self.dns.dark.clear()


async def _serve_http(stack: contextlib.AsyncExitStack, door: _Door) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(door), _LOOPBACK, 0)
    door.port = server.sockets[0].getsockname()[1]

    async def close() -> None:
        server.close()
        await server.wait_closed()

    stack.push_async_callback(close)


async def _build_world(stack: contextlib.AsyncExitStack) -> _World:
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError as exc:  # pragma: no cover - a plain install without the dev extra
        raise DemoError("the demo needs aiosmtpd for its local mail server: pip install aiosmtpd") from exc
    loop = asyncio.get_running_loop()
    resolver = _Dns()
    transport, _ = await loop.create_datagram_endpoint(lambda: resolver, local_addr=(_LOOPBACK, 0))
    stack.callback(transport.close)
    dns_port = transport.get_extra_info("sockname")[1]
    doors = {platform: _Door() for platform in _PLATFORMS}
    controls = [_Door() for _ in range(3)]
    webhook = _Door()
    for door in [*doors.values(), *controls, webhook]:
        await _serve_http(stack, door)
    handler = _SmtpHandler()
    smtp_server = await loop.create_server(
        lambda: SMTP(handler, hostname="failover-demo", loop=loop), _LOOPBACK, 0
    )
    smtp_port = smtp_server.sockets[0].getsockname()[1]

    async def close_smtp() -> None:
        smtp_server.close()
        await smtp_server.wait_closed()

    stack.push_async_callback(close_smtp)
    return _World(
        dns=resolver,
        dns_port=dns_port,
        doors=doors,
        controls=controls,
        webhook=webhook,
        smtp=handler,
        smtp_port=smtp_port,
    )


def _config_text(world: _World, directory: Path, listen_port: int) -> str:
    dns = f"{_LOOPBACK}:{world.dns_port}"
    mail = f"mailto://{_LOOPBACK}:{world.smtp_port}?from=failover@example.org"
    parts = [
        f"""# generated by `failover demo`: every target is on 127.0.0.1
alternatives = ["E-mail: contact@example.org", "Phone: the number on our website"]

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{directory}/demo.db"
listen = "{_LOOPBACK}:{listen_port}"
retention = "1d"

[probes]
resolvers = ["{dns}"]

[detection]
control_quorum = 2
confirm_after = ["1s", "2s"]
recover_after = 2
family_window = "1m"

[notify]
backoff_base = "500ms"
"""
    ]
    for platform in _PLATFORMS:
        zone, www = _NAMES[platform]
        family = 'family = "meta"\n' if platform in _META else ""
        parts.append(
            f"""
[platforms.{platform}]
display_name = "{_DISPLAY[platform]}"
{family}interval = "2s"

[[platforms.{platform}.checks]]
kind = "dns"
name = "authoritative"
qname = "{zone}"
via = "authoritative"
record_types = ["SOA"]
servers = ["{dns}"]
timeout = "1s"

[[platforms.{platform}.checks]]
kind = "dns"
name = "resolvers"
qname = "{www}"
via = "resolvers"
timeout = "1s"

[[platforms.{platform}.checks]]
kind = "http"
name = "front-door"
url = "http://{_LOOPBACK}:{world.doors[platform].port}/"
timeout = "1s"
"""
        )
    for index, door in enumerate(world.controls):
        parts.append(
            f"""
[controls.control-{index}]
interval = "2s"

[[controls.control-{index}.checks]]
kind = "http"
name = "http"
url = "http://{_LOOPBACK}:{door.port}/"
timeout = "1s"
"""
        )
    parts.append(
        f"""
[groups.team]
description = "The people who answer customers"

[[contacts]]
name = "Alice"
language = "fr"
timezone = "Europe/Paris"
groups = ["team"]
[[contacts.channels]]
url = "{mail}&to=alice@example.org"

[[contacts]]
name = "Bob"
language = "en"
groups = ["team"]
[[contacts.channels]]
url = "{mail}&to=bob@example.org"

# Chloé prefers a WhatsApp bridge (a webhook here); while WhatsApp is down, e-mail is used
[[contacts]]
name = "Chloé"
language = "fr"
timezone = "Europe/Paris"
groups = ["team"]
[[contacts.channels]]
url = "json://{_LOOPBACK}:{world.webhook.port}/whatsapp-bridge"
depends_on = ["whatsapp"]
visibility = "private"
[[contacts.channels]]
url = "{mail}&to=chloe@example.org"

[[routes]]
name = "team"
template = "outage"
events = ["confirmed"]
groups = ["team"]

[[routes]]
name = "team-recovery"
template = "recovery"
events = ["resolved"]
groups = ["team"]
"""
    )
    return "".join(parts)


# ------------------------------------------------------------------------------ the scenario


@dataclass(kw_only=True)
class _Timeline:
    started: datetime
    lines: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, moment: datetime, text: str) -> None:
        self.lines.append((moment, text))

    def render(self, console: Console) -> None:
        from rich.table import Table

        table = Table(title="Timeline", title_justify="left")
        table.add_column("t (s)", justify="right")
        table.add_column("what happened")
        for moment, text in sorted(self.lines, key=lambda line: line[0]):
            table.add_row(f"{(moment - self.started).total_seconds():6.1f}", text)
        console.print(table)


async def _until(what: str, predicate: Callable[[], Awaitable[bool]], daemon_task: asyncio.Task[int]) -> None:
    try:
        async with asyncio.timeout(_STEP_TIMEOUT_S):
            while not await predicate():
                if daemon_task.done():
                    raise DemoError(f"the daemon stopped while waiting for: {what}")
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise DemoError(f"gave up after {_STEP_TIMEOUT_S:g} s waiting for: {what}") from None


@contextlib.contextmanager
def _temporary_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="failover-demo-") as name:
        yield Path(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


async def run_demo(console: Console, *, speed: float = 1.0) -> int:
    """Run the scenario and print what happened; the exit code (0: every step happened)."""
    async with contextlib.AsyncExitStack() as stack:
        directory = stack.enter_context(_temporary_directory())
        world = await _build_world(stack)
        path = directory / "failover.toml"
        path.write_text(_config_text(world, directory, _free_port()), encoding="utf-8")
        config = load_config(path, env=os.environ)
        daemon = Daemon(
            config,
            reload=lambda: load_config(path, env=os.environ),
            env={},
            timings=DaemonTimings(outbox_gauge_every_s=2.0),
        )
        console.print(
            f"[bold]failover demo[/]: {len(config.platforms)} fake platforms, "
            f"{len(config.controls)} controls, DNS and SMTP on 127.0.0.1 (config {path})"
        )
        daemon_task = asyncio.create_task(daemon.run(), name="failover-demo-daemon")
        timeline = _Timeline(started=utc_now())
        try:
            measurements = await _scenario(
                console,
                world=world,
                config=config,
                daemon=daemon,
                daemon_task=daemon_task,
                timeline=timeline,
                pause_s=2.0 / speed,
            )
        finally:
            daemon.request_stop()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(12):
                    await daemon_task
        timeline.render(console)
        _print_received(console, world, timeline)
        _print_latencies(console, measurements)
        return 0


async def _entries(config: Any) -> list[JournalEntry]:
    return await asyncio.to_thread(journal, config, since=None, platform=None)


async def _scenario(
    console: Console,
    *,
    world: _World,
    config: Any,
    daemon: Daemon,
    daemon_task: asyncio.Task[int],
    timeline: _Timeline,
    pause_s: float,
) -> list[tuple[str, datetime, datetime, datetime]]:
    async def all_up() -> bool:
        return daemon.rounds >= len(config.platforms) + 1

    await _until("the first rounds", all_up, daemon_task)
    timeline.add(utc_now(), "daemon running; every platform up")
    await asyncio.sleep(pause_s)

    async def mails(n: int) -> bool:
        return len(world.smtp.mails) >= n

    measurements: list[tuple[str, datetime, datetime, datetime]] = []

    async def step(label: str, platforms: tuple[str, ...], expect_scope: str, expect_mails: int) -> None:
        dark_at = utc_now()
        world.go_dark(platforms)
        timeline.add(dark_at, f"[red]{label} goes dark[/] (DNS SERVFAIL, connections reset)")
        console.print(f"… {label} goes dark")

        async def confirmed() -> bool:
            return any(
                e.incident.scope.value == expect_scope
                and e.incident.confirmed_at
                and e.incident.confirmed_at >= dark_at
                and e.incident.kind is not IncidentKind.manual
                for e in await _entries(config)
            )

        await _until(f"the {label} outage to be confirmed", confirmed, daemon_task)
        entry = next(
            e
            for e in await _entries(config)
            if e.incident.scope.value == expect_scope
            and e.incident.confirmed_at
            and e.incident.confirmed_at >= dark_at
        )
        confirmed_at = entry.incident.confirmed_at
        assert confirmed_at is not None
        timeline.add(
            confirmed_at, f"{entry.incident.scope.value} incident [bold]{entry.incident.name}[/] confirmed"
        )
        await _until(f"the {label} notices", lambda: mails(expect_mails), daemon_task)
        first_mail = next(m for m in world.smtp.mails if m.at >= confirmed_at)
        timeline.add(first_mail.at, f"first notice received ({first_mail.subject})")
        measurements.append((label, dark_at, confirmed_at, first_mail.at))

    # three contacts: Alice and Bob by mail; Chloé's WhatsApp bridge is down, so mail too
    await step("WhatsApp", ("whatsapp",), "platform", 3)
    await asyncio.sleep(pause_s)
    await step("the Meta family", _META, "family", 6)
    await asyncio.sleep(pause_s)

    recovered_at = utc_now()
    world.recover()
    timeline.add(recovered_at, "[green]everything recovers[/]")
    console.print("… everything recovers")

    async def resolved() -> bool:
        return all(not e.incident.is_open for e in await _entries(config))

    await _until("the incidents to resolve", resolved, daemon_task)
    for entry in await _entries(config):
        if entry.incident.resolved_at is not None and entry.incident.resolved_at >= recovered_at:
            timeline.add(
                entry.incident.resolved_at,
                f"{entry.incident.scope.value} incident {entry.incident.name} resolved",
            )

    async def recovery_delivered() -> bool:
        # Alice and Bob by mail, Chloé through her bridge again
        return len(world.smtp.mails) >= 8 and len(world.webhook.posted) >= 1

    await _until("the recovery notices", recovery_delivered, daemon_task)
    last = max([m.at for m in world.smtp.mails] + [p[0] for p in world.webhook.posted])
    timeline.add(last, "recovery notices delivered")

    return measurements


def _print_latencies(console: Console, measurements: list[tuple[str, datetime, datetime, datetime]]) -> None:
    from rich.table import Table

    table = Table(title="Latencies", title_justify="left")
    for column in ("outage", "dark → confirmed", "confirmed → first notice", "dark → first notice"):
        table.add_column(column, justify="right" if "→" in column else "left")
    for label, dark_at, confirmed_at, mailed_at in measurements:
        table.add_row(
            label,
            f"{(confirmed_at - dark_at).total_seconds():.1f} s",
            f"{(mailed_at - confirmed_at).total_seconds():.2f} s",
            f"{(mailed_at - dark_at).total_seconds():.1f} s",
        )
    console.print(table)


def _print_received(console: Console, world: _World, timeline: _Timeline) -> None:
    from rich.table import Table

    table = Table(title="What each contact received", title_justify="left")
    table.add_column("t (s)", justify="right")
    table.add_column("to")
    table.add_column("via")
    table.add_column("subject")
    rows: list[tuple[datetime, str, str, str]] = [(m.at, m.to, "e-mail", m.subject) for m in world.smtp.mails]
    for at, body in world.webhook.posted:
        try:
            title = str(json.loads(body).get("title", ""))
        except ValueError:
            title = "?"
        rows.append((at, "Chloé", "WhatsApp bridge (webhook)", title))
    for at, to, via, subject in sorted(rows):
        table.add_row(f"{(at - timeline.started).total_seconds():6.1f}", to, via, subject)
    console.print(table)
