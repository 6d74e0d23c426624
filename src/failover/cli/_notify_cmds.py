"""``failover silence|unsilence|silences`` and ``failover notify-test``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from failover.cli._main import config_option, fail, load_configuration, main, operator_name
from failover.config import parse_duration
from failover.errors import ConfigError, StoreError
from failover.service import (
    active_silences,
    add_silence,
    remove_silences,
    run_async,
    send_test_notice,
    utc_now,
)


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
    try:
        added = add_silence(
            config,
            name,
            duration=_duration(duration),
            reason=reason,
            now=utc_now(),
            created_by=operator_name(),
        )
    except (ConfigError, StoreError) as exc:
        fail(str(exc))
    click.echo(f"silence #{added.id} on {added.name} until {added.until:%Y-%m-%d %H:%M} UTC")


@main.command()
@click.argument("target")
@config_option
def unsilence(target: str, config_path: Path | None) -> None:
    """End the silences on TARGET (a platform or family name), or silence number TARGET."""
    config = load_configuration(config_path, contacts=False)
    try:
        ended = remove_silences(config, target, now=utc_now())
    except StoreError as exc:
        fail(str(exc))
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
    try:
        found = active_silences(config, now=utc_now())
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        data = [{"id": s.id, "name": s.name, "until": s.until.isoformat(), "reason": s.reason} for s in found]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for s in found:
        click.echo(f"#{s.id}  {s.name}  until {s.until:%Y-%m-%d %H:%M} UTC  {s.reason}")
    if not found:
        click.echo("no silence in force")


@main.command("notify-test")
@click.argument("contact")
@click.option(
    "--channel", type=click.IntRange(min=0), default=None,
    help="Only the contact's channel N (0 = first), as `contacts list` orders them.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Render and show the message; send nothing.")
@config_option
def notify_test(contact: str, channel: int | None, dry_run: bool, config_path: Path | None) -> None:
    """Send a test message to CONTACT (its id, see `contacts list`) through its first
    usable channel, or channel N; one attempt per channel, nothing written to the journal.
    Exit 1 if it could not be delivered."""
    config = load_configuration(config_path)
    try:
        report = run_async(
            send_test_notice(config, contact, channel=channel, dry_run=dry_run or config.notify.dry_run)
        )
    except (ConfigError, StoreError) as exc:
        fail(str(exc))
    if dry_run or report.outcome == "dry-run":
        click.echo(f"dry run: would send via {report.channel_ref} ({report.scheme}), in {report.language}:")
        click.echo(f"Subject: {report.subject}\n")
        click.echo(report.body)
        return
    if report.outcome == "sent":
        click.echo(f"sent to {report.contact_id} via {report.channel_ref} ({report.scheme})")
        return
    fail(f"{report.outcome}: {report.detail}")
