"""``failover check``: one round against the configured platforms and controls.

Its exit code and, with ``--nagios``, its output follow the monitoring-plugins
guidelines, so that Nagios, Icinga, Sensu or any script reads it as they read
``check_http``: ``FAILOVER <STATE> - <summary> | <perfdata>`` on the first line, one line
per platform after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from failover.cli._main import PluginState, config_option, load_configuration, main, plugin_state
from failover.domain import Health, Observation
from failover.service import CheckReport, check_once, run_async

_HEALTH_STYLE = {Health.up: "green", Health.degraded: "yellow", Health.down: "red", Health.unknown: "dim"}


@main.command()
@click.argument("platforms", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the round as JSON.")
@click.option(
    "--nagios",
    is_flag=True,
    help="Print one line for Nagios, Icinga or Sensu: FAILOVER <STATE> - summary | perfdata.",
)
@config_option
def check(platforms: tuple[str, ...], as_json: bool, nagios: bool, config_path: Path | None) -> None:
    """Run one round of checks against PLATFORMS (default: all) and the controls.

    Exit codes follow the monitoring-plugins guidelines: 0 OK (every platform up),
    1 WARNING (one degraded), 2 CRITICAL (one down), 3 UNKNOWN (our own connectivity is
    lost, so nothing can be said of platforms; or a configuration or usage error).
    """
    if as_json and nagios:
        raise click.UsageError("--json and --nagios: choose one")
    started = time.monotonic()
    config = load_configuration(config_path, contacts=False)
    report = run_async(check_once(config, platforms))
    state = check_state(report)
    if as_json:
        click.echo(json.dumps(report_as_json(report), indent=2))
    elif nagios:
        click.echo(nagios_output(report, state=state, seconds=time.monotonic() - started))
    else:
        print_report(report)
    raise SystemExit(int(state))


def check_state(report: CheckReport) -> PluginState:
    """OK, WARNING (a platform degraded), CRITICAL (one down) or UNKNOWN (our own
    connectivity lost)."""
    return plugin_state(
        (verdict.health for verdict in report.decision.verdicts.values()),
        connectivity_lost=report.connectivity_lost,
    )


def _perf_value(value: float | None, unit: str = "") -> str:
    return "U" if value is None else f"{value:.6g}{unit}"


def summary_line(
    state: PluginState,
    healths: Mapping[str, Health],
    *,
    connectivity: str,
    connectivity_lost: bool,
    perfdata: Sequence[str],
) -> str:
    """``FAILOVER CRITICAL - down: whatsapp; 3 of 4 up; 3 of 3 controls answer | up=3;;;0;4 …``

    ``connectivity`` says how the controls fare ("" without controls)."""
    by_health: dict[Health, list[str]] = {}
    for name, health in healths.items():
        by_health.setdefault(health, []).append(name)
    parts: list[str] = []
    if connectivity_lost:
        parts.append(f"{connectivity}: platform health unknown, not down")
    else:
        for health in (Health.down, Health.degraded, Health.unknown):
            if by_health.get(health):
                parts.append(f"{health.value}: {', '.join(by_health[health])}")
        parts.append(f"{len(by_health.get(Health.up, []))} of {len(healths)} up")
        if connectivity:
            parts.append(connectivity)
    total = len(healths)
    counts = [
        f"up={len(by_health.get(Health.up, []))};;;0;{total}",
        # the thresholds say what the state says: WARNING above 0 degraded, CRITICAL above 0 down
        f"degraded={len(by_health.get(Health.degraded, []))};0;;0;{total}",
        f"down={len(by_health.get(Health.down, []))};;0;0;{total}",
        f"unknown={len(by_health.get(Health.unknown, []))};;;0;{total}",
    ]
    return f"FAILOVER {state.label} - {'; '.join(parts)} | {' '.join([*counts, *perfdata])}"


def _connectivity_text(report: CheckReport) -> str:
    connectivity = report.decision.connectivity
    if connectivity.ok is None:
        return ""
    answer = f"{connectivity.passing} of {connectivity.total} controls answer"
    if connectivity.ok is False:
        return f"own connectivity lost: {answer}, {connectivity.required} needed"
    return answer


def _check_perfdata(observations: Iterable[Observation]) -> list[str]:
    """``<target>.<check>=<seconds>s;;;0`` per check, controls included (``U``: no time)."""
    return [f"{o.target}.{o.check}={_perf_value(o.latency_s, 's')};;;0" for o in observations]


def nagios_output(report: CheckReport, *, state: PluginState, seconds: float) -> str:
    """The plugin output: the summary line with perfdata, then one line per platform."""
    connectivity = report.decision.connectivity
    perfdata = []
    if connectivity.ok is not None:
        perfdata.append(f"controls={connectivity.passing};;;0;{connectivity.total}")
    perfdata.append(f"time={_perf_value(seconds, 's')};;;0")
    perfdata.extend(_check_perfdata(report.observations))
    healths = {name: verdict.health for name, verdict in report.decision.verdicts.items()}
    summary = summary_line(
        state,
        healths,
        connectivity=_connectivity_text(report),
        connectivity_lost=report.connectivity_lost,
        perfdata=perfdata,
    )
    details = [
        _verdict_line(name, verdict.health, verdict.summary)
        for name, verdict in report.decision.verdicts.items()
    ]
    return "\n".join([summary, *(plugin_text(line) for line in details)])


def _verdict_line(name: str, health: Health, summary: str) -> str:
    """``whatsapp down: authoritative DNS SERVFAIL, …``: a verdict's summary begins with its
    health; the health alone when it does not."""
    return f"{name} {summary if summary.startswith(health.value) else health.value}"


def plugin_text(text: str) -> str:
    """One line of long output: no line break, and no ``|``, which would start perfdata."""
    return " ".join(text.split()).replace("|", "/")


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
