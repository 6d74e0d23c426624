"""The world of ``test_outage_2021``: nine watched targets, a real resolver, one inbox.

Everything is on 127.0.0.1. One kit ``DnsServer`` is the authority for every name
(``<platform>.test`` and ``www.<platform>.test``); a real ``unbound`` in front of it is the
recursive resolver the probes use for every name lookup (``[probes] nameservers``); each
platform and control has its own ``HttpTarget`` door; mail goes to an ``SmtpSink``.

Check timeouts keep the real defaults' proportions, halved: DNS 3 s → 1.5 s, a probe's name
lookup 3 s → 1.5 s, TCP 3 s → 1.5 s, HTTP 10 s → 5 s.
"""

from __future__ import annotations

import contextlib
import json
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Daemon
from tests.kit import (
    API_TOKEN,
    LOOPBACK,
    DnsServer,
    Fault,
    HttpTarget,
    Request,
    Response,
    SmtpSink,
    Unbound,
    free_port,
    name_platform,
)

META = ("facebook", "messenger", "instagram", "whatsapp")
HEALTHY = ("telegram", "signal")
PLATFORMS = META + HEALTHY
DISPLAY = {
    "facebook": "Facebook",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "signal": "Signal",
}
#: control name → how it is checked
CONTROLS = ("control-ip", "control-name", "control-tcp")
CONTACTS = ("p0@example.org", "p1@example.org")

INTERVAL_S = 2.0
DNS_TIMEOUT = "1.5s"
LOOKUP_TIMEOUT = "1.5s"
TCP_TIMEOUT = "1.5s"
HTTP_TIMEOUT = "5s"
DEGRADED_AFTER = "20s"
#: generous caps for things that take seconds when all is well (CI shares 2 cores)
WAIT_S = 120.0

#: what a healthy Facebook front door shows (the check's body_pattern looks for it)
FEED = "<title>Facebook</title><div>News Feed</div>"
#: what it showed on 5 March 2024: a 200 with a login form instead of the feed
LOGIN = "<title>Log into Facebook</title><form>Log in</form>"
FEED_PATTERN = "News Feed"


class FlakyDoor(HttpTarget):
    """A door that resets a fraction of its requests (seeded, so a run can be replayed)."""

    def __init__(self, *, rate: float = 0.0, seed: int = 2021) -> None:
        super().__init__()
        self._random = random.Random(seed)
        self._rate = rate
        self._flaky_lock = threading.Lock()
        #: requests answered with a reset since ``flaky`` was called
        self.resets = 0
        #: requests seen since ``flaky`` was called
        self.looks = 0

    def flaky(self, rate: float) -> None:
        """Reset ``rate`` of the following requests at random, counting afresh; 0 stops it
        (and keeps the counts)."""
        with self._flaky_lock:
            self._rate = rate
            if rate > 0:
                self.resets = 0
                self.looks = 0

    async def respond(self, request: Request) -> Response | Fault:
        """Reset at random when flaky, else answer as an ``HttpTarget``."""
        with self._flaky_lock:
            if self._rate > 0:
                self.looks += 1
                if self._random.random() < self._rate:
                    self.resets += 1
                    return Fault.reset
        return await super().respond(request)


