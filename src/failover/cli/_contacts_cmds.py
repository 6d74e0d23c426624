"""``failover contacts import|list``: the people failover tells, in and out."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import click

from failover.cli._main import config_option, fail, load_configuration, main
from failover.errors import ContactImportError
from failover.service import contact_rows, import_contacts


@main.group()
def contacts() -> None:
    """Import and list contacts (personal data is shown only on request)."""


@contacts.command("import")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "vcard"]), default=None,
    help="The file's format (default: from its extension, .csv or .vcf).",
)  # fmt: skip
@click.option(
    "--into", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="The contacts file to merge into (default: contacts_file, else contacts.toml by the configuration).",
)  # fmt: skip
@click.option(
    "--prefer", type=click.Choice(["signal", "email"]), default="signal", show_default=True,
    help="Which channel comes first when a contact has a phone and an e-mail address.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Check the file and tell what would change; write nothing.")
@config_option
def import_(  # noqa: PLR0917 - click passes every option as an argument
    source: Path,
    fmt: Literal["csv", "vcard"] | None,
    into: Path | None,
    prefer: Literal["signal", "email"],
    dry_run: bool,
    config_path: Path | None,
) -> None:
    """Import contacts from a CSV file (a header row; columns name, id, language, timezone,
    groups separated by ';', email, phone) or vCard 3/4 (FN, EMAIL, TEL, LANG, TZ,
    CATEGORIES as groups). An e-mail address is sent through [notify] smtp_url, a phone
    number through Signal ([notify] signal_url).

    The whole file is checked first: an error names the row or line and the field, and
    nothing is written. Contacts are merged by id into the contacts file, which is
    replaced atomically.
    """
    config = load_configuration(config_path)
    try:
        report = import_contacts(config, source, fmt=fmt, into=into, dry_run=dry_run, prefer=prefer)
    except ContactImportError as exc:
        fail(f"{source.name}: {exc}")
    verb = "would write" if dry_run else "wrote"
    click.echo(f"{verb} {report.path}: {report.added} added, {report.updated} updated, {report.kept} kept")
    if report.phones_left_out:
        click.echo(
            f"{report.phones_left_out} phone number(s) left out: no [notify] signal_url is configured",
            err=True,
        )
    if report.needs_contacts_file:
        click.echo(
            f'add contacts_file = "{report.path.name}" to the configuration for failover to read them',
            err=True,
        )


@contacts.command("list")
@click.option("--show-personal", is_flag=True, help="Also show names and addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@config_option
def list_(show_personal: bool, as_json: bool, config_path: Path | None) -> None:
    """List contacts: id, language, time zone, groups and channel kinds, in order of
    preference. Names and addresses only with --show-personal."""
    rows = contact_rows(load_configuration(config_path), show_personal=show_personal)
    if as_json:
        data = []
        for row in rows:
            item = asdict(row)
            if not show_personal:
                del item["name"]
            data.append(item)
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in (
        "id",
        *(("name",) if show_personal else ()),
        "language",
        "time zone",
        "groups",
        "channels",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.id,
            *((row.name or "",) if show_personal else ()),
            row.language,
            row.timezone,
            ", ".join(row.groups),
            ", ".join(row.channels),
        )
    Console(soft_wrap=True).print(table)
    click.echo(f"{len(rows)} contact(s)")
