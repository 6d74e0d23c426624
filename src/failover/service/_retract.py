"""Retract and correct: an incident whose notices went out by mistake (a manual failover
about the wrong platform, a judge that cried wolf) is retracted.

In one transaction (:meth:`Store.retract_incident`) its notices still waiting are
withdrawn (``cancelled``: the pump never sends them), one correction is queued per
recipient told of it (sent, or in flight: a correction waits for its recipient's notice
in flight and goes only if that one went out), and the incident is closed, marked
retracted, with a ``retracted`` action naming who and why in its journal. A retracted
incident sends nothing more but its corrections: no recovery, no reminder, no update.

A correction goes to the same recipient, through the channel their notice went through,
in the language it was written in: the operator's words for that language (``messages``,
else ``message``), then the built-in correction (``correction``, ``correction-public``
for a public channel, which posts it publicly). The posts the public notices made are
then deleted where the channel allows it (a Mastodon status whose id was kept, with the
channel's own token); where it does not, or the deletion failed, a note in the journal
says which channel's post must be deleted by hand. Neither the journal's notes nor any
correction carries a token, an address or the operator's name.

Like the other operator actions, the functions are synchronous (the store is, and so is
the deletion); the daemon runs them in a worker thread.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from failover.config import Config
from failover.domain import Channel, Contact, Incident, IncidentEvent, NoticeState, Visibility
from failover.errors import ConfigError, FailoverError, NotifyError
from failover.notify import (
    PostDeletion,
    channel_scheme,
    delete_post,
    deletion_problem,
    language_gaps,
    manual_message,
    public_text_problems,
    render_notice,
)
from failover.service._channels import notice_channels
from failover.service._database import daemon_running, open_store
from failover.service._manual_plan import MESSAGE_LANGUAGES, ManualPlan, PreviewGap, PreviewText
from failover.service._manual_target import NOTE_MAX, IncidentNotFoundError
from failover.service._plan import SHARED_PREFIX, notice_template
from failover.service._status import incident_json
from failover.store import ActionKind, IncidentAction, Notice, NoticeDraft, Store

__all__ = [
    "AlreadyRetractedError",
    "RetractOutcome",
    "RetractPlan",
    "RetractPost",
    "RetractReport",
    "corrections_event_key",
    "plan_corrections",
    "retract_incident",
    "retract_manual",
    "retraction_json",
    "retraction_plan",
    "retraction_preview",
]

_PREVIEW_CONTACT_NAME = "<contact name>"
#: what a deletion function looks like (:func:`failover.notify.delete_post`)
DeletePost = Callable[[Channel, str | None], PostDeletion]


class AlreadyRetractedError(FailoverError):
    """The incident was retracted already: its corrections went (or go) out once."""


def corrections_event_key(incident: Incident) -> str:
    """The event key the corrections of ``incident`` share (to follow their delivery)."""
    return f"{incident.key}/{IncidentEvent.retracted}"


def _visibility(config: Config, notice: Notice) -> Visibility:
    """Whether ``notice`` was public: its template's visibility (a shared channel's own
    when its template is no longer configured)."""
    try:
        return notice_template(config, notice.template, notice.event).visibility
    except NotifyError:
        if notice.contact_ref.startswith(SHARED_PREFIX):
            channel = notice_channels(config).get(notice.contact_ref)
            if channel is not None:
                return channel.visibility
        return Visibility.private


def _told(notices: Sequence[Notice]) -> dict[str, list[Notice]]:
    """Per recipient, in the order they were first told, their notices of the incident that
    went out or are going out (a correction for each of them)."""
    told: dict[str, list[Notice]] = {}
    for notice in notices:
        if notice.event is IncidentEvent.retracted:
            continue
        if notice.state in (NoticeState.sent, NoticeState.sending):
            told.setdefault(notice.contact_ref, []).append(notice)
    return told


def plan_corrections(
    config: Config,
    incident: Incident,
    notices: Sequence[Notice],
    *,
    message: str = "",
    messages: Mapping[str, str] | None = None,
) -> list[NoticeDraft]:
    """One correction per recipient the incident's ``notices`` told (or are telling): in
    the language and through the channel of the first of those notices (a notice in
    flight names its channel once it went out), public when it was public, with the
    operator's words for that language. Pure."""
    drafts = []
    for contact_ref, told in _told(notices).items():
        first = min(told, key=lambda n: n.id)
        sent = [n for n in told if n.state is NoticeState.sent and n.channel_ref]
        via = min(sent, key=lambda n: (n.sent_at or n.created_at, n.id)).channel_ref if sent else None
        public = any(_visibility(config, n) is Visibility.public for n in told)
        drafts.append(
            NoticeDraft(
                incident_key=incident.key,
                event=IncidentEvent.retracted,
                contact_ref=contact_ref,
                template="correction-public" if public else "correction",
                language=first.language,
                channel_ref=via,
                message=manual_message(first.language, message=message, messages=messages) or None,
            )
        )
    return drafts


