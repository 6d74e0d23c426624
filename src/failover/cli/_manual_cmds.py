"""Manual failover: ``failover trigger``, ``cancel``, ``approve``, ``reject`` and ``resolve``;
the preview, confirmation and delivery that ``failover retract`` shares."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from failover.cli._main import (
    EXIT_OK,
    EXIT_PROBLEM,
    ErrorTellingCommand,
    config_option,
    fail,
    load_configuration,
    main,
    operator_name,
)
from failover.config import Config, parse_duration
from failover.domain import IncidentKind, IncidentScope
from failover.service import (
    MESSAGE_LANGUAGES,
    Coverage,
    ManualPlan,
    PreviewGap,
    TriggerAction,
    approval_preview,
    approve_manual,
    cancel_manual,
    coverage_json,
    deliver_manual,
    find_target,
    plan_json,
    preview_manual,
    reject_manual,
    resolve_manual,
    run_async,
    trigger_manual,
    utc_now,
)

if TYPE_CHECKING:
    # rich is imported where something is drawn, never at import: `failover run` starts
    # without it (see failover.__main__)
    from rich.console import Console


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _optional_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    return None if value is None else _duration(ctx, param, value)


def _when(moment: datetime | None, config: Config) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(config.daemon.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _coverage_lines(coverage: Coverage, config: Config) -> list[str]:
    """What the open incident covering a target already did, and what the trigger will do."""
    incident = coverage.incident
    opened_by = "by hand" if incident.kind is IncidentKind.manual else "by the judge"
    told = (
        f"already notified {coverage.notified} contact(s) at {_when(coverage.notified_at, config)}"
        if coverage.notified
        else "has notified nobody yet"
    )
    if coverage.waiting:
        told += f"; {coverage.waiting} notice(s) still to go"
    return [
        f"[yellow]Incident {incident.id}[/] ({incident.scope.value} {incident.name}, opened {opened_by} "
        f"at {_when(incident.opened_at, config)}) is open and covers this: it {told}.",
        f"Without --update this trigger is recorded in incident {incident.id}'s journal and nothing is "
        f"sent; with --update the message below goes to its recipients as an update of it.",
    ]


def _gap_line(gap: PreviewGap) -> str:
    """One preview line: who is not read to in their language, and what they get instead."""
    readers = f"{gap.language} ({gap.recipients} recipient(s))"
    if gap.what == "template":
        return f"{readers}: template {gap.template!r} has no {gap.language} text; they get its {gap.used} one"
    if gap.used is None:
        if gap.what == "alternatives":
            return f"{readers}: no alternatives at all; the notices name no other way to reach you"
        return f"{readers}: no message at all"
    return f"{readers}: no {gap.what} written in {gap.language}; they get the {gap.used} {gap.what}"


def print_plan(plan: ManualPlan, console: Console, config: Config, *, title: str) -> None:
    """What would be sent: each text as rendered in each language, who is not read to in
    their own language (and what they get instead), recipients per channel kind (counts
    and schemes, never addresses) and how long each kind takes at its rate; first, the
    open incident that already covers the target, if one does."""
    from rich.panel import Panel
    from rich.table import Table

    target = plan.target
    scope, name = (
        (target.scope, target.name) if target is not None else (plan.incident.scope, plan.incident.name)
    )
    platforms = target.platforms if target is not None else plan.incident.platforms
    console.print(
        f"[bold]{title}[/]: {scope.value} [bold]{name}[/]"
        + (f" ({', '.join(platforms)})" if platforms and platforms != (name,) else "")
    )
    if plan.covered_by is not None:
        for line in _coverage_lines(plan.covered_by, config):
            console.print(line)
    if plan.hold_until is not None:
        console.print(
            f"held until {_when(plan.hold_until, config)}: cancel before then with `failover cancel ID`"
        )
    if not plan.drafts:
        console.print("[yellow]No route sends anything for this incident: nobody would be told.[/]")
        return
    for text in plan.texts:
        heading = (
            f"{text.language} · {text.template} ({text.visibility.value}) · {text.recipients} recipient(s)"
        )
        console.print(
            Panel(f"[bold]{text.subject}[/]\n\n{text.body.rstrip()}", title=heading, title_align="left")
        )
    if plan.gaps:
        console.print("[yellow]Not written in every recipient's language:[/]")
        for gap in plan.gaps:
            console.print(f"  {_gap_line(gap)}", markup=False, highlight=False)
    table = Table(title="recipients per channel", title_justify="left")
    table.add_column("channel")
    table.add_column("recipients", justify="right")
    for scheme, count in plan.channels:
        table.add_row("no usable channel" if scheme == "none" else scheme, str(count))
    console.print(table)
    if plan.durations:
        console.print("How long telling them takes, at the configured rates ([notify] rate_per_minute):")
        for duration in plan.durations:
            console.print(f"  {duration.text}", markup=False, highlight=False)


def _printed_as_json(plan: ManualPlan, *, as_json: bool, update: bool) -> bool:
    """``trigger --json``: print what the API's dry run answers for the same trigger."""
    if not as_json:
        return False
    action = (
        TriggerAction.opened
        if plan.covered_by is None
        else TriggerAction.updated
        if update
        else TriggerAction.attached
    )
    answer = {
        "accepted": True,
        "dry_run": True,
        "action": action.value,
        "covered_by": coverage_json(plan.covered_by) if plan.covered_by is not None else None,
        "preview": plan_json(plan),
    }
    # times in ISO 8601, as the API writes them
    click.echo(json.dumps(answer, ensure_ascii=False, indent=2, default=datetime.isoformat))
    return True


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not a terminal: add --yes to confirm without a prompt")
    if not click.confirm(question, default=False):
        fail("nothing sent", EXIT_OK)


