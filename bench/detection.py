"""Detection benchmark: time from an outage's onset to the first notice at the SMTP sink.

Every process runs on 127.0.0.1 with temporary data directories and is started afresh for
each run; the outage begins at a random moment after the start, so the phase of every
schedule (rounds, scrapes, evaluations) is random. failover (``failover run`` as a
subprocess) runs at its default detection settings: interval 15 s, re-probes at +2 s and
+5 s, recovery after 3 rounds, degraded after 2 min. Scenarios (``--scenario``):

* ``silent``, the 2021 replay: four Meta platforms (family ``meta``: facebook, messenger,
  instagram, whatsapp) and one healthy platform (telegram), three TCP controls. Each
  platform has an authoritative DNS check (the kit's ``DnsServer``, timeout 3 s), a resolver
  check ``via = "system"`` and an HTTP front door whose URL names a host
  (``http://www.facebook.test:PORT/``, timeout 10 s, the default). The probes resolve every
  name through a real ``unbound`` forwarding to the kit server (``[probes] nameservers``),
  never through /etc/resolv.conf. At the onset the kit server goes *silent* for the Meta
  names and the four front doors accept connections and never answer. The kit's unbound
  caps its cache at 1 s (a cache that has already expired: public resolvers hid the outage
  for up to about 11 minutes on 4 Oct 2021), so the resolver checks and the doors' name
  lookups see unbound's own behaviour with a silent authority within seconds: no answer
  (a timeout), sometimes SERVFAIL. Also measured: the achieved interval of the healthy
  platform during the outage, start to start of its rounds from the daemon's
  ``round_judged`` log lines, and as the daemon's own ``failover_round_interval_seconds``
  gauge reports it (polled every second, one sample per new value).
* ``fast``: the same world failing fast (the kit server answers SERVFAIL for the Meta names,
  the front doors reset every connection), plus, for continuity with earlier figures, extra
  daemons each watching one platform with a single HTTP check on 127.0.0.1 that starts
  resetting connections.
* ``http500``: one platform whose only front door answers 500 while its DNS stays fine: a
  degraded incident, told after ``degraded_after`` (no Prometheus here).

Side by side in ``silent`` and ``fast``, Prometheus + blackbox_exporter + Alertmanager watch
the first world's facebook at their documented defaults (scrape 1m, evaluation 1m,
group_wait 30s; rule ``probe_success == 0`` with the default ``for: 0s``) and at tight
settings (scrape 5s, evaluation 5s, group_wait 0s, group_interval 5s); Alertmanager mails the
same sink (``email_configs``, ``smarthost: 127.0.0.1:PORT``, ``require_tls: false``).
blackbox_exporter resolves names with Go's resolver, which reads /etc/resolv.conf (pointing
off the machine), so it is never given a name to resolve: its ``http`` module asks
``http://127.0.0.1:PORT/`` with ``Host: www.facebook.test`` set in the module's headers, and
its ``dns`` module asks the kit server (by address) for facebook.test's SOA, the part
failover's authoritative check plays. Both fail at the onset; the rule fires on either.

``--steady SECONDS`` adds a steady-state run: a flaky target failing 10 % of requests at
random, watched by failover (interval 1 s so that many rounds happen; every other setting
default) and by the tight Prometheus pipeline; the false notices of each are counted.
(Resident memory is measured alone by ``bench/memory.py``, on the configuration
:func:`catalog_like_config` writes.)

    .venv/bin/python bench/detection.py --scenario all --runs 6
    .venv/bin/python bench/detection.py --scenario silent --runs 1 --extra-failover 0

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kit import (
    DnsMode,
    DnsServer,
    Fault,
    HttpTarget,
    Request,
    Response,
    SmtpSink,
    Unbound,
    free_port,
    tcp_controls,
    write_ca_file,
)

from failover.config import parse_config
from failover.domain import DnsCheck, HttpCheck, StatusCheck, TcpCheck, TlsCheck

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
FAILOVER = str(Path(sys.executable).with_name("failover"))
#: a run gives up on a pipeline this long after the onset (the default Prometheus pipeline
#: needs < 2.5 min, a degraded incident degraded_after + a round or two)
RUN_LIMIT_S = 200.0
SCENARIOS = ("silent", "fast", "http500")
#: the goals, in seconds, of failover's median (http500: its maximum) per scenario
GOALS = {"silent": 30.0, "fast": 20.0, "http500": 120.0 + 30.0}


# ------------------------------------------------------------------------------ helpers


class FlakyTarget(HttpTarget):
    """Resets ``failure_rate`` of its requests at random, answers 200 otherwise."""

    def __init__(self, failure_rate: float) -> None:
        super().__init__()
        self.failure_rate = failure_rate
        self._random = random.Random(20211004)

    async def respond(self, request: Request) -> Response | Fault:
        if self._random.random() < self.failure_rate:
            return Fault.reset
        return await super().respond(request)


class Arrivals:
    """Watches the sink and stamps every message to each recipient (time, subject)."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink
        self._seen = 0
        self.times: dict[str, list[tuple[float, str]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            messages = self._sink.messages
            for message in messages[self._seen :]:
                for rcpt in message.rcpt_tos:
                    subject = str(message.message.get("Subject", ""))
                    self.times.setdefault(rcpt, []).append((time.monotonic(), subject))
            self._seen = len(messages)
            time.sleep(0.01)

    def first_after(self, rcpt: str, moment: float) -> tuple[float, str] | None:
        return next((arrival for arrival in self.times.get(rcpt, []) if arrival[0] >= moment), None)

    def count(self, rcpt: str) -> int:
        return len(self.times.get(rcpt, []))

    def count_before(self, rcpt: str, moment: float) -> int:
        return sum(1 for arrival in self.times.get(rcpt, []) if arrival[0] < moment)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Processes:
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
            )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.started.clear()


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    group = Processes()
    try:
        yield group
    finally:
        group.stop_all()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:g} s")


