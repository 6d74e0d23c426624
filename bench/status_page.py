"""Status page benchmark: build time and page weight for the built-in catalog with a year of
synthetic history, and requests per second from the daemon's status listener.

    .venv/bin/python bench/status_page.py [--days 365] [--builds 30] [--seconds 10] [--connections 32]

Nothing is probed: a temporary SQLite store is filled with a year of hourly rollups for
every check of the built-in catalog (written as raw observations and rolled up, as the
daemon does), a seeded year of incidents and transitions (one every ten days or so per
platform, a few Meta family outages, a few announcements), and the 4 October 2021 outage
going on now. Then:

* cold build: a daemon's first build (the window's rollups read in full), split into the
  store reads and the rendering;
* warm build: the daemon's steady state (rollups read only since the last build), the
  same split; and the rendering alone;
* page weight: each page, the feed, status.json, the whole site;
* serving: the daemon's listener (:class:`StatusPagePublisher` on uvloop, in a child
  process) under a loopback load generator: Debian's ``wrk`` when installed, else a
  keep-alive ``http.client`` loop in two processes; the listener's CPU per request is read
  from its ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import multiprocessing
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
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from failover.config import Config, load_config
from failover.detect import Connectivity, JudgeState
from failover.detect._state import PlatformState
from failover.domain import (
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Observation,
    Outcome,
    Transition,
)
from failover.logs import configure_logging
from failover.service import install_template_cache
from failover.service._status_page import (
    NotifierWording,
    ObservedDays,
    StatusPagePublisher,
    read_snapshot,
    write_site,
)
from failover.status_page import build_site
from failover.store import Store

NOW = datetime(2021, 10, 4, 18, 0, tzinfo=UTC)
OUTAGE = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
META = ("facebook", "messenger", "instagram", "whatsapp")
CONFIG = """
alternatives = {{ fr = ["Courriel : contact@example.org", "Téléphone : 01 23 45 67 89"], \
en = ["E-mail: contact@example.org", "Phone: +33 1 23 45 67 89"] }}

[daemon]
database_url = "sqlite:///{tmp}/failover.db"
listen = "127.0.0.1:{admin}"
timezone = "Europe/Paris"

[status_page]
listen = "127.0.0.1:{port}"
directory = "{tmp}/site"
languages = ["fr", "en"]
title = "Example — our lines"
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------- the year


def fill(store: Store, config: Config, *, days: int) -> dict[str, float]:
    """A year of rollups, incidents and transitions; seconds spent on each part."""
    spent: dict[str, float] = {}
    start = NOW - timedelta(days=days)
    store.record_platforms([*config.platforms, *config.controls], now=start)
    began = time.perf_counter()
    targets = [(p, False) for p in config.platforms] + [(c, True) for c in config.controls]
    batch: list[Observation] = []
    hours = days * 24
    for hour in range(hours):
        at = start + timedelta(hours=hour, minutes=7)
        for target, is_control in targets:
            for check in target.checks:
                batch.append(
                    Observation(
                        target=target.name,
                        check=check.name,
                        kind=check.kind,
                        role=check.role,
                        outcome=Outcome.ok,
                        at=at,
                        latency_s=0.05,
                        is_control=is_control,
                    )
                )
        if len(batch) >= 20_000:
            store.record_observations(batch)
            batch = []
    store.record_observations(batch)
    spent["observations"] = time.perf_counter() - began
    began = time.perf_counter()
    store.prune(now=NOW, keep=timedelta(days=7))
    spent["roll up and prune"] = time.perf_counter() - began

    began = time.perf_counter()
    rng = random.Random(20211004)
    events: list[tuple[IncidentEvent, Incident]] = []
    transitions: list[Transition] = []

    def outage(name: str, platforms: tuple[str, ...], scope: IncidentScope, opened: datetime) -> None:
        kind = IncidentKind.degraded if rng.random() < 0.4 else IncidentKind.unreachable
        length = timedelta(minutes=min(600.0, rng.lognormvariate(3.5, 1.0)))
        resolved = opened + length
        if resolved >= OUTAGE:
            return
        key = f"{scope.value}:{name}:{opened:%Y%m%dT%H%M%SZ}"
        incident = Incident(
            key=key,
            scope=scope,
            kind=kind,
            name=name,
            platforms=platforms,
            opened_at=opened,
            confirmed_at=opened + timedelta(seconds=40),
            resolved_at=resolved,
        )
        events.append((IncidentEvent.confirmed, incident))
        health = Health.degraded if kind is IncidentKind.degraded else Health.down
        for member in platforms:
            transitions.append(
                Transition(platform=member, previous=Health.up, current=health, at=opened, reason="synthetic")
            )
            transitions.append(
                Transition(
                    platform=member, previous=health, current=Health.up, at=resolved, reason="synthetic"
                )
            )

    for p in config.platforms:
        moment = start + timedelta(hours=rng.uniform(0, 240))
        while moment < NOW:
            outage(p.name, (p.name,), IncidentScope.platform, moment)
            moment += timedelta(hours=rng.uniform(48, 480))
    for n in range(4):
        outage("meta", META, IncidentScope.family, start + timedelta(days=days * (n + 0.5) / 4))
    for n in range(6):
        opened = start + timedelta(days=days * (n + 0.3) / 6)
        website = Incident(
            key=f"manual:website:{n}",
            scope=IncidentScope.custom,
            kind=IncidentKind.manual,
            name="website",
            platforms=(),
            opened_at=opened,
            resolved_at=opened + timedelta(hours=1),
            message="Notre site est en maintenance : écrivez-nous par courriel.",
        )
        events.append((IncidentEvent.manual, website))
    family = Incident(
        key="family:meta:20211004T154000Z",
        scope=IncidentScope.family,
        kind=IncidentKind.unreachable,
        name="meta",
        platforms=META,
        opened_at=OUTAGE,
        confirmed_at=OUTAGE + timedelta(minutes=1),
    )
    events.append((IncidentEvent.confirmed, family))
    transitions += [
        Transition(
            platform=m, previous=Health.up, current=Health.down, at=OUTAGE + timedelta(minutes=1), reason="x"
        )
        for m in META
    ]
    # transitions of one platform never overlap in the store's unique key; keep the first
    seen: set[tuple[str, datetime, Health]] = set()
    unique = []
    for change in sorted(transitions, key=lambda t: t.at):
        if (change.platform, change.at, change.current) not in seen:
            seen.add((change.platform, change.at, change.current))
            unique.append(change)
    store.record_decision(at=NOW, transitions=unique, incident_events=events)
    spent["journal"] = time.perf_counter() - began
    spent["incidents"] = len(events)
    spent["transitions"] = len(unique)
    return spent


