"""``failover contacts import|export|list``: the people failover tells, in and out."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import click

from failover.cli._main import config_option, load_configuration, main
from failover.service import ImportReport, contact_rows, export_contacts, import_contacts

#: below this many rows or cards an import is over before a bar could say anything
_PROGRESS_FROM = 500
_WARNINGS_SHOWN = 50


@main.group()
def contacts() -> None:
    """Import, export and list contacts (personal data is shown only on request)."""


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None]]:
    """A progress callback drawing a bar on stderr for long imports, on a terminal only."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("reading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task: list[TaskID] = []

    def update(done: int, total: int) -> None:
        if total < _PROGRESS_FROM or not console.is_terminal or (done % 100 and done != total):
            return
        if not task:
            bar.start()
            task.append(bar.add_task("reading", total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()


@contacts.command("import")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "vcard"]), default=None,
    help="The file's format (default: from its extension, .csv or .vcf).",
)  # fmt: skip
@click.option(
    "--encoding", default=None,
    help="The file's text encoding (default: from its byte-order mark, else UTF-8, else Windows-1252).",
)  # fmt: skip
@click.option(
    "--prefer", type=click.Choice(["signal", "email"]), default="signal", show_default=True,
    help="Which channel comes first when a contact has a phone and an e-mail address.",
)  # fmt: skip
@click.option(
    "--region", default=None, metavar="CC",
    help="Country whose national phone numbers the file holds (06 12 34 56 78 with FR); default: "
    "the country of daemon.timezone, else of the [notify] signal_url number.",
)  # fmt: skip
@click.option(
    "--language", type=click.Choice(["fr", "en"]), default=None,
    help="Language of the contacts the file gives none (default: the region's, else en).",
)  # fmt: skip
@click.option(
    "--timezone", default=None, metavar="ZONE",
    help="Time zone of the contacts the file gives none (default: daemon.timezone).",
)  # fmt: skip
@click.option("--group", "groups", multiple=True, metavar="NAME", help="Put every contact in this group too.")
@click.option(
    "--replace", is_flag=True,
    help="Replace a contact of the same name with whom the file shares no address or number.",
)  # fmt: skip
@click.option("--strict", is_flag=True, help="Refuse the file at the first warning, instead of leaving out.")
@click.option("--all-warnings", is_flag=True, help=f"Show every warning, not the first {_WARNINGS_SHOWN}.")
@click.option("--dry-run", is_flag=True, help="Check the file and tell what would change; write nothing.")
@config_option
def import_(  # noqa: PLR0917 - click passes every option as an argument
    source: Path,
    fmt: Literal["csv", "vcard"] | None,
    encoding: str | None,
    prefer: Literal["signal", "email"],
    region: str | None,
    language: str | None,
    timezone: str | None,
    groups: tuple[str, ...],
    replace: bool,
    strict: bool,
    all_warnings: bool,
    dry_run: bool,
    config_path: Path | None,
) -> None:
    """Import contacts from a CSV file (failover's columns: name, id, language, timezone,
    groups separated by ';', email, phone; or an export of Google Contacts or Outlook, with
    ',' or ';' between fields) or vCard 2.1, 3.0 or 4.0 (iPhone, Android, Google, Nextcloud).
    An e-mail address is sent through [notify] smtp_url, a phone number through Signal
    ([notify] signal_url).

    What the file's columns or properties feed is shown. What cannot be used (an unreadable
    number or address, a contact without a name or a channel, a label that is no configured
    group) is left out with a warning naming the row; a wrong value in failover's own
    columns is an error, and nothing is written. Contacts are merged into the address book in
    the configured database (by id, else by name), in one transaction: all or nothing.
    """
    config = load_configuration(config_path)
    with _progress_bar() as progress:
        report = import_contacts(
            config, source, fmt=fmt, dry_run=dry_run, prefer=prefer, replace=replace,
            strict=strict, region=region, language=language, timezone=timezone, groups=groups,
            encoding=encoding, progress=progress,
        )  # fmt: skip
    _print_mapping(source, report)
    _print_warnings(report, every=all_warnings)
    if dry_run:
        _print_changes(report)
    verb = "would write" if dry_run else "wrote"
    replaced = f", {report.replaced} replaced" if report.replaced else ""
    click.echo(
        f"{verb} the address book ({report.where}): {report.added} added, "
        f"{report.updated} updated{replaced}, {report.unchanged} unchanged, {report.kept} kept"
    )
    if report.phones_left_out:
        click.echo(
            f"{report.phones_left_out} phone number(s) left out: no [notify] signal_url is configured",
            err=True,
        )