def _check_texts(
    config: Config,
    incident_id: int,
    *,
    reason: str | None,
    message: str,
    messages: Mapping[str, str],
    public: bool,
) -> None:
    """Refuse a blank or overlong reason, a message for a language nothing is written in, a
    blank message, and personal data in a message bound for a public channel (naming the key)."""
    if reason is not None:
        if not reason:
            raise ConfigError("a retraction needs a reason (kept in the journal)", key="reason")
        if len(reason) > NOTE_MAX:
            raise ConfigError(f"a reason is {NOTE_MAX} characters at most", key="reason")
    unknown = sorted(set(messages) - set(MESSAGE_LANGUAGES))
    if unknown:
        raise ConfigError(
            f"no texts are written in {unknown[0]!r}: a correction may be written in "
            f"{', '.join(MESSAGE_LANGUAGES)}, or for every language",
            key=f"messages.{unknown[0]}",
        )
    texts = [("message", message), *((f"messages.{lang}", text) for lang, text in sorted(messages.items()))]
    for key, text in texts:
        if len(text) > NOTE_MAX:
            raise ConfigError(f"a correction is {NOTE_MAX} characters at most", key=key)
    for language, text in sorted(messages.items()):
        if not text.strip():
            raise ConfigError(f"the {language} correction must not be blank", key=f"messages.{language}")
    if not public:
        return
    for key, text in texts:
        problems = public_text_problems(text, config) if text else []
        if problems:
            which = (
                "the correction" if key == "message" else f"the {key.removeprefix('messages.')} correction"
            )
            raise ConfigError(
                f"{which} goes to the public channels incident {incident_id} posted on, and may "
                f"carry no personal data: {'; '.join(problems)}",
                key=key,
            )


def _retractable(store: Store, incident_id: int) -> Incident:
    incident = store.incident(incident_id)
    if incident is None:
        raise IncidentNotFoundError(f"no incident {incident_id}")
    if incident.retracted_at is not None:
        raise AlreadyRetractedError(
            f"incident {incident_id} was retracted already: its corrections went out once "
            "(`failover note ID TEXT` adds to its journal)"
        )
    return incident


# ------------------------------------------------------------------------------ preview


@dataclass(frozen=True, kw_only=True, slots=True)
class RetractPost:
    """A public post a notice of the incident made: on which channel (its ref, never its
    URL), and whether it was (or can be) deleted, else why not."""

    channel_ref: str
    scheme: str
    deleted: bool
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetractPlan:
    """What retracting an incident would do now: the corrections (as a preview of a plan),
    the notices still waiting (withdrawn) and in flight, and the public posts to delete."""

    plan: ManualPlan
    withdrawn: int
    in_flight: int
    #: the public posts made, with whether failover can delete them (``deleted`` stands
    #: for "can be": nothing is deleted by a preview)
    posts: tuple[RetractPost, ...]

    @property
    def incident(self) -> Incident:
        return self.plan.incident

    @property
    def corrections(self) -> int:
        return len(self.plan.drafts)


def _deletable(config: Config, notice: Notice) -> RetractPost:
    channel = notice_channels(config).get(notice.channel_ref or "")
    ref = notice.channel_ref or notice.contact_ref
    if channel is None:
        return RetractPost(
            channel_ref=ref, scheme="", deleted=False, reason="the channel is no longer configured"
        )
    scheme = channel_scheme(channel.url)
    problem = deletion_problem(channel, notice.public_ref)
    return RetractPost(channel_ref=ref, scheme=scheme, deleted=problem is None, reason=problem or "")


def _public_posts(config: Config, notices: Sequence[Notice]) -> list[Notice]:
    """The incident's notices that went out (or are going out) as public posts."""
    return [
        n
        for n in notices
        if n.event is not IncidentEvent.retracted
        and n.state in (NoticeState.sent, NoticeState.sending)
        and _visibility(config, n) is Visibility.public
    ]


