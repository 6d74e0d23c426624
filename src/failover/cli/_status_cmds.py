"""``failover status``: each platform's health as the daemon last judged it, read from the
database; its exit code and ``--nagios`` output are ``failover check``'s."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from failover.cli._check_cmds import summary_line
from failover.cli._journal_cmds import local_time
from failover.cli._main import PluginState, config_option, load_configuration, main, plugin_state
from failover.domain import Approval, Health
from failover.service import StatusReport, status_json, status_report

_HEALTH_STYLE = {Health.up: "green", Health.degraded: "yellow", Health.down: "red", Health.unknown: "dim"}


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
    config = load_configuration(config_path, contacts=False)
    report = status_report(config)
    state = status_state(report)
    zone = ZoneInfo(config.daemon.timezone)
    if as_json:
        click.echo(json.dumps(status_json(report, config), indent=2))
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
    connectivity = "" if lost is None else f"own connectivity lost since {local_time(lost, zone)}"
    healths = {p.platform: p.health for p in report.platforms}
    summary = summary_line(
        state, healths, connectivity=connectivity, connectivity_lost=lost is not None, perfdata=perfdata
    )
    details = [f"{p.platform}: {p.health.value} since {local_time(p.since, zone)}" for p in report.platforms]
    return "\n".join([summary, *details])


def _print_status(report: StatusReport, zone: ZoneInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not report.judged:
        console.print("[dim]No round has been judged yet: is the daemon running on this database?[/]")
    if report.connectivity_lost_since is not None:
        console.print(
            f"[bold red]Our own connectivity is lost[/] since "
            f"{local_time(report.connectivity_lost_since, zone)}: platform health is unknown."
        )
    table = Table(title=f"platforms (times in {zone.key})", title_justify="left")
    for column in ("platform", "health", "since", "notes"):
        table.add_column(column)
    for p in report.platforms:
        notes = [n for n, on in (("flapping", p.flapping), ("confirming", p.suspect)) if on]
        if p.incident:
            notes.append(f"incident {p.incident}")
        style = _HEALTH_STYLE[p.health]
        table.add_row(
            p.platform, f"[{style}]{p.health.value}[/]", local_time(p.since, zone), ", ".join(notes)
        )
    console.print(table)
    if report.open_incidents:
        console.print("Open incidents:")
        for incident in report.open_incidents:
            awaiting = (
                f" [yellow]awaiting approval[/] (`failover approve {incident.id}`)"
                if incident.approval is Approval.awaiting
                else ""
            )
            console.print(
                f"  #{incident.id} {incident.name} ({incident.kind.value}, {incident.scope.value}) "
                f"since {local_time(incident.opened_at, zone)}: {incident.cause}{awaiting}"
            )
