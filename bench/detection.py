"""Detection benchmark: time from a target going dark to the first notice at the SMTP sink.

Side by side, watching the same loopback HTTP target:

* failover (``failover run`` as a subprocess) at its default settings: interval 15 s,
  re-probes at +2 s and +5 s, recovery after 3 rounds; one HTTP check, three TCP controls;
* Prometheus + blackbox_exporter + Alertmanager at their documented defaults (scrape 1m,
  evaluation 1m, group_wait 30s; rule ``probe_success == 0`` with the default ``for: 0s``),
* the same pipeline at tight settings (scrape 5s, evaluation 5s, group_wait 0s, group_interval 5s).

Alertmanager mails the same SMTP sink (``email_configs``, ``smarthost: 127.0.0.1:PORT``,
``require_tls: false``). Every process runs on 127.0.0.1 with temporary data directories
and is started afresh for each run; the target goes dark (connections reset) at a random
moment 5 to 65 s after start, so the phase of every schedule is random. Extra failover daemons
watch their own targets, going dark at their own random moments, in the same runs.

Then a steady-state run, side by side (``--steady`` seconds): a flaky target failing 10 % of
requests at random, watched by failover (interval 1 s so that many rounds happen; every
other setting default) and by the tight Prometheus pipeline: the false notices of each are
counted. (Resident memory is measured alone by ``bench/memory.py``, on the configuration
:func:`catalog_like_config` writes.)

    .venv/bin/python bench/detection.py               # 3 runs, about 9 minutes
    .venv/bin/python bench/detection.py --runs 1 --steady 60

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kit import DnsServer, Fault, HttpTarget, Request, Response, SmtpSink, free_port, write_ca_file

from failover.config import parse_config
from failover.domain import DnsCheck, HttpCheck, StatusCheck, TcpCheck, TlsCheck

PROMETHEUS = "/usr/bin/prometheus"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
FAILOVER = str(Path(sys.executable).with_name("failover"))
#: a run gives up on a pipeline after this long (the default Prometheus pipeline needs < 2.5 min)
RUN_LIMIT_S = 200.0


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
    """Watches the sink and stamps the first time each recipient's count grows."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink
        self._seen = 0
        self.times: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            messages = self._sink.messages
            for message in messages[self._seen :]:
                for rcpt in message.rcpt_tos:
                    self.times.setdefault(rcpt, []).append(time.monotonic())
            self._seen = len(messages)
            time.sleep(0.01)

    def first_after(self, rcpt: str, moment: float) -> float | None:
        return next((t for t in self.times.get(rcpt, []) if t >= moment), None)

    def count(self, rcpt: str) -> int:
        return len(self.times.get(rcpt, []))

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


# ------------------------------------------------------------------------------ failover


def failover_config(
    directory: Path, *, target: str, control_port: int, smtp_port: int, rcpt: str, interval: str | None
) -> tuple[Path, int]:
    api_port = free_port()
    interval_line = f'interval = "{interval}"' if interval else ""
    controls = "".join(
        f"""
[controls.control-{n}]
{interval_line}
[[controls.control-{n}.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {control_port}
"""
        for n in range(3)
    )
    path = directory / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{directory}/failover.db"
listen = "127.0.0.1:{api_port}"
log_level = "warning"

[platforms.target]
{interval_line}
[[platforms.target.checks]]
kind = "http"
name = "front-door"
url = "{target}"
{controls}
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
    )
    return path, api_port


def start_failover(group: Processes, config: Path, api_port: int) -> subprocess.Popen[bytes]:
    process = group.start(
        [FAILOVER, "run", "--config", str(config)], config.parent / "failover.log", cwd=config.parent
    )
    wait_http(f"http://127.0.0.1:{api_port}/readyz")
    return process


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


