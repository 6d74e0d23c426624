"""Contacts at scale: what an address book of N contacts costs each command and the daemon.

For each size (default 1,000, 10,000, 50,000 and 100,000), in a directory of its own with
a configuration whose platform, SMTP server and API are all on 127.0.0.1:

* ``contacts import`` of a CSV of N contacts as failover's own columns (an e-mail address
  each, a French mobile number for one in two, no language or time zone for one in
  three, which then get the configuration's);
* ``config validate``, ``status`` and ``trigger --dry-run`` (the preview of telling
  everyone), each a new process: wall time and peak RSS (the kernel's ``ru_maxrss`` of
  the child);
* ``failover run``: seconds from the process's start until ``/readyz`` answers 200,
  then RSS while it watches (sampled every second for ``--watch`` seconds; last and peak);
* an e-mail fan-out through the running daemon: ``trigger --yes`` (no hold) to everyone,
  rate limits raised, to an SMTP sink in a process of its own that counts messages; the
  notices per second from the trigger until the sink holds N messages, the daemon's CPU
  per notice (``/proc/<pid>/stat``), and its peak RSS meanwhile.

Each step is bounded: a command gets ``--timeout`` seconds, the fan-out is followed for
``--fanout-seconds`` (its rate is what reached the sink by then); what does not finish in
time is reported as such.

    .venv/bin/python bench/contacts.py [--sizes 1000 10000 50000 100000] [--watch 10]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import _machine, _Sink

FAILOVER = str(Path(sys.executable).with_name("failover"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONFIG = """\
contacts_file = "contacts.toml"

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{work}/failover.db"
listen = "127.0.0.1:{api}"
timezone = "Europe/Paris"

[probes]
resolvers = ["127.0.0.1:{dns}"]

[detection]
control_quorum = 0

[notify]
smtp_url = "mailto://127.0.0.1:{smtp}?from=failover@example.org"
concurrency = {concurrency}
rate_per_minute = {{ mailto = 10000000, mailtos = 10000000 }}