def retraction_plan(
    store: Store,
    config: Config,
    incident_id: int,
    *,
    now: datetime,
    message: str = "",
    messages: Mapping[str, str] | None = None,
) -> RetractPlan:
    """What retracting incident ``incident_id`` would do now, nothing written: the
    corrections rendered in each language, recipients per channel kind, the notices
    withdrawn, the public posts to delete. Raises :class:`IncidentNotFoundError`,
    :class:`AlreadyRetractedError`, and :class:`ConfigError` naming the key of a message
    refused (a language nothing is written in, personal data bound for a public channel)."""
    messages = dict(messages or {})
    incident = _retractable(store, incident_id)
    notices = store.notices(incident_id)
    public = any(_visibility(config, n) is Visibility.public for n in notices)
    _check_texts(config, incident_id, reason=None, message=message, messages=messages, public=public)
    drafts = plan_corrections(config, incident, notices, message=message, messages=messages)
    channels = notice_channels(config)
    schemes: Counter[str] = Counter()
    for index, draft in enumerate(drafts):
        if index % channels.KEPT == 0:
            # the next recipients read at once, not one by one
            ahead = drafts[index : index + channels.KEPT]
            channels.remember(config.contacts_by_id({d.contact_ref for d in ahead}).values())
        channel = channels.get(draft.channel_ref) if draft.channel_ref is not None else None
        # a correction for a notice in flight goes where that notice went, once it did
        if channel is not None:
            schemes[channel_scheme(channel.url)] += 1
        else:
            schemes["(notice in flight)" if draft.channel_ref is None else "none"] += 1
    texts = []
    platform_names = {p.name: p.display_name for p in config.platforms}
    by_text: Counter[tuple[str, str]] = Counter((d.template, d.language) for d in drafts)
    for (template_name, language), count in sorted(by_text.items()):
        template = notice_template(config, template_name, IncidentEvent.retracted)
        rendered = render_notice(
            template=template,
            language=language,
            incident=incident,
            event=IncidentEvent.retracted,
            contact=Contact(name=_PREVIEW_CONTACT_NAME, language=language, timezone=config.daemon.timezone),
            now=now,
            alternatives=config.alternatives,
            platform_names=platform_names,
            timezone=config.daemon.timezone,
            message=manual_message(language, message=message, messages=messages),
        )
        texts.append(
            PreviewText(
                template=template_name,
                language=rendered.language,
                visibility=template.visibility,
                subject=rendered.subject,
                body=rendered.body,
                recipients=count,
            )
        )
    readers: Counter[str] = Counter(d.language for d in drafts)
    gaps = tuple(
        PreviewGap(language=gap.language, what=gap.what, used=gap.used, recipients=readers[gap.language])
        for gap in language_gaps(
            readers, alternatives=(), message=messages if messages and not message else None
        )
        if gap.what == "message"
    )
    plan = ManualPlan(
        incident=incident,
        event=IncidentEvent.retracted,
        drafts=tuple(drafts),
        texts=tuple(texts),
        channels=tuple(schemes.most_common()),
        hold_until=None,
        gaps=gaps,
    )
    return RetractPlan(
        plan=plan,
        withdrawn=sum(1 for n in notices if n.state is NoticeState.pending),
        in_flight=sum(1 for n in notices if n.state is NoticeState.sending),
        posts=tuple(
            _deletable(config, n) for n in _public_posts(config, notices) if n.state is NoticeState.sent
        ),
    )


# ------------------------------------------------------------------------------ retract


@dataclass(frozen=True, kw_only=True, slots=True)
class RetractOutcome:
    """What a retraction did."""

    incident: Incident
    #: notices still waiting, withdrawn
    withdrawn: int
    #: corrections queued (one per recipient told)
    corrections: int
    #: public posts: deleted, or why not (each of those noted in the journal)
    posts: tuple[RetractPost, ...]

    @property
    def event_key(self) -> str:
        return corrections_event_key(self.incident)


def _post_note(post: RetractPost) -> str:
    where = f"{post.channel_ref} ({post.scheme})" if post.scheme else post.channel_ref
    if post.deleted:
        return f"retraction: public post deleted on {where}"
    return f"retraction: public post on {where} not deleted ({post.reason}): delete it by hand"