# ------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    family: str | None
    #: the zone the authoritative check asks for (SOA, NS)
    zone: str
    #: the front door's host name, also the resolver check's name
    host: str


META = (
    PlatformSpec("facebook", "meta", "facebook.test", "www.facebook.test"),
    PlatformSpec("messenger", "meta", "facebook.test", "www.messenger.test"),
    PlatformSpec("instagram", "meta", "facebook.test", "www.instagram.test"),
    PlatformSpec("whatsapp", "meta", "whatsapp.test", "web.whatsapp.test"),
)
HEALTHY = PlatformSpec("telegram", None, "telegram.test", "web.telegram.test")
LONE = PlatformSpec("signal", None, "signal.test", "chat.signal.test")


class World:
    """The servers of some platforms: the kit's authoritative ``DnsServer``, a real unbound
    forwarding every query to it, and one ``HttpTarget`` per front door."""

    def __init__(self, stack: contextlib.ExitStack, specs: Sequence[PlatformSpec]) -> None:
        self.specs = tuple(specs)
        self.dns = stack.enter_context(DnsServer())
        for spec in specs:
            self.dns.set(spec.zone, "noerror")
            self.dns.set(spec.host, "noerror")
        self.unbound = stack.enter_context(Unbound(self.dns.endpoint))
        self.doors = {spec.name: stack.enter_context(HttpTarget()) for spec in specs}

    def platforms_toml(self) -> str:
        parts = []
        for spec in self.specs:
            family = f'family = "{spec.family}"\n' if spec.family else ""
            port = self.doors[spec.name].port
            parts.append(
                f"""
[platforms.{spec.name}]
{family}
[[platforms.{spec.name}.checks]]
kind = "dns"
name = "authoritative"
qname = "{spec.zone}"
via = "authoritative"
record_types = ["SOA", "NS"]
servers = ["{self.dns.endpoint}"]
timeout = "3s"

[[platforms.{spec.name}.checks]]
kind = "dns"
name = "resolvers"
qname = "{spec.host}"
via = "system"
record_types = ["A"]

[[platforms.{spec.name}.checks]]
kind = "http"
name = "front-door"
url = "http://{spec.host}:{port}/"
accept_status = ["2xx", "3xx"]
"""
            )
        return "".join(parts)

    def fail(self, specs: Sequence[PlatformSpec], how: str) -> None:
        """``silent``: DNS and doors stop answering; ``fast``: SERVFAIL and resets;
        ``http500``: the doors answer 500, DNS stays fine."""
        for spec in specs:
            door = self.doors[spec.name]
            if how == "http500":
                door.set("status", status=500, body="internal error")
                continue
            mode: DnsMode = "silent" if how == "silent" else "servfail"
            self.dns.set(spec.zone, mode)
            self.dns.set(spec.host, mode)
            door.set("silent" if how == "silent" else "reset")


# ------------------------------------------------------------------------------ failover


def _daemon_toml(directory: Path, api_port: int, *, log_level: str) -> str:
    return f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{directory}/failover.db"
