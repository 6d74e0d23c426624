"""``failover db upgrade|prune``: the database's schema and retention."""

from __future__ import annotations

from pathlib import Path

import click

from failover.cli._main import config_option, load_configuration, main
from failover.service import prune_database, upgrade_database, utc_now


@main.group()
def db() -> None:
    """Migrate or prune the database."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Apply the schema migrations (the daemon also does this at start)."""
    config = load_configuration(config_path, contacts=False)
    where = upgrade_database(config)
    click.echo(f"database is up to date: {where}")


@db.command("prune")
@config_option
def db_prune(config_path: Path | None) -> None:
    """Roll raw observations up into hourly figures, then delete those older than the
    retention (daemon.retention, default 7 days). Rollups and incidents are kept."""
    config = load_configuration(config_path, contacts=False)
    report = prune_database(config, now=utc_now())
    click.echo(
        f"pruned {report.observations_deleted} observations older than {report.cutoff.isoformat()}; "
        f"{report.rollups_written} hourly rollups written"
    )
