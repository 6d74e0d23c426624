"""Resident memory of ``failover run`` at steady state, with as many platforms, checks and
controls as the built-in catalog, every target on 127.0.0.1.

The database is migrated first with ``failover db upgrade`` (the systemd unit's
``ExecStartPre``), so the daemon starts on a current schema, as it does on every start
after the first. The daemon runs for ``--seconds`` with nothing to report (``VmRSS``
sampled every 5 s; the last and the highest sample are reported), then a manual failover
(``failover trigger``, no hold) has it mail its one contact, and once the mail has reached
the SMTP sink it is sampled for ``--seconds`` more: the first notice imports apprise and
starts a sender thread, which stay for the life of the process.

    .venv/bin/python bench/memory.py --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kit import SmtpSink

from detection import FAILOVER, catalog_like_config, rss_kib, wait_http


def sample(pid: int, seconds: float) -> tuple[float, float]:
    """RSS (last, max) in MiB, sampled every 5 s for ``seconds``."""
    samples: list[int] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(5)
        samples.append(rss_kib(pid))
    return samples[-1] / 1024, max(samples) / 1024


def measure(config: Path, api_port: int, sink: SmtpSink, seconds: float) -> dict[str, tuple[float, float]]:
    """RSS (last, max) in MiB of ``failover run``, idle and then after its first notice."""
    upgrade = [FAILOVER, "db", "upgrade", "--config", str(config)]
    subprocess.run(upgrade, check=True, capture_output=True, cwd=config.parent)
    log = (config.parent / "daemon.log").open("wb")
    run = [FAILOVER, "run", "--config", str(config)]
    process = subprocess.Popen(run, cwd=config.parent, stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{api_port}/readyz")
        results = {"watching, nothing to report": sample(process.pid, seconds)}
        trigger = [FAILOVER, "trigger", "whatsapp", "--message", "memory", "--group", "ops", "--yes"]
        trigger += ["--config", str(config)]
        subprocess.run(trigger, check=True, capture_output=True, cwd=config.parent)
        sink.wait_for(1, timeout=30)
        results["after its first notice (e-mail)"] = sample(process.pid, seconds)
        return results
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each phase is sampled")
    args = parser.parse_args()
    print(f"machine: nproc {os.cpu_count()}, Python {platform.python_version()}")
    with (
        tempfile.TemporaryDirectory(prefix="failover-memory-") as work,
        SmtpSink() as sink,
        contextlib.ExitStack() as stack,
    ):
        config, api_port, shape = catalog_like_config(Path(work), sink.port, stack)
        results = measure(config, api_port, sink, args.seconds)
    print(f"shape: {shape}")
    print("| phase | seconds | RSS last (MiB) | RSS max (MiB) | RSS last (MB) |")
    print("|---|---:|---:|---:|---:|")
    for phase, (last, peak) in results.items():
        print(f"| {phase} | {args.seconds:.0f} | {last:.1f} | {peak:.1f} | {last * 1.048576:.1f} |")


if __name__ == "__main__":
    main()
