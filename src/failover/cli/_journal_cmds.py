"""``failover status``, ``failover incidents`` (the journal) and ``failover db``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from failover.cli._check_cmds import exit_unknown, summary_line
from failover.cli._main import (
    PluginState,
    config_option,
    fail,
    load_configuration,
    main,
    plugin_state,
    read_configuration,
)
from failover.config import parse_duration
from failover.domain import Health, Incident
from failover.errors import ConfigError, StoreError
from failover.service import (
    JournalEntry,
    StatusReport,
    journal,
    prune_database,
    status_report,
    upgrade_database,
    utc_now,
)

_HEALTH_STYLE = {Health.up: "green", Health.degraded: "yellow", Health.down: "red", Health.unknown: "dim"}


def format_duration(delta: timedelta) -> str:
    """``6 h 02 min``, ``12 min 05 s``, ``40 s``: what a person reads in a journal."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _local(moment: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "—" if moment is None else moment.astimezone(zone).strftime(fmt)


# -- status ---------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--nagios",
    is_flag=True,
    help="Print one line for Nagios, Icinga or Sensu: FAILOVER <STATE> - summary | perfdata.",
)
@config_option
def status(as_json: bool, nagios: bool, config_path: Path | None) -> None:
    """Each platform's health as last judged by the daemon, since when, the open
    incidents and our own connectivity. Probes nothing.

    Exits as `failover check` does for the same state: 0 OK, 1 WARNING (a platform
    degraded), 2 CRITICAL (one down), 3 UNKNOWN (our own connectivity lost, no round
    judged yet, or the configuration or the database cannot be read).
    """
    if as_json and nagios:
        raise click.UsageError("--json and --nagios: choose one")
    try:
        config = read_configuration(config_path)
    except ConfigError as exc:
        exit_unknown(f"configuration: {exc}", nagios=nagios)
    try:
        report = status_report(config)
    except StoreError as exc:
        exit_unknown(str(exc), nagios=nagios)
    state = status_state(report)
    zone = ZoneInfo(config.daemon.timezone)
    if as_json:
        click.echo(json.dumps(status_as_json(report), indent=2))
    elif nagios:
        click.echo(_status_nagios(report, state, zone))
    else:
        _print_status(report, zone)
    raise SystemExit(int(state))


def status_state(report: StatusReport) -> PluginState:
    """The state ``failover check`` gives the same health: UNKNOWN also before any round
    was judged."""
    if not report.judged:
        return PluginState.unknown
    return plugin_state(
        (p.health for p in report.platforms), connectivity_lost=report.connectivity_lost_since is not None
    )


def _status_nagios(report: StatusReport, state: PluginState, zone: ZoneInfo) -> str:
    perfdata = [f"open_incidents={len(report.open_incidents)};;;0"]
    if not report.judged:
        return (
            f"FAILOVER {state.label} - no round judged yet: is the daemon running on this database?"
            f" | {' '.join(perfdata)}"
        )
    lost = report.connectivity_lost_since
    connectivity = "" if lost is None else f"own connectivity lost since {_local(lost, zone)}"
    healths = {p.platform: p.health for p in report.platforms}
    summary = summary_line(
        state, healths, connectivity=connectivity, connectivity_lost=lost is not None, perfdata=perfdata
    )
    details = [f"{p.platform}: {p.health.value} since {_local(p.since, zone)}" for p in report.platforms]
    return "\n".join([summary, *details])


def _incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "key": incident.key,
        "scope": incident.scope.value,
        "kind": incident.kind.value,
        "name": incident.name,
        "platforms": list(incident.platforms),
        "opened_at": incident.opened_at.isoformat(),
        "confirmed_at": incident.confirmed_at.isoformat() if incident.confirmed_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "cause": incident.cause,
        "evidence": list(incident.evidence),
        "message": incident.message,
    }


def status_as_json(report: StatusReport) -> dict[str, Any]:
    """The status as a JSON-safe dict with stable keys."""
    return {
        "judged": report.judged,
        "connectivity": {
            "ok": report.connectivity_lost_since is None,
            "lost_since": report.connectivity_lost_since.isoformat()
            if report.connectivity_lost_since
            else None,
        },
        "platforms": {
            p.platform: {
                "health": p.health.value,
                "since": p.since.isoformat() if p.since else None,
                "flapping": p.flapping,
                "suspect": p.suspect,
                "incident": p.incident,
            }
            for p in report.platforms
        },
        "open_incidents": [_incident_json(incident) for incident in report.open_incidents],
    }


