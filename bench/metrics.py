"""Cost of metrics on the probe path: CPU per ``Metrics.observe`` and per probe with and without.

    .venv/bin/python bench/metrics.py [--calls 200000] [--targets 50 --rounds 20]

1. ``Metrics.observe`` alone, on synthetic observations for the built-in catalog (every
   check of every platform and control, one failure in 50, HTTP phases and certificate
   days where a real probe would report them), after ``init_platforms``: CPU µs per call,
   and CPU per ``render`` of the resulting registry (one Prometheus scrape) with its size.
2. The probe path: ``Prober.probe_platforms`` against loopback HTTP targets served by a
   child process (bench/probes.py's), rounds alternating without and with
   ``Metrics.observe_all`` on the round's observations, so that both see the same machine
   state; the metrics' own share is also timed inside the rounds that run it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from prometheus_client import CollectorRegistry

from failover.config import load_config
from failover.domain import CheckKind, HttpCheck, Observation, Outcome, Platform, TlsCheck
from failover.metrics import Metrics, render
from failover.probes import Prober
from probes import LOOPBACK, machine, start_targets

FAILURES = {
    CheckKind.dns: Outcome.dns_servfail,
    CheckKind.tcp: Outcome.tcp_timeout,
    CheckKind.tls: Outcome.tls_timeout,
    CheckKind.http: Outcome.http_timeout,
    CheckKind.statuspage: Outcome.status_unreachable,
}


def catalog() -> tuple[Platform, ...]:
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as cwd:
        config = load_config(None, env={}, cwd=Path(cwd))
    return config.platforms + config.controls


def synthetic_rounds(platforms: tuple[Platform, ...], rounds: int) -> list[Observation]:
    """``rounds`` rounds of one observation per check, as the prober would report them."""
    randomness = random.Random(2021_10_04)
    start = datetime(2021, 10, 4, 15, 0, tzinfo=UTC)
    observations = []
    for index in range(rounds):
        at = start + timedelta(seconds=30 * index)
        for platform in platforms:
            for check in platform.checks:
                failed = randomness.random() < 0.02
                latency = randomness.uniform(0.02, 0.4)
                phases: dict[str, float] = {}
                cert_days: float | None = None
                tls = isinstance(check, TlsCheck) or (
                    isinstance(check, HttpCheck) and check.url.startswith("https:")
                )
                if not failed and check.kind in {CheckKind.tcp, CheckKind.tls, CheckKind.http}:
                    phases["connect"] = latency * 0.2
                    if tls:
                        phases["tls"] = latency * 0.3
                        cert_days = 40.0
                    if check.kind is CheckKind.http:
                        phases["first_byte"] = latency * 0.4
                    phases["total"] = latency
                observations.append(
                    Observation(
                        target=platform.name,
                        check=check.name,
                        kind=check.kind,
                        role=check.role,
                        outcome=FAILURES[check.kind] if failed else Outcome.ok,
                        at=at,
                        latency_s=check.timeout_s if failed else latency,
                        detail="no result within 3s" if failed else "",
                        phases=phases,
                        cert_days_left=cert_days,
                        is_control=platform.is_control,
                    )
                )
    return observations


@dataclass
class ObserveResult:
    calls: int
    cpu_s: float
    checks: int
    render_us: float
    render_bytes: int
    samples: int

    @property
    def us_per_call(self) -> float:
        return self.cpu_s / self.calls * 1e6


def bench_observe(calls: int) -> ObserveResult:
    platforms = catalog()
    checks = sum(len(platform.checks) for platform in platforms)
    observations = synthetic_rounds(platforms, max(1, calls // checks))
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.init_platforms(platforms)
    for observation in observations[:checks]:  # warm-up: children resolved, caches filled
        metrics.observe(observation)
    observe = metrics.observe
    before = time.process_time()
    for observation in observations:
        observe(observation)
    cpu_s = time.process_time() - before

    scrapes = 200
    before = time.process_time()
    for _ in range(scrapes):
        text = render(registry)
    render_us = (time.process_time() - before) / scrapes * 1e6
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    return ObserveResult(len(observations), cpu_s, checks, render_us, len(text), samples)


@dataclass
class ProbeResult:
    probes: int
    cpu_without_s: float
    cpu_with_s: float
    cpu_metrics_s: float
    failures: int

    def per_probe_us(self, cpu_s: float) -> float:
        return cpu_s / self.probes * 1e6


async def bench_probe_path(ports: list[int], rounds: int) -> ProbeResult:
    platforms = [
        Platform(
            name=f"t{port}",
            display_name=f"target {port}",
            family=None,
            checks=(HttpCheck(name="http", url=f"http://{LOOPBACK}:{port}/"),),
        )
        for port in ports
    ]
    metrics = Metrics(CollectorRegistry())
    metrics.init_platforms(platforms)
    cpu_without = cpu_with = cpu_metrics = 0.0
    failures = 0
    async with Prober(
        user_agent="failover-bench/0.1", concurrency=len(ports), clock=lambda: datetime.now(UTC)
    ) as prober:
        metrics.observe_all(await prober.probe_platforms(platforms))  # warm-up
        for _ in range(rounds):
            before = time.process_time()
            observations = await prober.probe_platforms(platforms)
            cpu_without += time.process_time() - before
            failures += sum(not observation.ok for observation in observations)

            before = time.process_time()
            observations = await prober.probe_platforms(platforms)
            between = time.process_time()
            metrics.observe_all(observations)
            after = time.process_time()
            cpu_with += after - before
            cpu_metrics += after - between
            failures += sum(not observation.ok for observation in observations)
    return ProbeResult(len(ports) * rounds, cpu_without, cpu_with, cpu_metrics, failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if not 1_000 <= args.calls <= 2_000_000 or not 1 <= args.targets <= 500 or not 1 <= args.rounds <= 200:
        parser.error("keep it bounded: 1000 ≤ calls ≤ 2e6, 1 ≤ targets ≤ 500, 1 ≤ rounds ≤ 200")

    started = time.perf_counter()
    observed = bench_observe(args.calls)
    child, ports = start_targets(args.targets)
    try:
        probed = asyncio.run(bench_probe_path(ports, args.rounds))
    finally:
        child.terminate()
        child.wait(timeout=10)

    print(f"machine: {machine()}, prometheus_client {version('prometheus-client')}")
    print(
        f"command: .venv/bin/python bench/metrics.py --calls {args.calls} "
        f"--targets {args.targets} --rounds {args.rounds}"
    )
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({time.perf_counter() - started:.0f} s)")
    print()
    print(f"catalog: {observed.checks} checks per round")
    print("| measure | calls | CPU µs/call |")
    print("|---|---:|---:|")
    print(f"| `Metrics.observe` (catalog mix) | {observed.calls} | {observed.us_per_call:.2f} |")
    print(
        f"| `render` (one scrape: {observed.samples} samples, {observed.render_bytes / 1024:.0f} KiB) "
        f"| 200 | {observed.render_us:.0f} |"
    )
    print()
    print("| probe path (HTTP, fresh connection) | probes | CPU µs/probe | failures |")
    print("|---|---:|---:|---:|")
    without, with_ = probed.per_probe_us(probed.cpu_without_s), probed.per_probe_us(probed.cpu_with_s)
    print(f"| without metrics | {probed.probes} | {without:.0f} | {probed.failures} |")
    print(f"| with `observe_all` | {probed.probes} | {with_:.0f} | |")
    print(f"| of which `observe_all` | {probed.probes} | {probed.per_probe_us(probed.cpu_metrics_s):.1f} | |")


if __name__ == "__main__":
    main()
