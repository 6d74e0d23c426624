"""``failover notify-test``: one test message to one contact, through its channels."""

from __future__ import annotations

from pathlib import Path

import click

from failover.cli._main import config_option, fail, load_configuration, main
from failover.service import run_async, send_test_notice


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
    report = run_async(
        send_test_notice(config, contact, channel=channel, dry_run=dry_run or config.notify.dry_run)
    )
    if dry_run or report.outcome == "dry-run":
        click.echo(f"dry run: would send via {report.channel_ref} ({report.scheme}), in {report.language}:")
        click.echo(f"Subject: {report.subject}\n")
        click.echo(report.body)
        return
    if report.outcome == "sent":
        click.echo(f"sent to {report.contact_id} via {report.channel_ref} ({report.scheme})")
        return
    fail(f"{report.outcome}: {report.detail}")