def judge_state(config: Config) -> JudgeState:
    """The Meta platforms down since the outage's confirmation, the others up."""
    return JudgeState(
        connectivity=Connectivity(ok=True, passing=4, required=2, total=4),
        connectivity_since=NOW - timedelta(days=30),
        platforms={
            p.name: PlatformState(
                health=Health.down if p.name in META else Health.up,
                shown=Health.down if p.name in META else Health.up,
                since=OUTAGE + timedelta(minutes=1) if p.name in META else NOW - timedelta(days=3),
            )
            for p in config.platforms
        },
    )


# ---------------------------------------------------------------------------------- builds


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   (n={len(ordered)})"


def first_build(path: Path) -> None:
    """In a process of its own: the first build after the process started, its imports
    done (as in a daemon, which imports everything before it builds), split in three."""
    config = load_config(path, env={})
    install_template_cache(os.environ)  # as every command and the daemon do
    with Store.open(config.daemon.database_url) as store:
        began = time.perf_counter()
        snapshot = read_snapshot(store, config, now=NOW, state=judge_state(config), observed=ObservedDays())
        middle = time.perf_counter()
        build_site(snapshot, config=config, wording=NotifierWording(config))
        ended = time.perf_counter()
    print(f"{(middle - began) * 1000:.1f} {(ended - middle) * 1000:.1f}")