def _print_status(report: StatusReport, zone: ZoneInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not report.judged:
        console.print("[dim]No round has been judged yet: is the daemon running on this database?[/]")
    if report.connectivity_lost_since is not None:
        console.print(
            f"[bold red]Our own connectivity is lost[/] since "
            f"{_local(report.connectivity_lost_since, zone)}: platform health is unknown."
        )
    table = Table(title=f"platforms (times in {zone.key})", title_justify="left")
    for column in ("platform", "health", "since", "notes"):
        table.add_column(column)
    for p in report.platforms:
        notes = [n for n, on in (("flapping", p.flapping), ("confirming", p.suspect)) if on]
        if p.incident:
            notes.append(f"incident {p.incident}")
        style = _HEALTH_STYLE[p.health]
        table.add_row(p.platform, f"[{style}]{p.health.value}[/]", _local(p.since, zone), ", ".join(notes))
    console.print(table)
    if report.open_incidents:
        console.print("Open incidents:")
        for incident in report.open_incidents:
            console.print(
                f"  #{incident.id} {incident.name} ({incident.kind.value}, {incident.scope.value}) "
                f"since {_local(incident.opened_at, zone)}: {incident.cause}"
            )


# -- the journal ------------------------------------------------------------------------------


def _since_option(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command()
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back, e.g. 24h, 7d.")
@click.option("--platform", default=None, help="Only incidents touching this platform or family.")
@click.option(
    "--export",
    "export",
    type=click.Choice(["csv", "json", "markdown"]),
    default=None,
    help="Print the journal in this format instead of a table.",
)
@config_option
def incidents(since_text: str, platform: str | None, export: str | None, config_path: Path | None) -> None:
    """The incident journal: date, time, duration, scope, evidence and notices sent."""
    config = load_configuration(config_path)
    window = _since_option(since_text)
    now = utc_now()
    since = now - window if window is not None else None
    try:
        entries = journal(config, since=since, platform=platform)
    except StoreError as exc:
        fail(str(exc))
    zone = ZoneInfo(config.daemon.timezone)
    if export == "json":
        click.echo(json.dumps([journal_entry_json(e, now) for e in entries], indent=2))
    elif export == "csv":
        click.echo(journal_csv(entries, now), nl=False)
    elif export == "markdown":
        click.echo(journal_markdown(entries, now=now, since=since, zone=zone, platform=platform), nl=False)
    else:
        _print_journal(entries, now, zone)


def journal_entry_json(entry: JournalEntry, now: datetime) -> dict[str, Any]:
    return {
        **_incident_json(entry.incident),
        "duration_s": round(entry.incident.duration(now).total_seconds()),
        "notices": {
            "sent": entry.notices_sent,
            "failed": entry.notices_failed,
            "skipped": entry.notices_skipped,
            "pending": entry.notices_pending,
        },
    }


CSV_COLUMNS = (
    "id",
    "opened_at",
    "confirmed_at",
    "resolved_at",
    "duration_s",
    "scope",
    "kind",
    "name",
    "platforms",
    "cause",
    "evidence",
    "message",
    "notices_sent",
    "notices_failed",
    "notices_skipped",
    "notices_pending",
)


def journal_csv(entries: Sequence[JournalEntry], now: datetime) -> str:
    """One row per incident, UTC ISO times, lists joined with ``; ``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        i = entry.incident
        writer.writerow(
            [
                i.id,
                i.opened_at.isoformat(),
                i.confirmed_at.isoformat() if i.confirmed_at else "",
                i.resolved_at.isoformat() if i.resolved_at else "",
                round(i.duration(now).total_seconds()),
                i.scope.value,
                i.kind.value,
                i.name,
                "; ".join(i.platforms),
                i.cause,
                "; ".join(i.evidence),
                i.message,
                entry.notices_sent,
                entry.notices_failed,
                entry.notices_skipped,
                entry.notices_pending,
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def journal_markdown(
    entries: Sequence[JournalEntry],
    *,
    now: datetime,
    since: datetime | None,
    zone: ZoneInfo,
    platform: str | None = None,
) -> str:
    """A journal a communication team can hand to its management as is: a summary table,
    then for each incident its dates, duration, cause, evidence and notices."""
    lines = ["# Incident journal", ""]
    period = f"since {_local(since, zone, '%d %B %Y %H:%M')}" if since else "all recorded incidents"
    scope = f", platform {platform}" if platform else ""
    lines.append(
        f"Period: {period} to {_local(now, zone, '%d %B %Y %H:%M')} ({zone.key}){scope}. "
        f"Times are local to {zone.key}."
    )
    lines.append("")
    if not entries:
        lines += ["No incident was recorded in this period.", ""]
        return "\n".join(lines)
    total = sum((e.incident.duration(now) for e in entries), timedelta())
    still_open = sum(1 for e in entries if e.incident.is_open)
    lines.append(
        f"{len(entries)} incident{'s' if len(entries) != 1 else ''}, "
        f"{format_duration(total)} of disruption in total"
        + (f", {still_open} still open" if still_open else "")
        + "."
    )
    lines += [
        "",
        "| # | Opened | Resolved | Duration | Scope | Platforms | Kind | Notices sent | Notices failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        i = e.incident
        lines.append(
            f"| {i.id} | {_local(i.opened_at, zone, '%Y-%m-%d %H:%M')} | "
            f"{_local(i.resolved_at, zone, '%Y-%m-%d %H:%M') if i.resolved_at else 'open'} | "
            f"{format_duration(i.duration(now))} | {i.scope.value} | {_cell(', '.join(i.platforms))} | "
            f"{i.kind.value} | {e.notices_sent} | {e.notices_failed} |"
        )
    for e in entries:
        i = e.incident
        lines += ["", f"## #{i.id}: {i.name} ({i.kind.value})", ""]
        lines.append(f"- **Opened:** {_local(i.opened_at, zone)}")
        if i.confirmed_at:
            lines.append(f"- **Confirmed:** {_local(i.confirmed_at, zone)}")
        lines.append(f"- **Resolved:** {_local(i.resolved_at, zone) if i.resolved_at else 'still open'}")
        lines.append(f"- **Duration:** {format_duration(i.duration(now))}")
        lines.append(f"- **Scope:** {i.scope.value} {i.name} ({', '.join(i.platforms)})")
        if i.cause:
            lines.append(f"- **Cause:** {i.cause}")
        if i.message:
            lines.append(f"- **Message sent:** {i.message}")
        lines.append(
            f"- **Notices:** {e.notices_sent} sent, {e.notices_failed} failed, "
            f"{e.notices_skipped} not sent (skipped, silenced or cancelled), {e.notices_pending} pending"
        )
        if i.evidence:
            lines.append("- **Evidence:**")
            lines += [f"  - {item}" for item in i.evidence]
    lines.append("")
    return "\n".join(lines)


def _print_journal(entries: Sequence[JournalEntry], now: datetime, zone: ZoneInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not entries:
        console.print("No incident in this period.")
        return
    table = Table(title=f"incidents (times in {zone.key})", title_justify="left")
    for column in ("#", "opened", "duration", "scope", "name", "kind", "cause", "notices"):
        table.add_column(column, overflow="fold")
    for e in entries:
        i = e.incident
        duration = format_duration(i.duration(now)) + ("" if i.resolved_at else " (open)")
        table.add_row(
            str(i.id),
            _local(i.opened_at, zone, "%Y-%m-%d %H:%M"),
            duration,
            i.scope.value,
            i.name,
            i.kind.value,
            i.cause,
            f"{e.notices_sent} sent, {e.notices_failed} failed",
        )
    console.print(table)


# -- the database -----------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Migrate or prune the database."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Apply the schema migrations (the daemon also does this at start)."""
    config = load_configuration(config_path)
    try:
        where = upgrade_database(config)
    except StoreError as exc:
        fail(str(exc))
    click.echo(f"database is up to date: {where}")


@db.command("prune")
@config_option
def db_prune(config_path: Path | None) -> None:
    """Roll raw observations up into hourly figures, then delete those older than the
    retention (daemon.retention, default 7 days). Rollups and incidents are kept."""
    config = load_configuration(config_path)
    try:
        report = prune_database(config, now=utc_now())
    except StoreError as exc:
        fail(str(exc))
    click.echo(
        f"pruned {report.observations_deleted} observations older than {report.cutoff.isoformat()}; "
        f"{report.rollups_written} hourly rollups written"
    )
