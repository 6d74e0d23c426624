"""Runs one measuring program with ``src/failover`` of a git commit and of the working tree,
each in a process of its own, alternated: what a "before" and "after" figure share."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def header() -> str:
    machine = f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}"
    return f"{machine}\ndate:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def _measure(program: str, arguments: list[str], source: Path) -> float:
    """The one number ``program`` prints, run with ``failover`` from ``source``."""
    environment = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-c", program, *arguments],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout)


def side_by_side(
    program: str, arguments: list[str], *, before: str | None, runs: int
) -> dict[str, list[float]]:
    """``runs`` measures of the working tree, and of ``before`` (a git commit) first if given."""
    with tempfile.TemporaryDirectory(prefix="failover-side-by-side-") as directory:
        sources = {"after": ROOT / "src"}
        if before:
            tree = Path(directory)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", before, "src"], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            sources = {"before": tree / "src", **sources}
        results: dict[str, list[float]] = {name: [] for name in sources}
        for _ in range(runs):
            for name, source in sources.items():
                results[name].append(_measure(program, arguments, source))
    return results


def main(program: str, *, doc: str | None, unit: str) -> None:
    """The command line of a side-by-side script: ``--before``, how many ``unit``s a run
    measures, how many runs; prints the median µs of CPU per ``unit`` of each tree."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="a git commit to measure side by side with the working tree")
    parser.add_argument("--count", type=int, default=20_000, help=f"{unit}s a run measures")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    print(header())
    results = side_by_side(program, [str(arguments.count)], before=arguments.before, runs=arguments.runs)
    for name, runs in results.items():
        shown = ", ".join(f"{run:.1f}" for run in runs)
        print(f"{name:>6}: {statistics.median(runs):.1f} µs CPU per {unit} (runs: {shown})")