def first_builds(path: Path, repeat: int = 5) -> None:
    """A daemon's first build, each in a new process: the one a start or a one-off
    ``status-page build`` pays; without a template cache, then with one (the first run
    fills it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "CACHE_DIRECTORY")}
    first_builds_in(path, repeat, env=env, label="first build (no template cache)")
    env["XDG_CACHE_HOME"] = str(path.parent / "cache")
    first_builds_in(path, 1, env=env, label="first build (filling the template cache)")
    first_builds_in(path, repeat, env=env, label="first build (templates from the cache)")


def first_builds_in(path: Path, repeat: int, *, env: dict[str, str], label: str) -> None:
    reads, renders = [], []
    for _ in range(repeat):
        answer = subprocess.run(
            [sys.executable, __file__, "--first-build", str(path)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        read, render = (float(x) for x in answer.stdout.split()[-2:])
        reads.append(read)
        renders.append(render)
    print(f"{label}, each in a new process")
    print(f"             reads   {summary(reads)}")
    print(f"             render  {summary(renders)}")
    print(f"             total   {summary([a + b for a, b in zip(reads, renders, strict=True)])}")


def builds(store: Store, config: Config, *, repeat: int, site_dir: Path) -> None:
    state = judge_state(config)
    wording = NotifierWording(config)

    cold_reads, cold_renders = [], []
    for _ in range(5):
        began = time.perf_counter()
        snapshot = read_snapshot(store, config, now=NOW, state=state, observed=ObservedDays())
        middle = time.perf_counter()
        build_site(snapshot, config=config, wording=NotifierWording(config))
        cold_reads.append((middle - began) * 1000)
        cold_renders.append((time.perf_counter() - middle) * 1000)

    observed = ObservedDays()
    read_snapshot(store, config, now=NOW, state=state, observed=observed)
    warm_reads, warm_renders = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        snapshot = read_snapshot(store, config, now=NOW, state=state, observed=observed)
        middle = time.perf_counter()
        site = build_site(snapshot, config=config, wording=wording)
        warm_reads.append((middle - began) * 1000)
        warm_renders.append((time.perf_counter() - middle) * 1000)
    writes = timed(lambda: write_site(site, site_dir), 1)
    unchanged = timed(lambda: write_site(site, site_dir), repeat)

    print(f"cold build   reads   {summary(cold_reads)}")
    print(f"             render  {summary(cold_renders)}")
    print(f"             total   {summary([a + b for a, b in zip(cold_reads, cold_renders, strict=True)])}")
    print(f"warm build   reads   {summary(warm_reads)}")
    print(f"             render  {summary(warm_renders)}")
    print(f"             total   {summary([a + b for a, b in zip(warm_reads, warm_renders, strict=True)])}")
    print(
        f"write dir    first   {writes[0]:6.1f} ms ({len(site.files)} files); unchanged {summary(unchanged)}"
    )
    print()
    incidents = len(snapshot.incidents)
    print(
        f"snapshot: {len(config.platforms)} platforms, {incidents} incidents in the window, "
        f"{len(snapshot.transitions)} transitions"
    )
    for path in ("index.fr.html", "index.en.html", "feed.fr.atom", "status.json", "badges/whatsapp.svg"):
        content = site[path].content
        packed = len(gzip.compress(content, 9))
        print(f"  {path:22} {len(content) / 1024:6.1f} KiB   gzip -9 {packed / 1024:5.1f} KiB")
    print(f"  {'whole site':22} {site.size / 1024:6.1f} KiB in {len(site.files)} files")


# ---------------------------------------------------------------------------------- serving


def serve(config_path: Path) -> None:
    """The child: the daemon's publisher and listener on uvloop, until SIGTERM."""
    from failover.service import run_async

    config = load_config(config_path, env={})
    configure_logging(level="warning")

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        with Store.open(config.daemon.database_url) as store:
            publisher = StatusPagePublisher(
                config=lambda: config, store=store, state=lambda: judge_state(config), clock=lambda: NOW
            )
            async with publisher:
                print("ready", flush=True)
                await stop.wait()

    run_async(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client_loop(port: int, path: str, seconds: float, queue: multiprocessing.Queue[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("GET", path, headers={"Accept-Language": "fr-FR,fr"})
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            done += 1
    connection.close()
    queue.put(done)


def load(port: int, path: str, *, seconds: float, connections: int) -> tuple[float, str]:
    """Requests per second on ``path``, and the tool used."""
    wrk = shutil.which("wrk")
    url = f"http://127.0.0.1:{port}{path}"
    if wrk is not None:
        out = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "-H", "Accept-Language: fr-FR,fr", url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if errors:
            raise SystemExit(f"{errors[1]} failed responses on {path}:\n{out}")
        assert match, out
        return float(match[1]), f"wrk -t1 -c{connections}"
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_client_loop, args=(port, path, seconds, queue)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    total = sum(queue.get(timeout=seconds + 30) for _ in workers)
    for worker in workers:
        worker.join(timeout=10)
    return total / seconds, "http.client keep-alive, 2 processes"


def serving(config_path: Path, port: int, *, seconds: float, connections: int) -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(config_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:  # the child's log lines come first
            if line.strip() == "ready":
                break
        else:
            raise SystemExit("the listener did not start")
        for path in ("/", "/status.json", "/badges/whatsapp.svg"):
            load(port, path, seconds=1, connections=connections)  # warm-up, not counted
            before = cpu_seconds(child.pid)
            rate, tool = load(port, path, seconds=seconds, connections=connections)
            cpu = cpu_seconds(child.pid) - before
            per_request = cpu / (rate * seconds) * 1e6
            print(
                f"GET {path:22} {rate:8.0f} requests/s   listener CPU {per_request:5.0f} µs/request"
                f"   ({tool}, {seconds:g} s)"
            )
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--builds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first-build", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve is not None:
        serve(options.serve)
        return
    if options.first_build is not None:
        first_build(options.first_build)
        return
    print(
        f"machine: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="failover-bench-status-") as tmp:
        port = free_port()
        path = Path(tmp) / "failover.toml"
        path.write_text(CONFIG.format(tmp=tmp, port=port, admin=free_port()))
        config = load_config(path, env={})
        with Store.open(config.daemon.database_url) as store:
            store.upgrade()
            spent = fill(store, config, days=options.days)
            print(
                f"store: {options.days} days, {int(spent['incidents'])} incidents, "
                f"{int(spent['transitions'])} transitions; filled in {spent['observations']:.0f} s + "
                f"{spent['roll up and prune']:.0f} s "
                f"(rollups) + {spent['journal']:.1f} s (journal); "
                f"{Path(tmp, 'failover.db').stat().st_size / 2**20:.0f} MiB"
            )
            builds(store, config, repeat=options.builds, site_dir=Path(tmp) / "site")
        first_builds(path)
        print()
        serving(path, port, seconds=options.seconds, connections=options.connections)


if __name__ == "__main__":
    main()
