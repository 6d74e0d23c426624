"""``failover silence|unsilence|silences``: hold the notices of a platform's incidents for a while."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from failover.cli._main import config_option, fail, load_configuration, main, operator_name
from failover.config import parse_duration
from failover.service import active_silences, add_silence, remove_silences, utc_now


def _duration(value: str) -> timedelta:
    try:
        duration = timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--for'") from None
    if duration <= timedelta(0):  # also what rounds to nothing, such as 1e-300
        raise click.BadParameter("expected a positive duration", param_hint="'--for'")
    return duration


@main.command()
@click.argument("name")
@click.option("--for", "duration", required=True, metavar="DURATION", help="How long, e.g. 30m, 2h, 1d.")
@click.option("--reason", required=True, help="Why (kept in the journal of the notices it holds).")
@config_option
def silence(name: str, duration: str, reason: str, config_path: Path | None) -> None:
    """Hold the notices of incidents of NAME (a platform, a family such as meta, or '*'):
    they are recorded as silenced and not sent. Manual failovers still go out."""
    config = load_configuration(config_path, contacts=False)
    added = add_silence(
        config,
        name,
        duration=_duration(duration),
        reason=reason,
        now=utc_now(),
        created_by=operator_name(),
    )
    click.echo(f"silence #{added.id} on {added.name} until {added.until:%Y-%m-%d %H:%M} UTC")


@main.command()
@click.argument("target")
@config_option
def unsilence(target: str, config_path: Path | None) -> None:
    """End the silences on TARGET (a platform or family name), or silence number TARGET."""
    config = load_configuration(config_path, contacts=False)
    ended = remove_silences(config, target, now=utc_now())
    if not ended:
        fail(f"no silence in force on {target}")
    for silence_ in ended:
        click.echo(f"ended silence #{silence_.id} on {silence_.name}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@config_option
def silences(as_json: bool, config_path: Path | None) -> None:
    """List the silences in force."""
    config = load_configuration(config_path, contacts=False)
    found = active_silences(config, now=utc_now())
    if as_json:
        data = [{"id": s.id, "name": s.name, "until": s.until.isoformat(), "reason": s.reason} for s in found]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for s in found:
        click.echo(f"#{s.id}  {s.name}  until {s.until:%Y-%m-%d %H:%M} UTC  {s.reason}")
    if not found:
        click.echo("no silence in force")
