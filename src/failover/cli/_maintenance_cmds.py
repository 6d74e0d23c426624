"""``failover maintenance``: the recurring maintenance windows and when they occur."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from failover.cli._main import config_option, load_configuration, main
from failover.config import WEEKDAYS
from failover.service import Occurrence, WindowSchedule, maintenance_schedule, utc_now


def _occurrence(occurrence: Occurrence | None) -> dict[str, str] | None:
    if occurrence is None:
        return None
    return {"start": occurrence.start.isoformat(), "end": occurrence.end.isoformat()}


def _as_json(entry: WindowSchedule) -> dict[str, Any]:
    window = entry.window
    return {
        "name": window.name,
        "platforms": list(window.platforms),
        "days": [WEEKDAYS[day] for day in sorted(window.days)],
        "start": window.start.strftime("%H:%M"),
        "duration_s": window.duration.total_seconds(),
        "timezone": window.timezone,
        "active": entry.current is not None,
        "current": _occurrence(entry.current),
        "next": _occurrence(entry.next),
    }


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@config_option
def maintenance(as_json: bool, config_path: Path | None) -> None:
    """List the recurring maintenance windows ([[maintenance]]), whether each is in force,
    and its next occurrence (times in UTC)."""
    config = load_configuration(config_path, contacts=False)
    schedule = maintenance_schedule(config, now=utc_now())
    if as_json:
        click.echo(json.dumps([_as_json(entry) for entry in schedule], indent=2, ensure_ascii=False))
        return
    for entry in schedule:
        window = entry.window
        days = "daily" if len(window.days) == 7 else ",".join(WEEKDAYS[d] for d in sorted(window.days))
        state = f"in force until {entry.current.end:%Y-%m-%d %H:%M} UTC" if entry.current else "not in force"
        upcoming = f"next {entry.next.start:%Y-%m-%d %H:%M} UTC" if entry.next else "no next occurrence"
        click.echo(
            f"{window.name}  {','.join(window.platforms)}  {days} {window.start:%H:%M} {window.timezone}"
            f" for {window.duration}  {state}; {upcoming}"
        )
    if not schedule:
        click.echo("no maintenance window configured")
