"""Log redaction as the address book grows: CPU per log line, and the cost of handing the
configuration's secrets to the redactor (at start and at every SIGHUP).

The line is the daemon's busiest: one ``notice_delivery`` event per delivery attempt, passed
through the ``Redactor`` as structlog does (every field), with a delivery error text. The
redactor holds what ``Config.secrets`` holds for N contacts (each an e-mail address, a phone
number, and the ``mailto://`` and ``signal://`` URLs built from them) plus a handful of real
secrets. "before" is ``src/failover/logs.py`` as of ``--before`` (git), "after" the working
tree's; both see the same secrets and the same lines, and the run checks that they redact
every line to text that holds none of those values.

    .venv/bin/python bench/redaction.py --contacts 1000 10000 100000
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

#: the last commit whose logs.py matched every contact's values one regex alternation
BEFORE = "e26b2ca"
REAL_SECRETS = ["hunter2-0123456789", "smtp-password-42", "api-token-0f1e2d3c"]


def load_logs(ref: str | None) -> ModuleType:
    """``failover.logs`` from the working tree (``ref`` None) or from a git commit."""
    if ref is None:
        import failover.logs

        return failover.logs
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:src/failover/logs.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location(f"logs_{ref}", handle.name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Path(handle.name).unlink()
    return module


def secrets_of(contacts: int) -> list[str]:
    """What ``Config.secrets`` holds for ``contacts`` contacts, in a stable order."""
    values = list(REAL_SECRETS)
    domains = ("example.org", "mail.example.fr", "exämple.de", "example.co.uk")
    for index in range(contacts):
        email = f"person.{index}+ops@{domains[index % len(domains)]}"
        phone = f"+33{6 + index % 2}{index:08d}"
        values += [
            email,
            phone,
            f"mailto://127.0.0.1:25?from=failover@example.org&to={email}",
            f"signal://127.0.0.1:8080/+15551234567/{phone}",
        ]
    return values


def event_for(index: int) -> dict[str, Any]:
    """One ``notice_delivery`` line about contact ``index``, as the daemon logs it."""
    return {
        "event": "notice_delivery",
        "notice_id": 1000 + index,
        "contact": f"c-{index:010x}",
        "incident_event": "confirmed",
        "channel": f"contacts[c-{index:010x}].channels[0]",
        "scheme": "mailto",
        "outcome": "failed",
        "attempt": 1,
        "error": (
            f"mailto: temporary failure (SMTP 451 4.3.0 Temporary failure for person.{index}+ops@example.org)"
        ),
        "logger": "failover.notify",
        "level": "info",
        "timestamp": "2026-11-21T07:04:00.123456Z",
    }


def measure(logs: ModuleType, secrets: list[str], contacts: int, budget_s: float) -> tuple[float, float]:
    """(seconds of CPU to add the secrets, µs of CPU per line)."""
    started = time.process_time()
    redactor = logs.Redactor()
    redactor.add_secrets(secrets)
    build = time.process_time() - started
    process: Callable[[Any, str, dict[str, Any]], dict[str, Any]] = redactor
    events = [event_for(index * 7919 % contacts) for index in range(200)]
    for event in events:  # every line comes out clean, or the figure means nothing
        out = repr(process(None, "info", event))
        assert "+ops@" not in out, out
        assert not any(secret in out for secret in REAL_SECRETS), out
    lines = 0
    started = time.process_time()
    while True:
        for event in events:
            process(None, "info", event)
        lines += len(events)
        elapsed = time.process_time() - started
        if elapsed >= budget_s or (lines >= 2000 and elapsed >= budget_s / 10):
            return build, elapsed / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--before", default=BEFORE, help="git commit of the 'before' logs.py")
    parser.add_argument("--budget", type=float, default=5.0, help="CPU seconds per measurement, at most")
    args = parser.parse_args()
    versions = {"before": load_logs(args.before), "after": load_logs(None)}
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.platform()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; before = {args.before}, after = working tree")
    print(f"{'contacts':>9} {'version':>7} {'add secrets (s CPU)':>20} {'µs CPU per line':>16}")
    for contacts in args.contacts:
        secrets = secrets_of(contacts)
        for name, logs in versions.items():
            build, per_line = measure(logs, secrets, contacts, args.budget)
            print(f"{contacts:>9,} {name:>7} {build:>20.2f} {per_line:>16,.1f}", flush=True)


if __name__ == "__main__":
    main()