def deliver_with_progress(
    config: Config,
    incident_id: int,
    console: Console,
    hold_until: datetime | None,
    *,
    event_key: str | None = None,
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # on a terminal the bar takes log lines (stderr) above itself, unless stderr goes
    # elsewhere (a file, the journal): then they go there, as everywhere else
    redirect = sys.stderr.isatty()
    with Progress(*columns, console=console, transient=False, redirect_stderr=redirect) as progress:
        description = "delivering"
        if hold_until is not None and hold_until > utc_now():
            description = f"held until {_when(hold_until, config)}, then delivering"
        task = progress.add_task(description, total=None)

        def on_progress(done: int, total: int) -> None:
            now = utc_now()
            label = "delivering" if hold_until is None or now >= hold_until else description
            progress.update(task, completed=done, total=total, description=label)

        try:
            report = run_async(
                deliver_manual(config, incident_id, on_progress=on_progress, event_key=event_key)
            )
        except KeyboardInterrupt:
            console.print(
                "[yellow]Interrupted[/]: the notices not yet sent stay queued; `failover run` "
                f"delivers them, or `failover cancel {incident_id}` withdraws them."
            )
            raise SystemExit(EXIT_PROBLEM) from None
    summary = ", ".join(f"{count} {state.value}" for state, count in sorted(report.states.items())) or "none"
    console.print(f"notices: {summary}")


class TriggerCommand(ErrorTellingCommand):
    """``failover trigger``: ``--message-LANG`` for a language no message can be written in
    is a usage error naming that language and those that can be used."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            language = exc.option_name.removeprefix("--message-")
            if not exc.option_name.startswith("--message-") or not language:
                raise
            options = ", ".join(f"--message-{known}" for known in MESSAGE_LANGUAGES)
            raise click.UsageError(
                f"no message can be written in {language!r}: use {options}, or --message for every language",
                ctx=ctx,
            ) from None


def _message_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--message-en TEXT``, ``--message-fr TEXT`` …: one option per language a message can
    be written in (:data:`failover.service.MESSAGE_LANGUAGES`)."""
    for language in reversed(MESSAGE_LANGUAGES):
        command = click.option(
            f"--message-{language}",
            f"message_{language}",
            metavar="TEXT",
            help=f"What the notices say to contacts whose language is {language!r} (instead of --message).",
        )(command)
    return command


def _messages_given(message: str | None, language_messages: dict[str, str | None]) -> dict[str, str]:
    """The texts per language given as ``--message-LANG`` (``message_LANG``), by language;
    no text at all is a usage error, a blank one a failure."""
    messages = {
        name.removeprefix("message_"): text for name, text in language_messages.items() if text is not None
    }
    if message is None and not messages:
        options = ", ".join(f"--message-{language}" for language in MESSAGE_LANGUAGES)
        raise click.UsageError(
            f"Missing option '-m' / '--message' (or {options}): it is what the notices say",
            ctx=click.get_current_context(),
        )
    if message is not None and not message.strip():
        fail("--message must not be blank: it is what the notices say")
    for language, text in sorted(messages.items()):
        if not text.strip():
            fail(f"--message-{language} must not be blank: it is what the notices say to them")
    return messages


@main.command(cls=TriggerCommand)
@click.argument("target", required=False)
@click.option("--custom", metavar="NAME", help="Something that is not a configured platform or family.")
@click.option("-m", "--message", help="What the notices say, in your words (to contacts of every language).")
@_message_options
@click.option(
    "-g", "--group", "groups", multiple=True, metavar="G", help="Tell only this group (repeatable)."
)
@click.option(
    "--hold",
    default="0s",
    callback=_duration,
    show_default=True,
    help="Wait this long before sending (e.g. 60s); `failover cancel ID` stops it meanwhile.",
)
@click.option(
    "--update",
    is_flag=True,
    help="When an open incident already covers TARGET, send the message to its recipients as an update.",
)
@click.option("--dry-run", is_flag=True, help="Show the preview; record and send nothing.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the preview as JSON, as the API's dry run answers it; record and send nothing.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def trigger(  # noqa: PLR0917 - click passes every option as an argument
    target: str | None,
    custom: str | None,
    message: str | None,
    groups: tuple[str, ...],
    hold: timedelta,
    update: bool,
    dry_run: bool,
    as_json: bool,
    yes: bool,
    config_path: Path | None,
    **language_messages: str | None,
) -> None:
    """Manual failover: tell the people who hear of TARGET (a platform or a family, or
    --custom NAME) that it is down, and where to reach each other instead.

    Shows what would be sent and to how many, asks for confirmation, opens a manual
    incident and queues the notices. A running daemon sends them (after the hold);
    without one, this command delivers them itself.

    Each contact is sent the message written for their language (--message-fr,
    --message-en), else --message; the preview lists the languages left without a text
    and what their readers get instead.

    When an open incident (the judge's or a manual one) already covers TARGET, nobody is
    told twice: the trigger is recorded in that incident's journal and nothing is sent,
    unless --update sends the message to its recipients as an update of it.
    """
    messages = _messages_given(message, language_messages)
    if (target is None) == (custom is None):
        fail("name exactly one of PLATFORM, FAMILY or --custom NAME")
    from rich.console import Console

    config = load_configuration(config_path)
    console = Console()
    if custom is not None:
        manual_target = find_target(config, custom, scope=IncidentScope.custom)
    else:
        assert target is not None
        manual_target = find_target(config, target)
    plan = preview_manual(
        config,
        manual_target,
        message=message or "",
        messages=messages,
        now=utc_now(),
        groups=groups,
        hold=hold,
    )
    if update and plan.covered_by is None:
        fail(f"--update: no open incident covers {manual_target.name}, so there is nothing to update")
    if _printed_as_json(plan, as_json=as_json, update=update):
        return
    print_plan(plan, console, config, title="Manual failover" + (" (dry run)" if dry_run else ""))
    if dry_run:
        console.print("dry run: nothing recorded, nothing sent")
        return
    attach = plan.covered_by is not None and not update
    if not attach and not update and config.manual.approval == "required":
        console.print(
            "[yellow]approval required[/]: the notices wait for another operator's "
            "`failover approve ID`; the hold starts then"
        )
    if not attach:
        if not plan.drafts:
            fail("nobody to tell: no route covers this incident (see [[routes]] and --group)")
        what = f" as an update of incident {plan.incident.id}" if update else ""
        confirm(f"Send {plan.recipients} notice(s){what}?", yes)
    outcome = trigger_manual(config, plan, now=utc_now(), update=update, actor=operator_name())
    incident_id = outcome.incident.id
    assert incident_id is not None
    if outcome.action is TriggerAction.attached:
        console.print(
            f"recorded in the journal of incident [bold]{incident_id}[/]; nothing sent "
            "(--update sends your message to its recipients)"
        )
        return
    if outcome.action is TriggerAction.updated:
        console.print(f"incident [bold]{incident_id}[/] updated; {outcome.notices} notice(s) queued")
    else:
        console.print(f"incident [bold]{incident_id}[/] opened; {outcome.notices} notice(s) queued")
    if outcome.incident.approval is not None:
        console.print(
            f"[yellow]awaiting approval[/]: nothing is sent until another operator runs "
            f"`failover approve {incident_id}` (or `failover reject {incident_id} --reason TEXT`)"
        )
        return
    if outcome.daemon_running:
        console.print(
            f"the running daemon delivers them; `failover cancel {incident_id}` withdraws those not yet sent"
        )
        return
    console.print("no daemon is running: delivering from here")
    # an update follows only its own notices, not those the incident sent before
    event_key = plan.drafts[0].event_key if outcome.action is TriggerAction.updated else None
    deliver_with_progress(config, incident_id, console, plan.hold_until, event_key=event_key)


@main.command()
@click.argument("incident_id", metavar="ID", type=int)
@config_option
def cancel(incident_id: int, config_path: Path | None) -> None:
    """Withdraw a manual incident's notices not yet sent (within its hold) and close it."""
    config = load_configuration(config_path, contacts=False)
    outcome = cancel_manual(config, incident_id, now=utc_now(), actor=operator_name())
    click.echo(
        f"incident {incident_id}: {outcome.cancelled} notice(s) withdrawn"
        + (f", {outcome.already_sent} already sent" if outcome.already_sent else "")
    )


@main.command()
@click.argument("incident_id", metavar="ID", type=int)
@click.option(
    "--hold",
    default=None,
    callback=_optional_duration,
    help="Wait this long from now before sending (default: the trigger's hold, from now).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def approve(incident_id: int, hold: timedelta | None, yes: bool, config_path: Path | None) -> None:
    """Approve the manual message of incident ID, which awaits a second operator's
    approval ([manual] approval = "required"): shows what it sends, asks for
    confirmation, and lets its notices go out once the hold has passed (counted from
    now). The operator who triggered it cannot approve it."""
    from rich.console import Console

    config = load_configuration(config_path)
    console = Console()
    plan = approval_preview(config, incident_id, now=utc_now(), hold=hold)
    print_plan(plan, console, config, title=f"Approval of incident {incident_id}")
    if plan.drafts:
        confirm(f"Send {plan.recipients} notice(s)?", yes)
    report = approve_manual(config, incident_id, actor=operator_name(), now=utc_now(), hold=hold)
    outcome = report.outcome
    console.print(f"incident [bold]{incident_id}[/] approved; {outcome.released} notice(s) released")
    if not outcome.released:
        return
    if report.daemon_running:
        console.print(
            f"the running daemon delivers them; `failover cancel {incident_id}` withdraws those not yet sent"
        )
        return
    console.print("no daemon is running: delivering from here")
    deliver_with_progress(config, incident_id, console, outcome.hold_until)


@main.command()
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--reason", required=True, metavar="TEXT", help="Why it is rejected (kept in the journal).")
@config_option
def reject(incident_id: int, reason: str, config_path: Path | None) -> None:
    """Reject the manual message of incident ID, which awaits approval: its notices are
    withdrawn (nothing is sent) and the incident is closed; the reason enters its journal."""
    config = load_configuration(config_path, contacts=False)
    outcome = reject_manual(config, incident_id, actor=operator_name(), reason=reason, now=utc_now())
    click.echo(f"incident {incident_id} rejected: {outcome.withdrawn} notice(s) withdrawn, nothing sent")


@main.command()
@click.argument("incident_id", metavar="ID", type=int)
@config_option
def resolve(incident_id: int, config_path: Path | None) -> None:
    """Resolve a manual incident: its recipients are told the platform works again."""
    from rich.console import Console

    config = load_configuration(config_path)
    console = Console()
    report = resolve_manual(config, incident_id, now=utc_now(), actor=operator_name())
    outcome = report.outcome
    if outcome.already_resolved:
        click.echo(f"incident {incident_id} was already resolved")
        return
    if outcome.cancelled:
        click.echo(
            f"incident {incident_id} resolved before its notices went out: "
            f"{outcome.cancelled} withdrawn, no recovery sent"
        )
        return
    click.echo(f"incident {incident_id} resolved; {outcome.queued} recovery notice(s) queued")
    if report.daemon_running or not outcome.queued:
        return
    console.print("no daemon is running: delivering from here")
    deliver_with_progress(config, incident_id, console, None)