def _print_mapping(source: Path, report: ImportReport) -> None:
    """How the file was read, and which of its columns or properties fed which field."""
    parsed = report.parsed
    if parsed is None:
        return
    how = [parsed.layout, parsed.encoding]
    if parsed.separator:
        how.append("separator " + {"\t": "tab"}.get(parsed.separator, f"'{parsed.separator}'"))
    skipped = f", {parsed.skipped} skipped" if parsed.skipped else ""
    cards = f", {parsed.group_cards} group card(s) not imported" if parsed.group_cards else ""
    read = f"read {source.name} ({', '.join(h for h in how if h)})"
    click.echo(f"{read}: {len(parsed.contacts)} contact(s){skipped}{cards}")
    rows = dict(parsed.mapping)
    region, why = parsed.region
    read_as = (
        f"national numbers read as {region} ({why})" if region else "no region: national numbers unreadable"
    )
    rows["phone"] = f"{rows.get('phone', '-')}; {read_as}"
    for key, (count, value, origin) in (
        ("language", parsed.default_language),
        ("timezone", parsed.default_timezone),
    ):
        if count:
            default = f"default {value} ({origin}) for {count} contact(s)"
            rows[key] = f"{rows[key]}; {default} without one" if rows.get(key, "-") != "-" else default
    for key in ("name", "email", "phone", "groups", "language", "timezone", "id"):
        if key in rows:
            click.echo(f"  {key:<9} <- {rows[key]}")
    if parsed.ignored:
        shown = ", ".join(parsed.ignored[:8]) + (", …" if len(parsed.ignored) > 8 else "")
        click.echo(f"  {'ignored':<9} :  {len(parsed.ignored)} ({shown})")


def _print_warnings(report: ImportReport, *, every: bool) -> None:
    warnings = report.parsed.warnings if report.parsed else ()
    if not warnings:
        return
    click.echo(f"{len(warnings)} warning(s):", err=True)
    shown = warnings if every else warnings[:_WARNINGS_SHOWN]
    for warning in shown:
        click.echo(f"  {warning}", err=True)
    if len(shown) < len(warnings):
        click.echo(f"  … and {len(warnings) - len(shown)} more (--all-warnings shows them)", err=True)


def _print_changes(report: ImportReport) -> None:
    marks = {"added": "+", "updated": "~", "replaced": "!"}
    for change in report.changes:
        fields = f": {', '.join(change.fields)}" if change.fields else ""
        kind = " (replaced)" if change.kind == "replaced" else ""
        click.echo(f"  {marks[change.kind]} {change.id} ({change.where}){kind}{fields}")


@contacts.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "vcard"]), default="csv", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), default="-",
    show_default=True, help="The file to write ('-': standard output).",
)  # fmt: skip
@config_option
def export(fmt: Literal["csv", "vcard"], output: Path, config_path: Path | None) -> None:
    """Export the configured contacts as failover's CSV (one e-mail address and one phone
    number each) or vCard 4.0 (every address and number, in order of preference), which
    `contacts import` reads back. The file holds personal data: it is made readable by its
    owner only."""
    report = export_contacts(load_configuration(config_path), fmt)
    if str(output) == "-":
        click.echo(report.text, nl=False)
    else:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(report.text)
        click.echo(f"wrote {output}: {report.contacts} contact(s)", err=True)
    if report.channels_left_out:
        click.echo(
            f"{report.channels_left_out} channel(s) left out: apprise URLs other than e-mail and Signal, "
            "or more than one address or number per contact in CSV",
            err=True,
        )
    sys.stdout.flush()


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