[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {target}

[groups.customers]

[[routes]]
name = "customers"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["customers"]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_book(path: Path, size: int) -> None:
    """N contacts as failover's CSV columns, as ``contacts export`` writes them."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "name", "language", "timezone", "groups", "email", "phone"])
        for i in range(size):
            defaults = i % 3 == 0
            writer.writerow(
                [
                    f"c{i:06d}",
                    f"Contact {i:06d}",
                    "" if defaults else ("fr" if i % 2 else "en"),
                    "" if defaults else "Europe/Paris",
                    "customers",
                    f"contact.{i:06d}+failover@example.org",
                    f"06 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 00" if i % 2 else "",
                ]
            )


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    code: int | None  # None: killed at the timeout


def run_command(args: list[str], *, cwd: Path, timeout: float) -> Run:
    """A failover command in a new process: wall time, the child's peak RSS, its exit code."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [FAILOVER, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            elapsed = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            return Run(elapsed, usage.ru_maxrss / 1024, process.returncode)
        if time.perf_counter() > deadline:
            process.kill()
            _pid, _status, usage = os.wait4(process.pid, 0)
            process.returncode = -9
            return Run(timeout, usage.ru_maxrss / 1024, None)
        time.sleep(0.02)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextlib.contextmanager
def listening() -> Iterator[int]:
    """A TCP port that accepts: the watched platform is up."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


@contextlib.contextmanager
def daemon(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (config.parent / "daemon.log").open("wb")
    process = subprocess.Popen(
        [FAILOVER, "run", "-c", str(config)], cwd=config.parent, stdout=log, stderr=log
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def until(condition: object, *, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until ``condition()`` holds, None past ``timeout``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.perf_counter() - started
        time.sleep(step)
    return None


def ready(api: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{api}/readyz", timeout=2).status_code == 200
    return False


def measure(
    size: int, *, work: Path, watch: float, timeout: float, fanout_seconds: float, concurrency: int = 32
) -> dict[str, object]:
    result: dict[str, object] = {"contacts": size}
    api, smtp = free_port(), free_port()
    sink = _Sink(smtp)
    try:
        with listening() as target:
            config = work / "failover.toml"
            config.write_text(
                CONFIG.format(
                    work=work, api=api, smtp=smtp, dns=free_port(), target=target, concurrency=concurrency
                )
            )
            write_book(work / "book.csv", size)
            with_config = ["-c", str(config)]
            imported = run_command(
                ["contacts", "import", str(work / "book.csv"), "--region", "FR", *with_config],
                cwd=work,
                timeout=timeout,
            )
            result["import"] = imported
            result["config validate"] = run_command(
                ["config", "validate", str(config)], cwd=work, timeout=timeout
            )
            run_command(["db", "upgrade", *with_config], cwd=work, timeout=timeout)
            result["status"] = run_command(["status", *with_config], cwd=work, timeout=timeout)
            preview = [
                "trigger",
                "whatsapp",
                "--message",
                "Écrivez-nous par e-mail.",
                "--dry-run",
                *with_config,
            ]
            result["trigger --dry-run"] = run_command(preview, cwd=work, timeout=timeout)
            with daemon(config) as process:
                started = time.perf_counter()
                waited = until(lambda: process.poll() is not None or ready(api), timeout=timeout)
                if waited is None or process.poll() is not None:
                    result["ready"] = None
                    return result
                result["ready"] = time.perf_counter() - started
                samples = []
                for _ in range(max(1, int(watch))):
                    time.sleep(1)
                    samples.append(rss_mib(process.pid))
                result["watching"] = (samples[-1], max(samples), peak_mib(process.pid))
                cpu_before = cpu_seconds(process.pid)
                began = time.perf_counter()
                trigger = [
                    "trigger",
                    "whatsapp",
                    "--message",
                    "Écrivez-nous par e-mail.",
                    "--yes",
                    *with_config,
                ]
                sent = subprocess.run(
                    [FAILOVER, *trigger],
                    check=False,
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                )
                if sent.returncode != 0:
                    raise SystemExit(f"trigger failed ({sent.returncode}): {sent.stderr[-2000:]}")
                expected = size
                cap = fanout_seconds
                got = until(lambda: sink.ask("count")[0] >= expected, timeout=cap, step=0.25)
                elapsed = time.perf_counter() - began
                messages = sink.ask("count")[0]
                result["fan-out"] = {
                    "messages": messages,
                    "finished": got is not None,
                    "seconds": elapsed,
                    "per_second": messages / elapsed,
                    "cpu_ms_per_notice": (cpu_seconds(process.pid) - cpu_before) * 1000 / max(1, messages),
                    "peak_mib": peak_mib(process.pid),
                }
    finally:
        sink.stop()
    return result


def cell(run: object) -> str:
    if not isinstance(run, Run):
        return "—"
    if run.code is None:
        return f"> {run.seconds:.0f} s (stopped)"
    failed = "" if run.code in (0, 1, 2) else f", exit {run.code}"
    return f"{run.seconds:.2f} s / {run.peak_mib:.0f} MiB{failed}"


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| contacts | import | config validate | status | trigger --dry-run | daemon ready | RSS watching "
        "(last / peak) | fan-out by e-mail | CPU per notice | daemon peak RSS |",
        "|---:|---|---|---|---|---:|---|---|---:|---:|",
    ]
    for row in results:
        ready_s = row.get("ready")
        watching = row.get("watching")
        fanout = row.get("fan-out")
        lines.append(
            (
                "| {contacts:,} | {imp} | {val} | {status} | {preview} | {ready} | {watch} | {fan} | {cpu} "
                "| {peak} |"
            ).format(
                contacts=row["contacts"],
                imp=cell(row.get("import")),
                val=cell(row.get("config validate")),
                status=cell(row.get("status")),
                preview=cell(row.get("trigger --dry-run")),
                ready="—" if ready_s is None else f"{ready_s:.1f} s",
                watch="—"
                if not isinstance(watching, tuple)
                else f"{watching[0]:.0f} / {watching[2]:.0f} MiB",
                fan="—"
                if not isinstance(fanout, dict)
                else f"{fanout['messages']:,} in {fanout['seconds']:.0f} s: {fanout['per_second']:.0f}/s"
                + ("" if fanout["finished"] else " (unfinished)"),
                cpu="—" if not isinstance(fanout, dict) else f"{fanout['cpu_ms_per_notice']:.2f} ms",
                peak="—" if not isinstance(fanout, dict) else f"{fanout['peak_mib']:.0f} MiB",
            )
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000, 100_000])
    parser.add_argument("--watch", type=float, default=10.0, help="seconds the idle daemon's RSS is sampled")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds any one command may take")
    parser.add_argument(
        "--fanout-seconds",
        type=float,
        default=180.0,
        help="how long the fan-out is followed (its rate is what was delivered by then)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="the daemon's [notify] concurrency (sends in flight)"
    )
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    args = parser.parse_args()
    print(f"machine: {_machine()}, {platform.system()} {platform.release()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"failover-contacts-{size}-") as work:
            results.append(
                measure(
                    size,
                    work=Path(work),
                    watch=args.watch,
                    timeout=args.timeout,
                    fanout_seconds=args.fanout_seconds,
                    concurrency=args.concurrency,
                )
            )
        print(table(results[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(results))
    if args.json:
        print(json.dumps(results, default=lambda o: o.__dict__, indent=1))


if __name__ == "__main__":
    main()