listen = "127.0.0.1:{api_port}"
log_level = "{log_level}"
"""


def _contacts_toml(smtp_port: int, rcpt: str) -> str:
    # a degraded incident is confirmed like an outage: the same route tells it
    return f"""
[groups.ops]
[[contacts]]
name = "Ops"
groups = ["ops"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org&to={rcpt}"

[[routes]]
name = "ops"
template = "outage"
events = ["confirmed"]
groups = ["ops"]
"""


def world_config(
    directory: Path, world: World, *, control_port: int, smtp_port: int, rcpt: str
) -> tuple[Path, int]:
    """A daemon watching ``world``'s platforms through its unbound, with three TCP controls."""
    api_port = free_port()
    resolver = world.unbound.endpoint
    path = directory / "failover.toml"
    path.write_text(
        _daemon_toml(directory, api_port, log_level="info")
        + f"""
[probes]
nameservers = ["{resolver}"]
resolvers = ["{resolver}"]
"""
        + world.platforms_toml()
        + tcp_controls(control_port)
        + _contacts_toml(smtp_port, rcpt)
    )
    return path, api_port


def failover_config(
    directory: Path, *, target: str, control_port: int, smtp_port: int, rcpt: str, interval: str | None
) -> tuple[Path, int]:
    """A daemon watching one platform with a single HTTP check (no name to resolve)."""
    api_port = free_port()
    interval_line = f'interval = "{interval}"' if interval else ""
    path = directory / "failover.toml"
    path.write_text(
        _daemon_toml(directory, api_port, log_level="info")
        + f"""
[platforms.target]
{interval_line}
[[platforms.target.checks]]
kind = "http"
name = "front-door"
url = "{target}"
"""
        + tcp_controls(control_port, interval=interval)
        + _contacts_toml(smtp_port, rcpt)
    )
    return path, api_port


def start_failover(group: Processes, config: Path, api_port: int) -> subprocess.Popen[bytes]:
    process = group.start(
        [FAILOVER, "run", "--config", str(config)], config.parent / "failover.log", cwd=config.parent
    )
    wait_http(f"http://127.0.0.1:{api_port}/readyz")
    return process


def read_log(path: Path) -> list[dict[str, object]]:
    """The daemon's JSON log lines (anything else, e.g. a traceback, is skipped)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                lines.append(entry)
    return lines


def _wall(entry: dict[str, object]) -> float:
    return dt.datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00")).timestamp()


def round_starts(log: Sequence[dict[str, object]], platform_name: str) -> list[float]:
    """Wall-clock starts of the rounds of one platform alone (its own job and re-probes)."""
    return sorted(
        _wall(entry) - float(entry.get("duration_s") or 0.0)  # type: ignore[arg-type]
        for entry in log
        if entry.get("event") == "round_judged" and entry.get("only") == [platform_name]
    )


def intervals_within(starts: Sequence[float], begin: float, end: float) -> list[float]:
    """Start-to-start intervals whose later round started within [begin, end]."""
    return [b - a for a, b in itertools.pairwise(starts) if begin <= b <= end]


def anomalies(log: Sequence[dict[str, object]]) -> Counter[str]:
    """Warnings and errors by event, plus late or slow rounds."""
    found: Counter[str] = Counter()
    for entry in log:
        if entry.get("level") in ("warning", "error", "critical"):
            found[f"{entry.get('level')}: {entry.get('event')}"] += 1
        elif entry.get("event") == "round_judged" and float(entry.get("duration_s") or 0.0) > 12.0:  # type: ignore[arg-type]
            found["info: round_judged longer than 12 s"] += 1
    return found


def healthy_trouble(log: Sequence[dict[str, object]], platform_name: str) -> Counter[str]:
    """Failing looks, transitions and incidents of the platform that should stay healthy."""
    found: Counter[str] = Counter()
    prefix = f"{platform_name}:"
    for entry in log:
        if entry.get("event") != "round_judged":
            continue
        if entry.get("only") == [platform_name] and entry.get("failing"):
            found[f"{platform_name} (healthy): a look with failing checks"] += 1
        for transition in entry.get("transitions") or ():  # type: ignore[attr-defined]
            if str(transition).startswith(prefix):
                found[f"{platform_name} (healthy): transition {transition}"] += 1
        for incident in entry.get("incidents") or ():  # type: ignore[attr-defined]
            if f":{platform_name}:" in str(incident):
                found[f"{platform_name} (healthy): incident event {str(incident).split(':', 1)[0]}"] += 1
    return found


_INTERVAL_METRIC = re.compile(r'^failover_round_interval_seconds\{platform="(?P<p>[^"]+)"\}\s+(?P<v>\S+)$')


def interval_metric(api_port: int, platform_name: str) -> float | None:
    """The daemon's ``failover_round_interval_seconds`` of one platform, if exported."""
    try:
        text = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if (match := _INTERVAL_METRIC.match(line)) and match["p"] == platform_name:
            return float(match["v"])
    return None


# ------------------------------------------------------------------------------ Prometheus


@dataclass(frozen=True)
class PromSettings:
    name: str
    scrape: str
    evaluation: str
    group_wait: str
    group_interval: str


DEFAULTS = PromSettings("prometheus (defaults)", "1m", "1m", "30s", "5m")
TIGHT = PromSettings("prometheus (tight)", "5s", "5s", "0s", "5s")


@dataclass(frozen=True)
class PromProbe:
    """One blackbox probe: ``module`` (``http_2xx`` or ``dns_soa``) against ``target``."""

    module: str
    target: str


def _blackbox_yml(*, host: str | None, zone: str | None) -> str:
    headers = f"      headers:\n        Host: {host}\n" if host else ""
    dns = (
        "  dns_soa:\n    prober: dns\n    timeout: 5s\n    dns:\n"
        f"      query_name: {zone}\n      query_type: SOA\n      transport_protocol: udp\n"
        "      preferred_ip_protocol: ip4\n      valid_rcodes: [NOERROR]\n"
        if zone
        else ""
    )
    return (
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        f"    http:\n      preferred_ip_protocol: ip4\n{headers}{dns}"
    )


def start_prometheus(
    group: Processes,
    directory: Path,
    settings: PromSettings,
    *,
    probes: Sequence[PromProbe],
    smtp_port: int,
    rcpt: str,
    host: str | None = None,
    zone: str | None = None,
) -> None:
    """blackbox_exporter, Prometheus and Alertmanager; every probe target is an address."""
    directory.mkdir(parents=True)
    bb_port, prom_port, am_port = free_port(), free_port(), free_port()
    (directory / "blackbox.yml").write_text(_blackbox_yml(host=host, zone=zone))
    (directory / "rules.yml").write_text(
        "groups:\n- name: bench\n  rules:\n  - alert: TargetDown\n    expr: probe_success == 0\n"
        "    labels:\n      platform: target\n    annotations:\n      summary: the target is down\n"
    )
    jobs = "".join(
        f"""- job_name: blackbox-{n}-{probe.module}
  metrics_path: /probe
  params:
    module: [{probe.module}]
  static_configs:
  - targets: ["{probe.target}"]
  relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
  - source_labels: [__param_target]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:{bb_port}
"""
        for n, probe in enumerate(probes)
    )
    (directory / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: {settings.scrape}
  evaluation_interval: {settings.evaluation}
rule_files: ["{directory}/rules.yml"]
alerting:
  alertmanagers:
  - static_configs:
    - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
{jobs}"""
    )
    (directory / "alertmanager.yml").write_text(
        f"""route:
  receiver: mail
  group_by: [alertname]
  group_wait: {settings.group_wait}
  group_interval: {settings.group_interval}
  repeat_interval: 4h
receivers:
- name: mail
  email_configs:
  - to: {rcpt}
    from: alertmanager@example.org
    smarthost: 127.0.0.1:{smtp_port}
    require_tls: false
    send_resolved: false
"""
    )
    group.start(
        [BLACKBOX, f"--config.file={directory}/blackbox.yml", f"--web.listen-address=127.0.0.1:{bb_port}"],
        directory / "blackbox.log",
    )
    group.start(
        [
            ALERTMANAGER,
            f"--config.file={directory}/alertmanager.yml",
            f"--storage.path={directory}/am",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        directory / "alertmanager.log",
    )
    group.start(
        [
            PROMETHEUS,
            f"--config.file={directory}/prometheus.yml",
            f"--storage.tsdb.path={directory}/tsdb",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        directory / "prometheus.log",
    )
    wait_http(f"http://127.0.0.1:{am_port}/-/ready")
    wait_http(f"http://127.0.0.1:{prom_port}/-/ready")


# ------------------------------------------------------------------------------ detection runs


@dataclass
class Results:
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    missed: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (scenario, platform) -> achieved intervals of a healthy platform during the outage
    intervals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: (scenario, platform) -> [its rounds started during the outage, rounds due at 15 s]
    rounds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: the same, as the daemon's own gauge reported them (one sample per new value)
    metric_intervals: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    anomalies: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, key: tuple[str, str], value: float | None) -> None:
        if value is None:
            self.missed[key] = self.missed.get(key, 0) + 1
        else:
            self.latencies.setdefault(key, []).append(value)


@dataclass
class Watcher:
    """One pipeline telling ``rcpt`` about the outage whose onset is ``onsets[key]``."""

    pipeline: str
    rcpt: str
    key: int


@dataclass
class Daemon:
    directory: Path
    api_port: int
    #: the platform whose rounds are timed during the outage, if any
    healthy: str | None = None
    #: successive values of its ``failover_round_interval_seconds`` after the onset
    gauge_values: list[float] = field(default_factory=list)
    _last_gauge: float | None = None

    def poll_gauge(self) -> None:
        if self.healthy is None:
            return
        value = interval_metric(self.api_port, self.healthy)
        if value is not None and value != self._last_gauge:
            if self._last_gauge is not None:
                self.gauge_values.append(value)
            self._last_gauge = value


@dataclass
class Run:
    """The outages of one run: ``actions[key]`` starts outage ``key``; ``onsets`` records when."""

    scenario: str
    index: int
    actions: dict[int, Callable[[], None]] = field(default_factory=dict)
    planned: dict[int, float] = field(default_factory=dict)
    onsets: dict[int, float] = field(default_factory=dict)
    onsets_wall: dict[int, float] = field(default_factory=dict)
    watchers: list[Watcher] = field(default_factory=list)
    daemons: list[tuple[Daemon, int]] = field(default_factory=list)

    def outage(self, action: Callable[[], None]) -> int:
        key = len(self.actions)
        self.actions[key] = action
        return key


def _play(run: Run, arrivals: Arrivals, window: tuple[float, float]) -> None:
    """Start every outage at a random moment of ``window`` (seconds from now), then wait
    for every watcher's first notice or RUN_LIMIT_S after the last onset."""
    rng = random.Random()
    started = time.monotonic()
    run.planned = {key: started + rng.uniform(*window) for key in run.actions}
    deadline = started + window[1] + RUN_LIMIT_S
    polled = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - polled >= 1.0:
            polled = time.monotonic()
            for daemon, key in run.daemons:
                if key in run.onsets:
                    daemon.poll_gauge()
        for key, action in run.actions.items():
            if key not in run.onsets and time.monotonic() >= run.planned[key]:
                action()
                run.onsets[key], run.onsets_wall[key] = time.monotonic(), time.time()
        if len(run.onsets) == len(run.actions) and all(
            arrivals.first_after(w.rcpt, run.onsets[w.key]) for w in run.watchers
        ):
            break
        time.sleep(0.05)


def _collect(run: Run, arrivals: Arrivals, results: Results) -> None:
    parts = []
    for watcher in run.watchers:
        onset = run.onsets[watcher.key]
        first = arrivals.first_after(watcher.rcpt, onset)
        latency = None if first is None else first[0] - onset
        results.add((run.scenario, watcher.pipeline), latency)
        early = arrivals.count_before(watcher.rcpt, onset)
        if early:
            print(f"  run {run.index}: {watcher.pipeline} sent {early} notice(s) before the onset")
        subject = f" [{first[1]}]" if first and watcher.pipeline.startswith("failover") else ""
        if first and watcher.pipeline.startswith("failover"):
            later = [sub for at, sub in arrivals.times.get(watcher.rcpt, []) if at > first[0]]
            results.anomalies.setdefault(run.scenario, Counter()).update(
                f"a later notice: {sub}" for sub in later
            )
        parts.append(f"{watcher.pipeline}: {'missed' if latency is None else f'{latency:.1f} s'}{subject}")
    print(f"{run.scenario} run {run.index}: " + "; ".join(parts), flush=True)
    end_wall = time.time()
    for daemon, key in run.daemons:
        log = read_log(daemon.directory / "failover.log")
        counter = results.anomalies.setdefault(run.scenario, Counter())
        counter.update(anomalies(log))
        if daemon.healthy is not None:
            counter.update(healthy_trouble(log, daemon.healthy))
            starts = round_starts(log, daemon.healthy)
            found = intervals_within(starts, run.onsets_wall[key], end_wall)
            results.intervals.setdefault((run.scenario, daemon.healthy), []).extend(found)
            counts = results.rounds.setdefault((run.scenario, daemon.healthy), [0, 0.0])
            counts[0] += sum(1 for start in starts if run.onsets_wall[key] <= start <= end_wall)
            counts[1] += (end_wall - run.onsets_wall[key]) / 15.0
            if found:
                print(
                    f"  {daemon.healthy} interval during the outage: mean {statistics.mean(found):.1f} s, "
                    f"max {max(found):.1f} s over {len(found)}",
                    flush=True,
                )
            gauge = results.metric_intervals.setdefault((run.scenario, daemon.healthy), [])
            gauge.extend(daemon.gauge_values)


def world_run(  # noqa: PLR0917 - a script's helper
    scenario: str, index: int, work: Path, sink: SmtpSink, arrivals: Arrivals, results: Results, extra: int
) -> None:
    """One run of ``silent`` or ``fast``: failover on Meta worlds, Prometheus beside it."""
    run = Run(scenario, index)
    run_dir = work / f"{scenario}-{index}"
    run_dir.mkdir()
    with contextlib.ExitStack() as stack, processes() as group:
        control = stack.enter_context(HttpTarget())
        worlds_for_meta = 1 + (extra if scenario == "silent" else 0)
        first_world: World | None = None
        for n in range(worlds_for_meta):
            world = World(stack, [*META, HEALTHY])
            first_world = first_world or world
            key = run.outage(functools.partial(world.fail, META, scenario))
            directory = run_dir / f"failover-{n}"
            directory.mkdir()
            rcpt = f"failover-{scenario}-{index}-{n}@example.org"
            config, api_port = world_config(
                directory, world, control_port=control.port, smtp_port=sink.port, rcpt=rcpt
            )
            start_failover(group, config, api_port)
            run.watchers.append(Watcher("failover: 4 Meta platforms", rcpt, key))
            run.daemons.append((Daemon(directory, api_port, HEALTHY.name), key))
        if scenario == "fast":
            for n in range(extra):
                target = stack.enter_context(HttpTarget())
                key = run.outage(functools.partial(target.set, "reset"))
                directory = run_dir / f"failover-door-{n}"
                directory.mkdir()
                rcpt = f"failover-{scenario}-{index}-door-{n}@example.org"
                config, api_port = failover_config(
                    directory,
                    target=f"{target.url}/",
                    control_port=control.port,
                    smtp_port=sink.port,
                    rcpt=rcpt,
                    interval=None,
                )
                start_failover(group, config, api_port)
                run.watchers.append(Watcher("failover: one HTTP door (reset)", rcpt, key))
                run.daemons.append((Daemon(directory, api_port), key))
        assert first_world is not None
        facebook = META[0]
        probes = [
            PromProbe("http_2xx", f"http://127.0.0.1:{first_world.doors[facebook.name].port}/"),
            PromProbe("dns_soa", str(first_world.dns.endpoint)),
        ]
        for settings, label in ((DEFAULTS, "default"), (TIGHT, "tight")):
            rcpt = f"prometheus-{scenario}-{label}-{index}@example.org"
            start_prometheus(
                group,
                run_dir / label,
                settings,
                probes=probes,
                smtp_port=sink.port,
                rcpt=rcpt,
                host=facebook.host,
                zone=facebook.zone,
            )
            run.watchers.append(Watcher(settings.name, rcpt, 0))
        _play(run, arrivals, (5.0, 65.0))
        _collect(run, arrivals, results)


def http500_run(  # noqa: PLR0917 - a script's helper
    index: int, work: Path, sink: SmtpSink, arrivals: Arrivals, results: Results, extra: int
) -> None:
    """One run of ``http500``: each daemon watches a platform whose only door answers 500."""
    run = Run("http500", index)
    run_dir = work / f"http500-{index}"
    run_dir.mkdir()
    with contextlib.ExitStack() as stack, processes() as group:
        control = stack.enter_context(HttpTarget())
        for n in range(1 + extra):
            world = World(stack, [LONE])
            key = run.outage(functools.partial(world.fail, [LONE], "http500"))
            directory = run_dir / f"failover-{n}"
            directory.mkdir()
            rcpt = f"failover-http500-{index}-{n}@example.org"
            config, api_port = world_config(
                directory, world, control_port=control.port, smtp_port=sink.port, rcpt=rcpt
            )
            start_failover(group, config, api_port)
            run.watchers.append(Watcher("failover: one door answering 500", rcpt, key))
            run.daemons.append((Daemon(directory, api_port), key))
        _play(run, arrivals, (20.0, 35.0))
        _collect(run, arrivals, results)


# ------------------------------------------------------------------------------ steady state


def catalog_like_config(
    directory: Path, smtp_port: int, stack: contextlib.ExitStack
) -> tuple[Path, int, str]:
    """As many platforms, checks (kind by kind) and controls as the built-in catalog, each
    check pointed at a loopback server. Nothing of the catalog's own targets is used."""
    catalog = parse_config("", source="built-in", env={}, cwd=directory)
    ca = trustme.CA()
    ca_file = write_ca_file(ca, directory / "ca.pem")
    dns = stack.enter_context(DnsServer())
    http = stack.enter_context(HttpTarget())
    https = stack.enter_context(HttpTarget(tls=ca))
    http.route(
        "/status.json", body='{"status": {"indicator": "none", "description": "ok"}, "components": []}'
    )
    api_port = free_port()
    lines = [
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{directory}/failover.db"
listen = "127.0.0.1:{api_port}"
log_level = "warning"

[probes]
resolvers = ["{dns.endpoint}"]
"""
    ]
    counts = {"platforms": 0, "controls": 0, "checks": 0}
    for section, targets in (("platforms", catalog.platforms), ("controls", catalog.controls)):
        for target in targets:
            counts[section] += 1
            family = f'family = "{target.family}"' if section == "platforms" and target.family else ""
            lines.append(f"\n[{section}.{target.name}]\n{family}\n")
            for check in target.checks:
                counts["checks"] += 1
                head = f'[[{section}.{target.name}.checks]]\nname = "{check.name}"\n'
                if isinstance(check, DnsCheck):
                    dns.set(check.qname, "noerror")
                    servers = f'servers = ["{dns.endpoint}"]' if check.via.value == "authoritative" else ""
                    via = "authoritative" if check.via.value == "authoritative" else "resolvers"
                    types = ", ".join(f'"{t}"' for t in check.record_types)
                    body = (
                        f'kind = "dns"\nqname = "{check.qname}"\nvia = "{via}"\n'
                        f"record_types = [{types}]\n{servers}"
                    )
                elif isinstance(check, TcpCheck):
                    body = f'kind = "tcp"\nhost = "127.0.0.1"\nport = {http.port}'
                elif isinstance(check, TlsCheck):
                    body = (
                        f'kind = "tls"\nhost = "127.0.0.1"\nport = {https.port}\n'
                        f'server_name = "localhost"\nca_file = "{ca_file}"'
                    )
                elif isinstance(check, HttpCheck):
                    scheme = "https://localhost" if check.url.startswith("https") else "http://127.0.0.1"
                    port = https.port if check.url.startswith("https") else http.port
                    ca_line = f'ca_file = "{ca_file}"' if check.url.startswith("https") else ""
                    body = f'kind = "http"\nurl = "{scheme}:{port}/"\n{ca_line}'
                elif isinstance(check, StatusCheck):
                    body = (
                        f'kind = "statuspage"\nurl = "http://127.0.0.1:{http.port}/status.json"\n'
                        'format = "statuspage"'
                    )
                else:  # pragma: no cover
                    raise TypeError(check)
                lines.append(head + body + "\n")
    lines.append(
        f"""
[groups.ops]
[[contacts]]
name = "Ops"
groups = ["ops"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org&to=memory@example.org"
[[routes]]
name = "ops"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["ops"]
"""
    )
    path = directory / "failover.toml"
    path.write_text("".join(lines))
    shape = f"{counts['platforms']} platforms, {counts['checks']} checks, {counts['controls']} controls"
    return path, api_port, shape


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def steady_runs(work: Path, sink: SmtpSink, arrivals: Arrivals, seconds: float) -> dict[str, object]:
    out: dict[str, object] = {}
    with contextlib.ExitStack() as stack, processes() as group:
        flaky = stack.enter_context(FlakyTarget(0.10))
        control = stack.enter_context(HttpTarget())
        directory = work / "flaky-failover"
        directory.mkdir()
        config, api_port = failover_config(
            directory,
            target=f"{flaky.url}/",
            control_port=control.port,
            smtp_port=sink.port,
            rcpt="flaky-failover@example.org",
            interval="1s",
        )
        start_failover(group, config, api_port)
        start_prometheus(
            group,
            work / "flaky-prometheus",
            TIGHT,
            probes=[PromProbe("http_2xx", f"{flaky.url}/")],
            smtp_port=sink.port,
            rcpt="flaky-prom@example.org",
        )
        time.sleep(seconds)
        requests = len(flaky.requests)
        status = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/status", timeout=5).json()
        out["flaky_requests"] = requests
        out["flaky_failover_notices"] = arrivals.count("flaky-failover@example.org")
        out["flaky_prometheus_notices"] = arrivals.count("flaky-prom@example.org")
        out["flaky_failover_rounds"] = status["rounds"]
    return out


# ------------------------------------------------------------------------------ report


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    uname = platform.uname()
    return (
        f"{uname.system} {uname.release} {uname.machine}, nproc {os.cpu_count()}, {cpu}, "
        f"Python {platform.python_version()}"
    )


def report(results: Results, scenarios: Sequence[str]) -> None:
    print()
    print("| scenario | pipeline | samples | median s | min s | max s | missed | goal |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for scenario in scenarios:
        names = sorted(
            {name for s, name in (*results.latencies, *results.missed) if s == scenario},
            key=lambda name: (not name.startswith("failover"), name),
        )
        for name in names:
            values = results.latencies.get((scenario, name), [])
            missed = results.missed.get((scenario, name), 0)
            goal = ""
            if name.startswith("failover") and "one HTTP door" not in name and values:
                measure = max(values) if scenario == "http500" else statistics.median(values)
                kind = "max" if scenario == "http500" else "median"
                met = "met" if measure <= GOALS[scenario] and not missed else "missed"
                goal = f"{kind} ≤ {GOALS[scenario]:g} s: {met}"
            if values:
                print(
                    f"| {scenario} | {name} | {len(values)} | {statistics.median(values):.1f} | "
                    f"{min(values):.1f} | {max(values):.1f} | {missed} | {goal} |"
                )
            else:
                print(f"| {scenario} | {name} | 0 | — | — | — | {missed} | {goal} |")
    if results.intervals:
        print()
        for (scenario, name), (ran, due) in results.rounds.items():
            print(
                f"{scenario}: {name} started {ran:.0f} rounds during the outages, {due:.1f} were due at 15 s"
            )
        print("| scenario | healthy platform | measured by | intervals | mean s | max s | mean 15 s ± 10 % |")
        print("|---|---|---|---:|---:|---:|---|")
        for source, table in (("round_judged log", results.intervals), ("gauge", results.metric_intervals)):
            for (scenario, name), values in table.items():
                if not values:
                    print(f"| {scenario} | {name} | {source} | 0 | — | — | |")
                    continue
                mean = statistics.mean(values)
                met = "met" if abs(mean - 15.0) <= 1.5 else "missed"
                cells = f"{len(values)} | {mean:.2f} | {max(values):.2f} | {met}"
                print(f"| {scenario} | {name} | {source} | {cells} |")
    for scenario, counter in results.anomalies.items():
        if counter:
            print(f"\n{scenario}: daemon log events worth a look (all daemons, all runs)")
            for event, count in counter.most_common():
                print(f"  {count:5d}  {event}")


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--runs", type=int, default=6, help="runs per scenario (each up to ~4.5 min)")
    parser.add_argument(
        "--extra-failover",
        type=int,
        default=1,
        help="extra failover daemons per run, each on a world of its own (more samples, same wall time)",
    )
    parser.add_argument("--steady", type=float, default=0.0, help="seconds of the flaky run (0: none)")
    parser.add_argument("--workdir", type=Path, help="keep every configuration and log in this new directory")
    args = parser.parse_args()
    for binary in (PROMETHEUS, BLACKBOX, ALERTMANAGER):
        if not shutil.which(binary):
            raise SystemExit(
                f"{binary} is missing (Debian packages prometheus, "
                "prometheus-blackbox-exporter, prometheus-alertmanager)"
            )
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    began = time.monotonic()
    print(f"machine: {machine()}")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; command: {' '.join(sys.argv)}", flush=True)
    steady: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(SmtpSink())
        if args.workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="failover-bench-")))
        else:
            work = args.workdir
            work.mkdir(parents=True)
        arrivals = Arrivals(sink)
        try:
            results = Results()
            for scenario in scenarios:
                for index in range(args.runs):
                    if scenario == "http500":
                        http500_run(index, work, sink, arrivals, results, args.extra_failover)
                    else:
                        world_run(scenario, index, work, sink, arrivals, results, args.extra_failover)
            if args.steady > 0:
                steady = steady_runs(work, sink, arrivals, args.steady)
        finally:
            arrivals.close()
    report(results, scenarios)
    for key, value in steady.items():
        print(f"{key}: {value}")
    print(f"\nwall time: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
