"""``failover retract``: take back the notices of an incident sent by mistake (a correction
to each recipient, the public posts deleted where the channel allows it). Next to
``trigger``, ``cancel`` and ``resolve`` (:mod:`failover.cli._manual_cmds`), whose preview,
confirmation and delivery it shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from failover.cli._main import config_option, fail, load_configuration, main, operator_name
from failover.cli._manual_cmds import TriggerCommand, confirm, deliver_with_progress, print_plan
from failover.service import (
    MESSAGE_LANGUAGES,
    RetractPost,
    deliver_manual,
    retract_manual,
    retraction_json,
    retraction_preview,
    run_async,
    utc_now,
)


def _correction_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--message-en TEXT``, ``--message-fr TEXT`` …, for ``failover retract``: the
    correction written for one language."""
    for language in reversed(MESSAGE_LANGUAGES):
        command = click.option(
            f"--message-{language}",
            f"message_{language}",
            metavar="TEXT",
            help=f"Your correction to recipients whose language is {language!r} (instead of --message).",
        )(command)
    return command


def _post_line(post: RetractPost, *, done: bool) -> str:
    where = f"{post.channel_ref} ({post.scheme})" if post.scheme else post.channel_ref
    if post.deleted:
        return f"public post on {where}: " + ("deleted" if done else "deleted with the retraction")
    return (
        f"public post on {where}: [yellow]not deleted[/] ({post.reason}); "
        "delete it by hand (noted in the journal)"
    )


@main.command(cls=TriggerCommand)
@click.argument("incident_id", metavar="ID", type=int)
@click.option(
    "--reason", required=True, metavar="TEXT", help="Why it is retracted (kept in the journal, never sent)."
)
@click.option(
    "-m",
    "--message",
    metavar="TEXT",
    help="Your correction, before the built-in one (to recipients of every language).",
)
@_correction_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the retraction as JSON (as the API answers it).")
@config_option
def retract(  # noqa: PLR0917 - click passes every option as an argument
    incident_id: int,
    reason: str,
    message: str | None,
    yes: bool,
    as_json: bool,
    config_path: Path | None,
    **language_messages: str | None,
) -> None:
    """Retract incident ID, whose notices went out by mistake: everyone who received one
    gets a correction (on the same channel, in the same language), its public posts are
    deleted where the channel allows it (Mastodon statuses), its notices not yet sent are
    withdrawn, and it is closed: nothing more is sent about it, not even a recovery.

    The correction says the earlier message was sent by mistake, after your own words
    (--message, or --message-fr / --message-en for one language). Shows what would be
    sent, asks for confirmation; a running daemon sends the corrections, otherwise this
    command does. The reason enters the incident's journal with your user name.
    """
    messages = {
        name.removeprefix("message_"): text for name, text in language_messages.items() if text is not None
    }
    if message is not None and not message.strip():
        fail("--message must not be blank: leave it out to send the built-in correction alone")
    if not reason.strip():
        fail("--reason must not be blank: it is kept in the journal")
    from rich.console import Console

    config = load_configuration(config_path)
    console = Console(stderr=as_json)
    plan = retraction_preview(config, incident_id, now=utc_now(), message=message or "", messages=messages)
    title = f"Retraction of incident {incident_id}"
    if plan.corrections:
        print_plan(plan.plan, console, config, title=title)
    else:
        incident = plan.incident
        console.print(f"[bold]{title}[/]: {incident.scope.value} [bold]{incident.name}[/]")
        console.print("no notice of it reached anyone: there is nothing to correct")
    if plan.withdrawn:
        console.print(f"{plan.withdrawn} notice(s) not yet sent will be withdrawn: never sent")
    if plan.in_flight:
        console.print(f"{plan.in_flight} notice(s) being sent now get a correction if they go out")
    for post in plan.posts:
        console.print(_post_line(post, done=False))
    confirm(f"Retract incident {incident_id} and send {plan.corrections} correction(s)?", yes)
    report = retract_manual(
        config,
        incident_id,
        actor=operator_name(),
        reason=reason,
        now=utc_now(),
        message=message or "",
        messages=messages,
    )
    outcome = report.outcome
    if not as_json:
        console.print(
            f"incident [bold]{incident_id}[/] retracted: {outcome.withdrawn} notice(s) withdrawn, "
            f"{outcome.corrections} correction(s) queued"
        )
        for post in outcome.posts:
            console.print(_post_line(post, done=True))
    delivery: dict[str, int] | None = None
    if outcome.corrections and report.daemon_running and not as_json:
        console.print("the running daemon sends the corrections")
    elif outcome.corrections and not report.daemon_running:
        if as_json:
            delivered = run_async(
                deliver_manual(
                    config, incident_id, on_progress=lambda _done, _total: None, event_key=outcome.event_key
                )
            )
            delivery = {state.value: count for state, count in sorted(delivered.states.items())}
        else:
            console.print("no daemon is running: delivering from here")
            deliver_with_progress(config, incident_id, console, None, event_key=outcome.event_key)
    if as_json:
        answer = {**retraction_json(outcome), "daemon_running": report.daemon_running, "delivery": delivery}
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
