"""``failover incidents`` (the journal) and ``failover note`` (an entry of its journal of actions)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from failover.cli._journal_words import REPORT_LANGUAGES, ReportLanguage, report_words
from failover.cli._main import config_option, load_configuration, main, operator_name
from failover.config import Config, parse_duration
from failover.domain import Approval
from failover.durations import journal_text
from failover.service import JournalEntry, journal, journal_json, note_manual, utc_now


def local_time(moment: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "—" if moment is None else moment.astimezone(zone).strftime(fmt)


# -- the journal ------------------------------------------------------------------------------


def _since_option(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--since'") from exc


@main.command()
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back, e.g. 24h, 7d.")
@click.option("--platform", default=None, help="Only incidents touching this platform or family.")
@click.option(
    "--export",
    "export",
    type=click.Choice(["csv", "json", "markdown"]),
    default=None,
    help="Print the journal in this format instead of a table.",
)
@click.option(
    "--language",
    type=click.Choice(REPORT_LANGUAGES),
    default=None,
    help="The markdown report's language; default: the organisation's (status_page.languages' first).",
)
@config_option
def incidents(
    since_text: str,
    platform: str | None,
    export: str | None,
    language: ReportLanguage | None,
    config_path: Path | None,
) -> None:
    """The incident journal: date, time, duration, scope, evidence, notices sent, and who
    did what and when (the journal of actions)."""
    config = load_configuration(config_path, contacts=False)
    window = _since_option(since_text)
    now = utc_now()
    since = now - window if window is not None else None
    entries = journal(config, since=since, platform=platform)
    zone = ZoneInfo(config.daemon.timezone)
    if export == "json":
        click.echo(json.dumps(journal_json(entries, now), indent=2))
    elif export == "csv":
        click.echo(journal_csv(entries, now), nl=False)
    elif export == "markdown":
        click.echo(
            journal_markdown(
                entries,
                now=now,
                since=since,
                zone=zone,
                platform=platform,
                language=language or organisation_language(config),
            ),
            nl=False,
        )
    else:
        _print_journal(entries, now, zone)


CSV_COLUMNS = (
    "id",
    "opened_at",
    "confirmed_at",
    "resolved_at",
    "duration_s",
    "scope",
    "kind",
    "name",
    "platforms",
    "cause",
    "evidence",
    "message",
    "notices_sent",
    "notices_failed",
    "notices_skipped",
    "notices_pending",
    "actions",
)


def organisation_language(config: Config) -> ReportLanguage:
    """The language the organisation writes its reports in: the first of the status
    page's languages (its default page's), which says whom the organisation addresses first."""
    first = config.status_page.languages[0]
    return "fr" if first == "fr" else "en"


def journal_csv(entries: Sequence[JournalEntry], now: datetime) -> str:
    """One row per incident, UTC ISO times, lists joined with ``; ``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        i = entry.incident
        writer.writerow(
            [
                i.id,
                i.opened_at.isoformat(),
                i.confirmed_at.isoformat() if i.confirmed_at else "",
                i.resolved_at.isoformat() if i.resolved_at else "",
                round(i.duration(now).total_seconds()),
                i.scope.value,
                i.kind.value,
                i.name,
                "; ".join(i.platforms),
                i.cause,
                "; ".join(i.evidence),
                "; ".join(filter(None, [i.message, *(f"{lang}: {text}" for lang, text in i.messages)])),
                entry.notices_sent,
                entry.notices_failed,
                entry.notices_skipped,
                entry.notices_pending,
                "; ".join(
                    f"{a.at.isoformat()} {a.actor} {a.kind.value}" + (f": {a.text}" if a.text else "")
                    for a in entry.actions
                ),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def journal_markdown(
    entries: Sequence[JournalEntry],
    *,
    now: datetime,
    since: datetime | None,
    zone: ZoneInfo,
    platform: str | None = None,
    language: ReportLanguage = "en",
) -> str:
    """A journal a communication team can hand to its management as is, in ``language``:
    a summary table, then for each incident its dates, duration, cause, evidence, notices
    and journal of actions (who did what, when). Times are local to ``zone``."""
    w = report_words(language)

    def moment(at: datetime | None, fmt: str = w.full_format) -> str:
        return local_time(at, zone, fmt)

    def label(name: str) -> str:
        return f"- **{name}{w.colon}**"

    def duration(delta: timedelta) -> str:
        return journal_text(delta, day_unit=w.day_unit)

    lines = [f"# {w.title}", ""]
    scope = w.platform_scope.format(platform=platform) if platform else ""
    end = w.long_date(now.astimezone(zone))
    if since is not None:
        period = w.period_since.format(
            start=w.long_date(since.astimezone(zone)), end=end, zone=zone.key, scope=scope
        )
    else:
        period = w.period_all.format(end=end, zone=zone.key, scope=scope)
    lines += [period, ""]
    if not entries:
        lines += [w.nothing, ""]
        return "\n".join(lines)
    total = sum((e.incident.duration(now) for e in entries), timedelta())
    still_open = sum(1 for e in entries if e.incident.is_open)
    count = w.incidents[0] if len(entries) == 1 else w.incidents[1]
    lines.append(
        w.total.format(count=len(entries), incidents=count, duration=duration(total))
        + (w.still_open_count.format(count=still_open) if still_open else "")
        + "."
    )
    lines += ["", w.table_header, "|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        i = e.incident
        lines.append(
            f"| {i.id} | {moment(i.opened_at, w.short_format)} | "
            f"{moment(i.resolved_at, w.short_format) if i.resolved_at else w.open} | "
            f"{duration(i.duration(now))} | {w.scopes[i.scope.value]} | {_cell(', '.join(i.platforms))} | "
            f"{w.kinds[i.kind.value]} | {e.notices_sent} | {e.notices_failed} |"
        )
    for e in entries:
        i = e.incident
        lines += ["", "## " + w.section.format(id=i.id, name=i.name, kind=w.kinds[i.kind.value]), ""]
        lines.append(f"{label(w.opened)} {moment(i.opened_at)}")
        if i.confirmed_at:
            lines.append(f"{label(w.confirmed)} {moment(i.confirmed_at)}")
        lines.append(f"{label(w.resolved)} {moment(i.resolved_at) if i.resolved_at else w.still_open}")
        lines.append(f"{label(w.duration)} {duration(i.duration(now))}")
        lines.append(f"{label(w.scope)} {w.scopes[i.scope.value]} {i.name} ({', '.join(i.platforms)})")
        if i.cause:
            lines.append(f"{label(w.cause)} {i.cause}")
        if i.message:
            lines.append(f"{label(w.message)} {i.message}")
        for message_language, text in i.messages:
            lines.append(f"{label(w.message_in.format(language=message_language))} {text}")
        notices = w.notices.format(
            sent=e.notices_sent, failed=e.notices_failed, skipped=e.notices_skipped, pending=e.notices_pending
        )
        lines.append(f"{label(w.notices_label)} {notices}")
        if i.evidence:
            lines.append(label(w.evidence))
            lines += [f"  - {item}" for item in i.evidence]
        if e.actions:
            lines.append(label(w.journal))
            for action in e.actions:
                what = w.actions[action.kind.value]
                text = f"{w.colon} {_one_line(action.text)}" if action.text else ""
                lines.append(f"  - {moment(action.at)} — {_one_line(action.actor)} — {what}{text}")
    lines.append("")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _print_journal(entries: Sequence[JournalEntry], now: datetime, zone: ZoneInfo) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not entries:
        console.print("No incident in this period.")
        return
    table = Table(title=f"incidents (times in {zone.key})", title_justify="left")
    for column in ("#", "opened", "duration", "scope", "name", "kind", "cause", "notices"):
        table.add_column(column, overflow="fold")
    for e in entries:
        i = e.incident
        duration = journal_text(i.duration(now)) + ("" if i.resolved_at else " (open)")
        table.add_row(
            str(i.id),
            local_time(i.opened_at, zone, "%Y-%m-%d %H:%M"),
            duration,
            i.scope.value,
            i.name,
            i.kind.value,
            i.cause,
            f"{e.notices_sent} sent, {e.notices_failed} failed"
            + (
                f", {e.notices_pending} awaiting approval"
                if i.approval is Approval.awaiting and i.is_open
                else ""
            ),
        )
    console.print(table)


@main.command()
@click.argument("incident_id", metavar="ID", type=int)
@click.argument("text", nargs=-1, required=True)
@config_option
def note(incident_id: int, text: tuple[str, ...], config_path: Path | None) -> None:
    """Add a note to incident ID's journal of actions: what was done, decided or learnt
    (`failover note 12 called the ISP, repair by 18:00`). The journal keeps its time and
    its author (your user name); no notice and no public post ever carries either."""
    config = load_configuration(config_path, contacts=False)
    action = note_manual(config, incident_id, " ".join(text), actor=operator_name(), now=utc_now())
    zone = ZoneInfo(config.daemon.timezone)
    click.echo(
        f"incident {incident_id}: note by {action.actor} at {local_time(action.at, zone)} ({zone.key})"
    )