class SynDropDoor:
    """A front door on a fixed loopback address that answers 200, or drops every SYN.

    ``drop()`` is what a door whose routes were withdrawn looks like from outside: a
    connect hangs until the client's own timeout (as with the kit's ``Blackhole``). The
    listener stays bound throughout, so the door keeps its address: to drop, it stops
    accepting, shrinks its backlog to 0 (``listen`` again on a listening socket) and fills
    the accept queue with connections it never accepts; ``heal()`` undoes all of it.
    Serves one connection at a time from a thread of its own; good enough for probes.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self.host = LOOPBACK
        self.port: int = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []
        self._dropping = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="SynDropDoor", daemon=True)
        #: requests answered
        self.answered = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            if self._dropping.is_set():
                self._idle.set()
                time.sleep(0.02)
                continue
            self._idle.clear()
            ready, _, _ = select.select([self._listener], [], [], 0.05)
            if not ready or self._dropping.is_set():
                continue
            connection, _ = self._listener.accept()
            with connection:
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(2.0)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    return  # a filler let go at heal(), or a client that gave up
                head += chunk
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                b"Connection: close\r\n\r\nok"
            )
            self.answered += 1

    def drop(self) -> None:
        """From now on, every connect to the door hangs."""
        self._dropping.set()
        self._idle.wait(timeout=5.0)
        self._listener.listen(0)
        while True:  # the queue holds one more than its limit; the connect after it hangs
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.5)
            try:
                filler.connect((self.host, self.port))
            except TimeoutError:
                filler.close()
                return
            self._fillers.append(filler)
            if len(self._fillers) > 64:
                raise RuntimeError("the door's accept queue never filled up")

    def heal(self) -> None:
        """Accept and answer again (the fillers are let go)."""
        self._listener.listen(64)
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        self._dropping.clear()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        for filler in self._fillers:
            filler.close()
        self._fillers.clear()
        self._listener.close()


def _platform_toml(name: str, *, dns: str, door: str, family: str | None, body_pattern: str | None) -> str:
    return name_platform(
        name,
        display_name=DISPLAY[name],
        dns=dns,
        door=door,
        family=family,
        interval=f"{INTERVAL_S:g}s",
        via="system",
        dns_timeout=DNS_TIMEOUT,
        http_timeout=HTTP_TIMEOUT,
        body_pattern=body_pattern,
    )


@dataclass
class Outage2021:
    """The kit's servers for one test, and the daemon's configuration over them."""

    dns: DnsServer
    resolver: Unbound
    smtp: SmtpSink
    tmp_path: Path
    doors: dict[str, FlakyDoor]
    controls: dict[str, HttpTarget]
    api_port: int = field(default_factory=free_port)
    #: platform → a door URL replacing the default one (e.g. an address with no name)
    door_urls: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # --- the names the kit's authority serves ------------------------------------------------

    def names(self, platform: str) -> tuple[str, str]:
        """The zone apex (authoritative SOA check) and the www name (resolver, door)."""
        return f"{platform}.test", f"www.{platform}.test"

    def answer(self, platforms: tuple[str, ...], mode: str) -> None:
        """Switch every name of ``platforms`` (controls included) to a DNS mode."""
        for platform in platforms:
            for name in self.names(platform):
                self.dns.set(name, mode)  # type: ignore[arg-type]

    def door_url(self, platform: str) -> str:
        return self.door_urls.get(platform, f"http://www.{platform}.test:{self.doors[platform].port}/")

    # --- configuration ---------------------------------------------------------------------

    def config_text(self, *, body_pattern: dict[str, str] | None = None) -> str:
        patterns = body_pattern or {}
        platforms = "".join(
            _platform_toml(
                name,
                dns=str(self.dns.endpoint),
                door=self.door_url(name),
                family="meta" if name in META else None,
                body_pattern=patterns.get(name),
            )
            for name in PLATFORMS
        )
        ip, named, tcp = (self.controls[name] for name in CONTROLS)
        controls = f"""
[controls.control-ip]
interval = "{INTERVAL_S:g}s"
[[controls.control-ip.checks]]
kind = "http"
name = "http"
url = "http://127.0.0.1:{ip.port}/"
timeout = "{HTTP_TIMEOUT}"

[controls.control-name]
interval = "{INTERVAL_S:g}s"
[[controls.control-name.checks]]
kind = "http"
name = "http"
url = "http://www.control-name.test:{named.port}/"
timeout = "{HTTP_TIMEOUT}"

