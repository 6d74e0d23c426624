"""``failover check``: one round against the configured platforms and controls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from failover.cli._main import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_PROBLEM,
    config_option,
    fail,
    load_configuration,
    main,
)
from failover.domain import Health, Observation
from failover.errors import ConfigError
from failover.service import CheckReport, check_once, run_async

_HEALTH_STYLE = {Health.up: "green", Health.degraded: "yellow", Health.down: "red", Health.unknown: "dim"}


@main.command()
@click.argument("platforms", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the round as JSON.")
@config_option
def check(platforms: tuple[str, ...], as_json: bool, config_path: Path | None) -> None:
    """Run one round of checks against PLATFORMS (default: all) and the controls.

    Exit 0 when every platform is up, 1 when one is degraded or down, 2 when our own
    connectivity is lost (the controls fail), since nothing can then be said of platforms.
    """
    config = load_configuration(config_path)
    try:
        report = run_async(check_once(config, platforms))
    except ConfigError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report_as_json(report), indent=2))
    else:
        print_report(report)
    if report.connectivity_lost:
        raise SystemExit(EXIT_INCONCLUSIVE)
    raise SystemExit(EXIT_PROBLEM if report.platforms_in_trouble else EXIT_OK)


def _observation_json(observation: Observation) -> dict[str, Any]:
    return {
        "check": observation.check,
        "kind": observation.kind.value,
        "outcome": observation.outcome.value,
        "latency_s": observation.latency_s,
        "phases": dict(observation.phases),
        "cert_days_left": observation.cert_days_left,
        "detail": observation.detail,
        "at": observation.at.isoformat(),
    }


def report_as_json(report: CheckReport) -> dict[str, Any]:
    """The round as a JSON-safe dict; stable keys for scripts."""
    connectivity = report.decision.connectivity
    by_target: dict[str, list[dict[str, Any]]] = {}
    for observation in report.observations:
        by_target.setdefault(observation.target, []).append(_observation_json(observation))
    return {
        "connectivity": {
            "ok": connectivity.ok,
            "controls_passing": connectivity.passing,
            "controls_required": connectivity.required,
            "controls_total": connectivity.total,
        },
        "platforms": {
            name: {
                "health": verdict.health.value,
                "summary": verdict.summary,
                "checks": by_target.get(name, []),
            }
            for name, verdict in report.decision.verdicts.items()
        },
        "controls": {control.name: by_target.get(control.name, []) for control in report.controls},
    }


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _phases(observation: Observation) -> str:
    return " ".join(f"{phase} {seconds * 1000:.0f}" for phase, seconds in observation.phases.items())


def print_report(report: CheckReport) -> None:
    """A table a person reads: one row per check, then one verdict per platform."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="failover check", title_justify="left")
    for column in ("target", "check", "outcome", "latency", "phases (ms)", "detail"):
        table.add_column(column, overflow="fold")
    for observation in report.observations:
        style = "green" if observation.ok else "red"
        target = f"{observation.target} (control)" if observation.is_control else observation.target
        table.add_row(
            target,
            observation.check,
            f"[{style}]{observation.outcome.value}[/]",
            _ms(observation.latency_s),
            _phases(observation),
            observation.detail,
        )
    console.print(table)
    connectivity = report.decision.connectivity
    if report.connectivity_lost:
        console.print(
            f"[bold red]Our own connectivity is lost[/]: {connectivity.passing} of "
            f"{connectivity.total} controls answer, {connectivity.required} needed. "
            "Platform health is unknown, not down."
        )
    for name, verdict in report.decision.verdicts.items():
        style = _HEALTH_STYLE[verdict.health]
        console.print(f"[{style}]{verdict.health.value:>8}[/]  {name}  {verdict.summary}")