def start_prometheus(
    group: Processes, directory: Path, settings: PromSettings, *, target: str, smtp_port: int, rcpt: str
) -> None:
    directory.mkdir(parents=True)
    bb_port, prom_port, am_port = free_port(), free_port(), free_port()
    (directory / "blackbox.yml").write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "    http:\n      preferred_ip_protocol: ip4\n"
    )
    (directory / "rules.yml").write_text(
        "groups:\n- name: bench\n  rules:\n  - alert: TargetDown\n    expr: probe_success == 0\n"
        "    labels:\n      platform: target\n    annotations:\n      summary: the target is down\n"
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
- job_name: blackbox
  metrics_path: /probe
  params:
    module: [http_2xx]
  static_configs:
  - targets: ["{target}"]
  relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
  - source_labels: [__param_target]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:{bb_port}
"""
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
    latencies: dict[str, list[float]] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: float | None) -> None:
        if value is None:
            self.missed[name] = self.missed.get(name, 0) + 1
        else:
            self.latencies.setdefault(name, []).append(value)


def detection_run(  # noqa: PLR0917 - a script's helper, called once
    index: int, work: Path, sink: SmtpSink, arrivals: Arrivals, results: Results, extra: int
) -> None:
    rng = random.Random()
    run_dir = work / f"run-{index}"
    run_dir.mkdir()
    with contextlib.ExitStack() as stack, processes() as group:
        control = stack.enter_context(HttpTarget())
        shared = stack.enter_context(HttpTarget())
        watchers: list[tuple[str, str, HttpTarget]] = []  # (pipeline, rcpt, target)
        # failover on the shared target, plus extra daemons on their own targets
        for n in range(1 + extra):
            target = shared if n == 0 else stack.enter_context(HttpTarget())
            directory = run_dir / f"failover-{n}"
            directory.mkdir()
            rcpt = f"failover-{index}-{n}@example.org"
            config, api_port = failover_config(
                directory,
                target=f"{target.url}/",
                control_port=control.port,
                smtp_port=sink.port,
                rcpt=rcpt,
                interval=None,
            )
            start_failover(group, config, api_port)
            watchers.append(("failover (defaults)", rcpt, target))
        for settings, label in ((DEFAULTS, "default"), (TIGHT, "tight")):
            rcpt = f"prometheus-{label}-{index}@example.org"
            start_prometheus(
                group, run_dir / label, settings, target=f"{shared.url}/", smtp_port=sink.port, rcpt=rcpt
            )
            watchers.append((settings.name, rcpt, shared))
        started = time.monotonic()
        dark_at: dict[int, float] = {}
        for target in {id(t): t for _, _, t in watchers}.values():
            dark_at[id(target)] = started + rng.uniform(5.0, 65.0)
        pending = {id(t): t for _, _, t in watchers}
        deadline = started + 65.0 + RUN_LIMIT_S
        while time.monotonic() < deadline:
            now = time.monotonic()
            for key, target in list(pending.items()):
                if now >= dark_at[key]:
                    target.set("reset")
                    dark_at[key] = time.monotonic()
                    del pending[key]
            if not pending and all(arrivals.first_after(rcpt, dark_at[id(t)]) for _, rcpt, t in watchers):
                break
            time.sleep(0.05)
        for name, rcpt, target in watchers:
            first = arrivals.first_after(rcpt, dark_at[id(target)])
            results.add(name, None if first is None else first - dark_at[id(target)])
            early = arrivals.count(rcpt) - (1 if first is not None else 0)
            if early:
                print(f"  run {index}: {name} sent {early} notice(s) before or besides the outage")
        line = ", ".join(
            f"{name}: {(arrivals.first_after(rcpt, dark_at[id(t)]) or float('nan')) - dark_at[id(t)]:.1f} s"
            for name, rcpt, t in watchers
        )
        print(f"run {index}: {line}", flush=True)


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
                    ca = f'ca_file = "{ca_file}"' if check.url.startswith("https") else ""
                    body = f'kind = "http"\nurl = "{scheme}:{port}/"\n{ca}'
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
            target=f"{flaky.url}/",
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


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="side-by-side runs (each ~2 min)")
    parser.add_argument("--extra-failover", type=int, default=3, help="extra failover daemons per run")
    parser.add_argument("--steady", type=float, default=90.0, help="seconds of the flaky run")
    args = parser.parse_args()
    for binary in (PROMETHEUS, BLACKBOX, ALERTMANAGER):
        if not shutil.which(binary):
            raise SystemExit(
                f"{binary} is missing (Debian packages prometheus, "
                "prometheus-blackbox-exporter, prometheus-alertmanager)"
            )
    began = time.monotonic()
    print(f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as name, SmtpSink() as sink:
        work = Path(name)
        arrivals = Arrivals(sink)
        try:
            results = Results()
            for index in range(args.runs):
                detection_run(index, work, sink, arrivals, results, args.extra_failover)
            steady = steady_runs(work, sink, arrivals, args.steady)
        finally:
            arrivals.close()
    print()
    print("| pipeline | runs | median s | min s | max s | missed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("failover (defaults)", DEFAULTS.name, TIGHT.name):
        values = results.latencies.get(name, [])
        missed = results.missed.get(name, 0)
        if values:
            print(
                f"| {name} | {len(values)} | {statistics.median(values):.1f} | {min(values):.1f} | "
                f"{max(values):.1f} | {missed} |"
            )
        else:
            print(f"| {name} | 0 | — | — | — | {missed} |")
    print()
    for key, value in steady.items():
        print(f"{key}: {value}")
    print(f"\nwall time: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