[controls.control-tcp]
interval = "{INTERVAL_S:g}s"
[[controls.control-tcp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {tcp.port}
timeout = "{TCP_TIMEOUT}"
"""
        people = "".join(
            f"""
[[contacts]]
name = "Person {n}"
id = "p{n}"
language = "en"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{self.smtp.port}?from=failover@example.org&to={address}"
"""
            for n, address in enumerate(CONTACTS)
        )
        return f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{self.tmp_path}/failover.db"
listen = "127.0.0.1:{self.api_port}"
api_token = "{API_TOKEN}"

[probes]
nameservers = ["{self.resolver.endpoint}"]
resolvers = ["{self.resolver.endpoint}"]
lookup_timeout = "{LOOKUP_TIMEOUT}"

[detection]
confirm_after = ["1s", "2s"]
recover_after = 2
degraded_after = "{DEGRADED_AFTER}"

[notify]
backoff_base = "200ms"
{platforms}{controls}
[groups.team]
description = "everyone"
{people}
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved"]
groups = ["team"]
"""

    def write_config(self, **options: Any) -> Path:
        path = self.tmp_path / "failover.toml"
        path.write_text(self.config_text(**options))
        return path

    # --- what the daemon says ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.api}/api/v1/status", timeout=5).json()
        return answer

    def incidents(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.api}/api/v1/incidents", timeout=5).json()
        incidents: list[dict[str, Any]] = answer["incidents"]
        return incidents

    def metrics(self) -> str:
        return httpx.get(f"{self.api}/metrics", timeout=5).text

    def outage_notices(self) -> list[str]:
        """Recipients of every notice that is not a recovery, in order of arrival."""
        return [
            rcpt
            for message in self.smtp.messages
            if "again" not in str(message.message["Subject"])
            for rcpt in message.rcpt_tos
        ]

    def recovery_notices(self) -> list[str]:
        return [
            rcpt
            for message in self.smtp.messages
            if "again" in str(message.message["Subject"])
            for rcpt in message.rcpt_tos
        ]


def log_events(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon's JSON log lines, parsed (lines that are not JSON are left out)."""
    events = []
    for line in daemon.text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def rounds_of(daemon: Daemon, platform: str) -> int:
    """How many rounds of ``platform`` alone the daemon has judged (scheduled or re-probes)."""
    return sum(
        1
        for event in log_events(daemon)
        if event.get("event") == "round_judged" and event.get("only") == [platform]
    )


@dataclass
class Samples:
    """What /api/v1/status said, sampled while a test waits."""

    statuses: list[dict[str, Any]] = field(default_factory=list)

    def intervals(self, platform: str) -> list[float]:
        """The achieved intervals reported for ``platform`` (None left out)."""
        values = []
        for status in self.statuses:
            for entry in status["platforms"]:
                value = entry.get("achieved_interval_s")
                if entry["platform"] == platform and value is not None:
                    values.append(float(value))
        return values

    def connectivity(self) -> list[bool | None]:
        return [status["connectivity"]["ok"] for status in self.statuses]


def watch(
    world: Outage2021,
    daemon: Daemon,
    what: str,
    done: Callable[[], bool],
    *,
    samples: Samples,
    timeout: float = WAIT_S,
) -> None:
    """Wait (bounded) for ``done``, sampling /api/v1/status twice a second meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            pytest.fail(f"the daemon exited with {daemon.process.returncode}:\n{daemon.text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            samples.statuses.append(world.status())
        if done():
            return
        time.sleep(0.5)
    tail = "\n".join(daemon.text().splitlines()[-60:])
    pytest.fail(
        f"gave up after {timeout:g} s waiting for {what}\n--- unbound log (tail) ---\n"
        f"{world.resolver.log_text()[-1500:]}\n--- daemon log (tail) ---\n{tail}"
    )


def hold(world: Outage2021, daemon: Daemon, seconds: float, *, samples: Samples) -> None:
    """Let ``seconds`` pass (an outage's stretch), sampling /api/v1/status meanwhile."""
    end = time.monotonic() + seconds
    watch(world, daemon, "a stretch", lambda: time.monotonic() >= end, samples=samples, timeout=seconds + 30)


def servers(tmp_path: Path, dns: DnsServer, resolver: Unbound, smtp: SmtpSink) -> Iterator[Outage2021]:
    """Start a door per platform and control, and make every name answer."""
    doors = {name: FlakyDoor() for name in PLATFORMS}
    controls = {name: HttpTarget() for name in CONTROLS}
    started: list[HttpTarget] = []
    try:
        for target in [*doors.values(), *controls.values()]:
            target.start()
            started.append(target)
        world = Outage2021(
            dns=dns, resolver=resolver, smtp=smtp, tmp_path=tmp_path, doors=doors, controls=controls
        )
        world.answer((*PLATFORMS, *CONTROLS), "noerror")
        yield world
    finally:
        for target in started:
            target.stop()