def retract_incident(
    store: Store,
    config: Config,
    incident_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
    message: str = "",
    messages: Mapping[str, str] | None = None,
    delete: DeletePost = delete_post,
) -> RetractOutcome:
    """Retract incident ``incident_id`` (see the module's docstring): withdraw its notices
    still waiting, queue a correction for each recipient it told, close it, record
    ``actor`` and ``reason`` in its journal, then delete its public posts where the channel
    allows it (``delete``), noting in the journal each post that must be deleted by hand.

    Raises :class:`IncidentNotFoundError`, :class:`AlreadyRetractedError` (also when
    another operator retracted it meanwhile: nothing changes), and :class:`ConfigError`
    naming the key (``reason``, ``message``, ``messages.de``) of a refused text."""
    reason = reason.strip()
    messages = dict(messages or {})
    incident = _retractable(store, incident_id)
    public = any(_visibility(config, n) is Visibility.public for n in store.notices(incident_id))
    _check_texts(config, incident_id, reason=reason, message=message, messages=messages, public=public)
    queued: list[NoticeDraft] = []

    def corrections(notices: Sequence[Notice]) -> Sequence[NoticeDraft]:
        queued[:] = plan_corrections(config, incident, notices, message=message, messages=messages)
        return queued

    action = IncidentAction(at=now, actor=actor, kind=ActionKind.retracted, text=reason)
    withdrawn = store.retract_incident(
        incident_id, action, cause=f"retracted by {actor}: {reason}", corrections=corrections
    )
    if withdrawn is None:
        raise AlreadyRetractedError(f"incident {incident_id} was retracted meanwhile: nothing changed")
    posts: list[RetractPost] = []
    for notice in _public_posts(config, store.notices(incident_id)):
        if notice.state is NoticeState.sending:
            post = RetractPost(
                channel_ref=notice.channel_ref or notice.contact_ref,
                scheme="",
                deleted=False,
                reason="it was being posted during the retraction; look whether it went out",
            )
        else:
            post = _deletable(config, notice)
            if post.deleted:
                channel = notice_channels(config)[post.channel_ref]
                done = delete(channel, notice.public_ref)
                if not done.deleted:
                    post = dataclasses.replace(post, deleted=False, reason=done.reason)
        posts.append(post)
        store.record_action(
            incident_id, IncidentAction(at=now, actor=actor, kind=ActionKind.note, text=_post_note(post))
        )
    stored = store.incident(incident_id)
    assert stored is not None  # it was just retracted
    return RetractOutcome(incident=stored, withdrawn=withdrawn, corrections=len(queued), posts=tuple(posts))


def retraction_json(outcome: RetractOutcome) -> dict[str, Any]:
    """A retraction as ``POST /api/v1/incidents/{id}/retract`` and ``failover retract
    --json`` answer it (the ``Retraction`` schema)."""
    return {
        "id": outcome.incident.id,
        "retracted": True,
        "withdrawn": outcome.withdrawn,
        "corrections": outcome.corrections,
        "posts": [
            {
                "channel": post.channel_ref,
                "scheme": post.scheme,
                "deleted": post.deleted,
                "reason": post.reason,
            }
            for post in outcome.posts
        ],
        "incident": incident_json(outcome.incident),
    }


# ------------------------------------------------------------------------------ for the CLI


def retraction_preview(
    config: Config,
    incident_id: int,
    *,
    now: datetime,
    message: str = "",
    messages: Mapping[str, str] | None = None,
) -> RetractPlan:
    """``failover retract``'s preview: see :func:`retraction_plan`."""
    with open_store(config) as store:
        return retraction_plan(store, config, incident_id, now=now, message=message, messages=messages)


@dataclass(frozen=True, kw_only=True, slots=True)
class RetractReport:
    outcome: RetractOutcome
    #: a daemon holds the database and sends the corrections; otherwise the caller should
    daemon_running: bool


def retract_manual(
    config: Config,
    incident_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
    message: str = "",
    messages: Mapping[str, str] | None = None,
) -> RetractReport:
    """``failover retract ID --reason TEXT``: see :func:`retract_incident`; say whether a
    daemon sends the corrections."""
    with open_store(config) as store:
        outcome = retract_incident(
            store,
            config,
            incident_id,
            actor=actor,
            reason=reason,
            now=now,
            message=message,
            messages=messages,
        )
        running = daemon_running(store, now=now)
    return RetractReport(outcome=outcome, daemon_running=running)
