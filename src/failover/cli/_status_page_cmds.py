"""``failover status-page build``: the public status site, built by hand."""

from __future__ import annotations

from pathlib import Path

import click

from failover.cli._main import config_option, load_configuration, main
from failover.service import build_status_site, utc_now


@main.group("status-page")
def status_page() -> None:
    """The public status site: each platform's state, the incidents with their public
    text, how to reach you now, 90 days of history, status.json, an Atom feed and badges.

    The daemon serves it on [status_page] listen and writes it to [status_page] directory
    on every change and every few minutes; this builds it once."""


@status_page.command("build")
@click.option(
    "--to",
    "directory",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The directory to write the site into (created if needed; its files are replaced atomically).",
)
@config_option
def build(directory: Path, config_path: Path | None) -> None:
    """Build the site from the database (the state the daemon last recorded, the
    journal, the rollups) and write it to a directory, for any static host to serve."""
    config = load_configuration(config_path)
    report = build_status_site(config, to=directory, now=utc_now())
    incidents = f", {report.open_incidents} incident(s) open" if report.open_incidents else ""
    click.echo(
        f"status page: {report.files} files in {report.directory} ({report.written} written, "
        f"page {report.page_bytes / 1024:.1f} KiB){incidents}"
    )
