"""Manual failover: open an incident by hand (or from Alertmanager), preview and queue its
notices, cancel them within the hold, resolve it with recovery notices.

A trigger names a configured platform or family, or explicitly a custom incident (a typo
must not page everyone). One outage is one incident: a trigger on what an open incident
already covers (:func:`find_coverage`) is attached to that incident, a note in its
journal, and sends nothing, unless the operator sends it as an update of that incident.

Everything here goes through the same record path as the rounds: :func:`plan_notices`
decides who hears of what, and one ``Store.record_decision`` call writes the incident and
its notices in one transaction, so the daemon's notice pump delivers them like any other.
The functions are synchronous (the store is); the daemon calls them in a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Literal

from failover.config import Config
from failover.detect import IncidentChange
from failover.domain import (
    Approval,
    Channel,
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Visibility,
)
from failover.errors import ConfigError, FailoverError
from failover.logs import get_logger
from failover.notify import (
    BUILTIN_TEMPLATES,
    channel_scheme,
    eligible_channels,
    format_duration,
    language_gaps,
    manual_message,
    public_text_problems,
    render_notice,
)
from failover.service._database import daemon_running, open_store
from failover.service._notices import SHARED_PREFIX, NoticePump, notice_template, plan_notices
from failover.service._runtime import utc_now
from failover.store import ActionKind, IncidentAction, Notice, NoticeDraft, NoticeState, Store

__all__ = [
    "MESSAGE_LANGUAGES",
    "NOTE_MAX",
    "ApprovalError",
    "ApproveOutcome",
    "ApproveReport",
    "CancelOutcome",
    "Coverage",
    "CoverageChangedError",
    "DeliveryReport",
    "FanOutDuration",
    "IncidentNotFoundError",
    "ManualPlan",
    "ManualTarget",
    "NothingToUpdateError",
    "OwnApprovalError",
    "PreviewGap",
    "PreviewText",
    "RejectOutcome",
    "ResolveOutcome",
    "ResolveReport",
    "TargetError",
    "TriggerAction",
    "TriggerOutcome",
    "TriggerRecord",
    "approval_plan",
    "approval_preview",
    "approve_incident",
    "approve_manual",
    "cancel_incident",
    "cancel_manual",
    "covers",
    "deliver_manual",
    "fan_out_durations",
    "find_coverage",
    "find_target",
    "manual_incident",
    "note_incident",
    "note_manual",
    "open_manual",
    "plan_manual",
    "preview_manual",
    "record_trigger",
    "reject_incident",
    "reject_manual",
    "resolve_incident",
    "resolve_manual",
    "trigger_manual",
]

#: Notices that will not move any more.
FINAL_STATES = frozenset(
    {NoticeState.sent, NoticeState.failed, NoticeState.skipped, NoticeState.silenced, NoticeState.cancelled}
)
_PREVIEW_CONTACT_NAME = "<contact name>"
#: The languages a manual message may be written in: those of the built-in texts, which
#: are the languages contacts may have.
MESSAGE_LANGUAGES: tuple[str, ...] = tuple(
    sorted({language for template in BUILTIN_TEMPLATES.values() for language in template.texts})
)


class IncidentNotFoundError(FailoverError):
    """No incident has this id (or it cannot be handled by hand)."""


class TargetError(ConfigError):
    """A trigger names no configured platform or family (``custom`` False), or gives a
    custom incident the name of one (``custom`` True). Carries what is configured, so
    that each surface can say how to do it right."""

    def __init__(self, name: str, *, custom: bool, platforms: Sequence[str], families: Sequence[str]) -> None:
        self.name = name
        self.custom = custom
        self.platforms = tuple(platforms)
        self.families = tuple(families)
        if custom:
            message = f"{name!r} is a configured platform or family: name it without --custom"
        else:
            message = (
                f"unknown platform or family {name!r} ({self.configured}); "
                "use --custom NAME for anything else"
            )
        super().__init__(message)

    @property
    def configured(self) -> str:
        """``platforms: a, b; families: meta``, as the error messages show it."""
        platforms = ", ".join(self.platforms) or "none"
        return f"platforms: {platforms}; families: {', '.join(self.families) or 'none'}"


class NothingToUpdateError(FailoverError):
    """An update was asked for, but no open incident covers the target."""


class CoverageChangedError(FailoverError):
    """The open incident covering the target is not the one the preview showed."""


class ApprovalError(FailoverError):
    """An approval or a rejection of an incident that is not awaiting one (never was, was
    approved or rejected already, or was closed), or a trigger that cannot wait for one."""


class OwnApprovalError(ApprovalError):
    """An operator approving the manual message they triggered themselves: four eyes
    means two people."""


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True, kw_only=True, slots=True)
class ManualTarget:
    """What a manual incident is about: a platform, a family, or a custom name."""

    scope: IncidentScope
    name: str
    platforms: tuple[str, ...]


def find_target(config: Config, name: str, *, scope: IncidentScope | None = None) -> ManualTarget:
    """The platform or family called ``name`` (a configured platform first), or, with
    ``scope=custom``, a custom target of that name. With ``scope`` platform or family,
    only that kind is looked up.

    Raises :class:`TargetError` for a name that is not configured (a typo must not page
    everyone about nothing), and for a custom name that is a configured platform or
    family (whose incidents name their platforms and meet the judge's)."""
    platforms = {p.name: p for p in config.platforms}
    families: dict[str, list[str]] = {}
    for platform in config.platforms:
        if platform.family:
            families.setdefault(platform.family, []).append(platform.name)
    if scope is IncidentScope.custom:
        if name not in platforms and name not in families:
            return ManualTarget(scope=IncidentScope.custom, name=name, platforms=())
    elif scope in (None, IncidentScope.platform) and name in platforms:
        return ManualTarget(scope=IncidentScope.platform, name=name, platforms=(name,))
    elif scope in (None, IncidentScope.family) and name in families:
        return ManualTarget(scope=IncidentScope.family, name=name, platforms=tuple(families[name]))
    raise TargetError(
        name,
        custom=scope is IncidentScope.custom,
        platforms=sorted(platforms),
        families=sorted(families),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Coverage:
    """An open incident that already covers a trigger's target, and what it told whom."""

    incident: Incident
    #: recipients told so far (a notice of the incident sent to them)
    notified: int
    #: when the first of those notices went out; None before any did
    notified_at: datetime | None
    #: notices of the incident still to go (held back, waiting or being sent)
    waiting: int


def covers(incident: Incident, target: ManualTarget) -> bool:
    """Whether ``incident`` is open, told (confirmed, or opened by hand), and about all of
    ``target``: every platform of it, or, for a custom target, the custom incident of
    that name. An outage the judge only suspects covers nothing yet."""
    if not incident.is_open or incident.confirmed_at is None:
        return False
    if target.scope is IncidentScope.custom:
        return incident.scope is IncidentScope.custom and incident.name == target.name
    return bool(target.platforms) and set(target.platforms) <= set(incident.platforms)


def find_coverage(store: Store, target: ManualTarget) -> Coverage | None:
    """The oldest open incident covering ``target``, if any, with what it told."""
    for incident in store.open_incidents():
        if incident.id is None or not covers(incident, target):
            continue
        notices = store.notices(incident.id)
        sent = [n for n in notices if n.state is NoticeState.sent]
        times = [n.sent_at for n in sent if n.sent_at is not None]
        return Coverage(
            incident=incident,
            notified=len({n.contact_ref for n in sent}),
            notified_at=min(times) if times else None,
            waiting=sum(1 for n in notices if n.state in (NoticeState.pending, NoticeState.sending)),
        )
    return None


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def manual_incident(
    target: ManualTarget,
    *,
    message: str,
    now: datetime,
    key: str | None = None,
    messages: Mapping[str, str] | None = None,
) -> Incident:
    """A new manual incident, opened and confirmed ``now``. Its key never collides with the
    judge's (``manual:`` prefix); ``key`` overrides it (Alertmanager's fingerprint).
    ``messages`` are the operator's texts written for one language each, ``message`` the
    text for every other language."""
    return Incident(
        key=key or f"manual:{target.scope}:{target.name}:{_stamp(now)}",
        scope=target.scope,
        kind=IncidentKind.manual,
        name=target.name,
        platforms=target.platforms,
        opened_at=now,
        confirmed_at=now,
        cause="manual failover",
        message=message,
        messages=tuple(sorted((messages or {}).items())),
    )


# ------------------------------------------------------------------------------ preview


@dataclass(frozen=True, kw_only=True, slots=True)
class PreviewText:
    """A template rendered in one language, as recipients of that language will read it
    (the contact's name is shown as a placeholder)."""

    template: str
    language: str
    visibility: Visibility
    subject: str
    body: str
    recipients: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PreviewGap:
    """Recipients whose language something is not written in: the operator's ``message``,
    the ``alternatives``, or a ``template`` (named). They get the text of ``used``
    instead, or, when ``used`` is None, none at all."""

    language: str
    what: Literal["alternatives", "message", "template"]
    used: str | None
    recipients: int
    template: str | None = None


#: how a preview names the channel kinds people know by name (any other: its scheme)
_CHANNEL_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "mailto": "e-mail",
        "mailtos": "e-mail",
        "signal": "Signal",
        "signals": "Signal",
        "mastodon": "Mastodon",
        "mastodons": "Mastodon",
        "toot": "Mastodon",
        "toots": "Mastodon",
        "tgram": "Telegram",
        "whatsapp": "WhatsApp",
        "discord": "Discord",
        "slack": "Slack",
        "twitter": "X",
        "x": "X",
        "tweet": "X",
    }
)


def _about(seconds: float) -> str:
    """``under a minute``, ``about 45 min``, ``about 2 h 47 min``, ``about 1 day and 4 h``."""
    if seconds < 60:
        return "under a minute"
    return "about " + format_duration(timedelta(minutes=round(seconds / 60)), language="en")


@dataclass(frozen=True, kw_only=True, slots=True)
class FanOutDuration:
    """How long telling the recipients of one channel kind takes: one delivery each, at
    that scheme's ``[notify] rate_per_minute``. More concurrency goes no faster than the
    rate, so the rate alone sets it (the first few may go at once, the rest at the pace)."""

    scheme: str
    recipients: int
    rate_per_minute: int

    @property
    def seconds(self) -> float:
        return self.recipients * 60.0 / self.rate_per_minute

    @property
    def text(self) -> str:
        """``10,000 recipients by e-mail: about 2 h 47 min at 60/min``."""
        kind = _CHANNEL_KINDS.get(self.scheme, self.scheme)
        who = f"{self.recipients:,} recipient{'' if self.recipients == 1 else 's'}"
        return f"{who} by {kind}: {_about(self.seconds)} at {self.rate_per_minute:,}/min"


def fan_out_durations(config: Config, channels: Sequence[tuple[str, int]]) -> tuple[FanOutDuration, ...]:
    """How long each channel kind of a plan's ``channels`` takes at the configured rates
    (recipients without a usable channel take none)."""
    return tuple(
        FanOutDuration(scheme=scheme, recipients=count, rate_per_minute=config.notify.rate_for(scheme))
        for scheme, count in channels
        if scheme != "none" and count > 0
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ManualPlan:
    """What a manual incident would send: the notices to queue, the texts, and how many
    recipients each channel kind reaches. Counts and schemes only: never an address."""

    incident: Incident
    event: IncidentEvent
    drafts: tuple[NoticeDraft, ...]
    texts: tuple[PreviewText, ...]
    #: (scheme, recipients) in decreasing order; ``"none"`` for recipients without a usable channel
    channels: tuple[tuple[str, int], ...]
    hold_until: datetime | None
    #: what was triggered (None: a plan that is no trigger, e.g. a recovery)
    target: ManualTarget | None = None
    #: the open incident that already covers the target: then ``incident`` is that one, and
    #: the drafts are what an update of it would send
    covered_by: Coverage | None = None
    #: recipients whose language the message, the alternatives or a template is not written in
    gaps: tuple[PreviewGap, ...] = ()
    #: how long each channel kind of ``channels`` takes at the configured rates
    durations: tuple[FanOutDuration, ...] = ()

    @property
    def recipients(self) -> int:
        return len(self.drafts)


#: drafts whose recipients are looked up at once
_LOOKED_UP_AT_ONCE = 2000


def _first_scheme(
    channels: Sequence[Channel], channel_ref: str | None, incident: Incident, visibility: Visibility
) -> str:
    if channel_ref is not None:
        preferred = [c for c in channels if c.ref == channel_ref]
        channels = [*preferred, *(c for c in channels if c.ref != channel_ref)]
    usable = eligible_channels(channels, down_platforms=incident.platforms, visibility_needed=visibility)
    return channel_scheme(usable[0].url) if usable else "none"


def _channels_of(
    config: Config, drafts: Sequence[NoticeDraft], incident: Incident, event: IncidentEvent
) -> tuple[tuple[str, int], ...]:
    """(scheme, recipients) of the first usable channel of each draft's recipient, most first."""
    schemes: Counter[str] = Counter()
    shared = {channel.ref: channel for channel in config.channels.values()}
    visibility = {
        name: notice_template(config, name, event).visibility for name in {d.template for d in drafts}
    }
    of_contact: dict[str, list[NoticeDraft]] = {}
    for draft in drafts:
        if draft.contact_ref.startswith(SHARED_PREFIX):
            channels = [shared[draft.contact_ref]] if draft.contact_ref in shared else []
            schemes[_first_scheme(channels, draft.channel_ref, incident, visibility[draft.template])] += 1
        else:
            of_contact.setdefault(draft.contact_ref, []).append(draft)

    def count(contact: Contact) -> None:
        for draft in of_contact.pop(contact.id, ()):
            schemes[
                _first_scheme(contact.channels, draft.channel_ref, incident, visibility[draft.template])
            ] += 1

    if len(of_contact) > _LOOKED_UP_AT_ONCE:
        # most of the address book: one pass over it reads it faster than lookups by id
        for contact in config.everyone():
            count(contact)
    else:
        for contact in config.contacts_by_id(list(of_contact)).values():
            count(contact)
    # recipients no longer in the address book have no channel
    schemes["none"] += sum(len(left) for left in of_contact.values())
    if not schemes["none"]:
        del schemes["none"]
    return tuple(schemes.most_common())


def plan_for(
    config: Config,
    incident: Incident,
    event: IncidentEvent,
    *,
    now: datetime,
    groups: Collection[str] = (),
    hold_until: datetime | None = None,
    event_key: str | None = None,
) -> ManualPlan:
    """The notices an incident event would queue, with their preview. ``event_key`` names
    an occurrence of an event that repeats (an update of an incident). Each notice carries
    the operator's words in its reader's language (see :func:`failover.notify.manual_message`)."""
    schemes: Counter[str] = Counter()
    visibility: dict[str, Visibility] = {}

    def told(contact: Contact, template: str) -> None:
        if template not in visibility:
            visibility[template] = notice_template(config, template, event).visibility
        schemes[_first_scheme(contact.channels, None, incident, visibility[template])] += 1

    drafts = tuple(
        plan_notices(
            config,
            [IncidentChange(event=event, incident=incident)],
            now=now,
            hold_until=hold_until,
            groups=tuple(groups) or None,
            message=incident.message or None,
            message_for=partial(_message_for, incident) if incident.messages else None,
            event_key=event_key,
            on_contact=told,
        )
    )
    # the contacts were counted as they were read; the shared channels now
    schemes.update(
        dict(
            _channels_of(
                config, [d for d in drafts if d.contact_ref.startswith(SHARED_PREFIX)], incident, event
            )
        )
    )
    by_text: Counter[tuple[str, str]] = Counter((d.template, d.language) for d in drafts)
    readers: Counter[str] = Counter(d.language for d in drafts)
    gaps = [
        PreviewGap(language=gap.language, what=gap.what, used=gap.used, recipients=readers[gap.language])
        for gap in language_gaps(
            readers,
            alternatives=config.alternatives,
            # the text for every language leaves no language without one
            message=dict(incident.messages) if incident.messages and not incident.message else None,
        )
    ]
    texts = []
    channels = tuple(schemes.most_common())
    for (template_name, language), count in sorted(by_text.items()):
        template = notice_template(config, template_name, event)
        rendered = render_notice(
            template=template,
            language=language,
            incident=incident,
            event=event,
            contact=Contact(name=_PREVIEW_CONTACT_NAME, language=language, timezone=config.daemon.timezone),
            now=now,
            alternatives=config.alternatives,
            platform_names={p.name: p.display_name for p in config.platforms},
            # the operator's words, shown even in an update of an incident the judge opened
            message=_message_for(incident, language),
        )
        if rendered.language != language:
            gaps.append(
                PreviewGap(
                    language=language,
                    what="template",
                    used=rendered.language,
                    recipients=count,
                    template=template_name,
                )
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
    return ManualPlan(
        incident=incident,
        event=event,
        drafts=drafts,
        texts=tuple(texts),
        channels=channels,
        hold_until=hold_until,
        gaps=tuple(sorted(gaps, key=lambda gap: (gap.language, gap.what, gap.template or ""))),
        durations=fan_out_durations(config, channels),
    )


def _message_for(incident: Incident, language: str) -> str | None:
    """The operator's words for readers of ``language``; None when the incident has none."""
    return manual_message(language, message=incident.message, messages=dict(incident.messages)) or None


def plan_manual(
    config: Config,
    target: ManualTarget,
    *,
    message: str,
    now: datetime,
    groups: Sequence[str] = (),
    hold: timedelta = timedelta(0),
    key: str | None = None,
    covered_by: Coverage | None = None,
    messages: Mapping[str, str] | None = None,
) -> ManualPlan:
    """A manual incident about ``target`` and the notices it would queue (nothing written).

    ``messages`` are the operator's texts written for one language each (of
    :data:`MESSAGE_LANGUAGES`), ``message`` the text for every language without one; each
    recipient is sent the text of their language. Raises :class:`ConfigError` naming the
    key (``messages.de``) for a language no text is written in, a blank text, no text at
    all, and personal data in any text bound for a public channel.

    With ``covered_by`` (see :func:`find_coverage`), the notices are those an update of
    that incident would queue: the operator's message to the incident's recipients, as an
    occurrence of its own (``<key>/update/<time>``), so that each update is sent once."""
    messages = dict(messages or {})
    _check_messages(message, messages)
    unknown = [group for group in groups if group not in config.groups]
    if unknown:
        known = ", ".join(sorted(config.groups)) or "none"
        raise ConfigError(f"unknown group {unknown[0]!r} (configured: {known})")
    hold_until = now + hold if hold > timedelta(0) else None
    if covered_by is not None:
        incident = dataclasses.replace(
            covered_by.incident, message=message, messages=tuple(sorted(messages.items()))
        )
        plan = plan_for(
            config,
            incident,
            IncidentEvent.manual,
            now=now,
            groups=groups,
            hold_until=hold_until,
            event_key=f"{incident.key}/update/{_stamp(now)}",
        )
    else:
        incident = manual_incident(target, message=message, now=now, key=key, messages=messages)
        plan = plan_for(config, incident, IncidentEvent.manual, now=now, groups=groups, hold_until=hold_until)
    texts = [("message", message), *((f"messages.{lang}", text) for lang, text in sorted(messages.items()))]
    _refuse_personal_data_in_public(config, plan, texts)
    return dataclasses.replace(plan, target=target, covered_by=covered_by)


def _check_messages(message: str, messages: Mapping[str, str]) -> None:
    unknown = sorted(set(messages) - set(MESSAGE_LANGUAGES))
    if unknown:
        raise ConfigError(
            f"no texts are written in {unknown[0]!r}: a message may be written in "
            f"{', '.join(MESSAGE_LANGUAGES)}, or for every language",
            key=f"messages.{unknown[0]}",
        )
    for language, text in sorted(messages.items()):
        if not text.strip():
            raise ConfigError(f"the {language} message must not be blank", key=f"messages.{language}")
    if not messages and not message:
        raise ConfigError("a message is required: it is what the notices say", key="message")


def _refuse_personal_data_in_public(
    config: Config, plan: ManualPlan, texts: Sequence[tuple[str, str]]
) -> None:
    """A message bound for a public channel may carry no e-mail address or phone number
    but the organisation's own, and no contact's name, in any of its languages (``texts``:
    ``(key, text)``): refused before anything is queued."""
    public = sorted(
        {
            draft.contact_ref
            for draft in plan.drafts
            if notice_template(config, draft.template, plan.event).visibility is Visibility.public
        }
    )
    if not public:
        return
    for key, text in texts:
        problems = public_text_problems(text, config) if text else []
        if problems:
            which = "the message" if key == "message" else f"the {key.removeprefix('messages.')} message"
            raise ConfigError(
                f"{which} goes to public channels ({', '.join(public)}) and may carry no personal "
                f"data: {'; '.join(problems)}",
                key=key,
            )


def open_manual(
    store: Store,
    plan: ManualPlan,
    *,
    now: datetime,
    actor: str | None = None,
    awaiting_approval: bool = False,
) -> Incident:
    """Record the incident and queue its notices in one transaction; the incident as stored.
    ``actor`` (who triggered it) enters its journal of actions, never a notice. With
    ``awaiting_approval`` the incident awaits a second operator's approval: its notices are
    recorded, and none goes out before :func:`approve_incident`."""
    actions = (
        {plan.incident.key: [IncidentAction(at=now, actor=actor, kind=ActionKind.triggered)]}
        if actor is not None
        else None
    )
    incident = (
        dataclasses.replace(plan.incident, approval=Approval.awaiting) if awaiting_approval else plan.incident
    )
    stored = store.record_decision(
        at=now, incident_events=[(plan.event, incident)], notices=plan.drafts, actions=actions
    )
    return stored[0]


class TriggerAction(enum.StrEnum):
    """What a manual trigger did."""

    #: a manual incident opened, its notices queued
    opened = "opened"
    #: recorded in the journal of the open incident that covers the target; nothing sent
    attached = "attached"
    #: the message queued for the recipients of the covering incident, as an update of it
    updated = "updated"


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerRecord:
    action: TriggerAction
    #: the incident opened, attached to or updated, as stored
    incident: Incident
    #: notices queued
    notices: int


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def record_trigger(
    store: Store,
    plan: ManualPlan,
    *,
    update: bool,
    via: str,
    now: datetime,
    actor: str | None = None,
    awaiting_approval: bool = False,
) -> TriggerRecord:
    """Record a planned trigger: open its incident, or, when an open incident covers its
    target, attach the trigger to that incident's journal (nothing sent) or, with
    ``update``, queue the update the plan shows. ``via`` (``cli``, ``api``) goes into
    the journal; so does ``actor`` (who triggered: ``via`` when not given), as an action.

    With ``awaiting_approval`` (``[manual] approval = "required"``) an incident opened
    awaits a second operator's approval (see :func:`approve_incident`), and an update,
    which would go out at once, is refused with :class:`ApprovalError`.

    Raises :class:`NothingToUpdateError` for an update that no open incident covers, and
    :class:`CoverageChangedError` when the incident covering the target is no longer the
    one the plan was made with (the operator saw another preview): nothing is recorded."""
    if plan.target is not None:
        current = find_coverage(store, plan.target)
        planned = plan.covered_by.incident.id if plan.covered_by is not None else None
        if (current.incident.id if current is not None else None) != planned:
            now_covered = (
                f"incident {current.incident.id} now covers {plan.target.name}"
                if current is not None
                else f"no open incident covers {plan.target.name} any more"
            )
            raise CoverageChangedError(f"{now_covered}; nothing recorded: look at the preview again")
    covering = plan.covered_by
    if covering is None:
        if update:
            raise NothingToUpdateError(
                f"no open incident covers {plan.incident.name}: there is nothing to update"
            )
        opened = open_manual(store, plan, now=now, actor=actor or via, awaiting_approval=awaiting_approval)
        return TriggerRecord(action=TriggerAction.opened, incident=opened, notices=plan.recipients)
    if update and awaiting_approval:
        raise ApprovalError(
            "manual messages need a second operator's approval ([manual] approval), which an "
            f"update of incident {covering.incident.id} cannot wait for: nothing recorded"
        )
    incident_id = covering.incident.id
    assert incident_id is not None  # incidents read from the store have ids
    if update:
        store.record_decision(at=now, notices=plan.drafts)
        store.note_incident(
            incident_id, f"update via {via} at {_when(now)}: {plan.recipients} notice(s) queued"
        )
        action, queued = TriggerAction.updated, plan.recipients
        done = IncidentAction(at=now, actor=actor or via, kind=ActionKind.updated)
    else:
        store.note_incident(incident_id, f"trigger via {via} at {_when(now)} attached: nothing sent")
        action, queued = TriggerAction.attached, 0
        done = IncidentAction(at=now, actor=actor or via, kind=ActionKind.attached)
    store.record_action(incident_id, done)
    stored = store.incident(incident_id)
    return TriggerRecord(action=action, incident=stored or covering.incident, notices=queued)


# ------------------------------------------------------------------------------ cancel, resolve


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelOutcome:
    incident: Incident
    cancelled: int
    #: notices already sent (or being sent) when the cancellation came
    already_sent: int


def _manual_incident(store: Store, incident_id: int) -> Incident:
    incident = store.incident(incident_id)
    if incident is None:
        raise IncidentNotFoundError(f"no incident {incident_id}")
    if incident.kind is not IncidentKind.manual:
        raise IncidentNotFoundError(
            f"incident {incident_id} was opened by the judge, not by hand; "
            "it resolves itself when the platform recovers"
        )
    return incident


def cancel_incident(
    store: Store, incident_id: int, *, now: datetime, actor: str | None = None
) -> CancelOutcome:
    """Cancel a manual incident's notices still waiting (within the hold) and close it.
    Notices already sent stay sent; nothing more is sent about it, not even a recovery.
    ``actor`` (who cancelled) enters its journal of actions."""
    incident = _manual_incident(store, incident_id)
    cancelled = store.cancel_notices(incident_id)
    notices = store.notices(incident_id)
    sent = sum(1 for n in notices if n.state in (NoticeState.sent, NoticeState.sending))
    if incident.is_open:
        closed = dataclasses.replace(
            incident, id=None, resolved_at=now, cause=f"cancelled by hand ({cancelled} notices withdrawn)"
        )
        incident = store.record_decision(
            at=now, incident_updates=[closed], actions=_done_by(actor, ActionKind.cancelled, incident, now)
        )[0]
    return CancelOutcome(incident=incident, cancelled=cancelled, already_sent=sent)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveOutcome:
    incident: Incident
    #: recovery notices queued
    queued: int
    #: notices of the opening withdrawn because they were still held back
    cancelled: int
    already_resolved: bool = False


def _done_by(
    actor: str | None, kind: ActionKind, incident: Incident, now: datetime
) -> dict[str, list[IncidentAction]] | None:
    return {incident.key: [IncidentAction(at=now, actor=actor, kind=kind)]} if actor is not None else None


def resolve_incident(
    store: Store, config: Config, incident_id: int, *, now: datetime, actor: str | None = None
) -> ResolveOutcome:
    """Resolve a manual incident and queue its recovery notices. If none of its opening
    notices has gone out yet (all still held), they are withdrawn and no recovery is sent:
    nobody would understand a recovery from an outage they never heard of. ``actor`` (who
    resolved it) enters its journal of actions, never a notice."""
    incident = _manual_incident(store, incident_id)
    if not incident.is_open:
        return ResolveOutcome(incident=incident, queued=0, cancelled=0, already_resolved=True)
    resolved = dataclasses.replace(incident, id=None, resolved_at=now)
    notices = store.notices(incident_id)
    went_out = [n for n in notices if n.state not in (NoticeState.pending, NoticeState.cancelled)]
    if notices and not went_out:
        cancelled = store.cancel_notices(incident_id)
        stored = store.record_decision(
            at=now, incident_updates=[resolved], actions=_done_by(actor, ActionKind.resolved, incident, now)
        )[0]
        return ResolveOutcome(incident=stored, queued=0, cancelled=cancelled)
    plan = plan_for(config, resolved, IncidentEvent.resolved, now=now)
    stored = store.record_decision(
        at=now,
        incident_events=[(IncidentEvent.resolved, resolved)],
        notices=plan.drafts,
        actions=_done_by(actor, ActionKind.resolved, incident, now),
    )[0]
    return ResolveOutcome(incident=stored, queued=len(plan.drafts), cancelled=0)


# ------------------------------------------------------------------------------ approval


def _awaiting(store: Store, incident_id: int) -> Incident:
    incident = _manual_incident(store, incident_id)
    if incident.approval is not Approval.awaiting or not incident.is_open:
        state = (
            "was never awaiting approval"
            if incident.approval is None
            else "is closed"
            if incident.approval is Approval.awaiting
            else f"was {incident.approval.value} already"
        )
        raise ApprovalError(f"incident {incident_id} {state}: nothing to approve or reject")
    return incident


def _triggered_by(store: Store, incident_id: int) -> str | None:
    """Who triggered an incident, as its journal of actions says."""
    for action in store.actions([incident_id]).get(incident_id, ()):
        if action.kind is ActionKind.triggered:
            return action.actor
    return None


def _held_for(notices: Sequence[Notice], hold: timedelta | None) -> timedelta | None:
    """How long the notices of an approved incident are held: ``hold``, else as long as
    their trigger held them."""
    if hold is not None:
        return hold
    held = [n.not_before - n.created_at for n in notices if n.not_before is not None]
    return max(held) if held else None


def approval_plan(
    store: Store, config: Config, incident_id: int, *, now: datetime, hold: timedelta | None = None
) -> ManualPlan:
    """What approving incident ``incident_id`` would send, as the trigger's preview showed
    it: the texts, recipients per channel kind, and the hold, counted from ``now``.
    Raises :class:`IncidentNotFoundError` and :class:`ApprovalError` (not awaiting approval)."""
    incident = _awaiting(store, incident_id)
    notices = [n for n in store.notices(incident_id) if n.state is NoticeState.pending]
    held = _held_for(notices, hold)
    hold_until = now + held if held is not None and held > timedelta(0) else None
    plan = plan_for(config, incident, IncidentEvent.manual, now=now, hold_until=hold_until)
    # the recorded notices, as the trigger planned them (the routes' groups included)
    waiting = {n.idempotency_key for n in notices}
    kept = tuple(d for d in plan.drafts if d.idempotency_key in waiting)
    channels = _channels_of(config, kept, incident, IncidentEvent.manual)
    return dataclasses.replace(
        plan, drafts=kept, channels=channels, durations=fan_out_durations(config, channels)
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ApproveOutcome:
    incident: Incident
    #: notices let out
    released: int
    #: when they go out (None: at once)
    hold_until: datetime | None


def approve_incident(
    store: Store, incident_id: int, *, actor: str, now: datetime, hold: timedelta | None = None
) -> ApproveOutcome:
    """A second operator's approval of a manual incident awaiting it: its notices go out
    once ``hold`` has passed from ``now`` (None: the trigger's hold, from ``now`` too), and
    ``actor`` enters its journal of actions. Raises :class:`OwnApprovalError` when
    ``actor`` triggered it, :class:`ApprovalError` when it is not awaiting approval (or
    stopped awaiting it meanwhile), :class:`IncidentNotFoundError`."""
    incident = _awaiting(store, incident_id)
    if _triggered_by(store, incident_id) == actor:
        raise OwnApprovalError(
            f"{actor} triggered incident {incident_id}: another operator must approve it "
            "(nothing sent, nothing changed)"
        )
    notices = [n for n in store.notices(incident_id) if n.state is NoticeState.pending]
    held = _held_for(notices, hold)
    released = store.approve_incident(
        incident_id, IncidentAction(at=now, actor=actor, kind=ActionKind.approved), hold=held or timedelta(0)
    )
    if released is None:
        raise ApprovalError(f"incident {incident_id} stopped awaiting approval meanwhile: nothing changed")
    stored = store.incident(incident_id) or incident
    hold_until = now + held if held is not None and held > timedelta(0) else None
    return ApproveOutcome(incident=stored, released=released, hold_until=hold_until)


@dataclass(frozen=True, kw_only=True, slots=True)
class RejectOutcome:
    incident: Incident
    #: notices withdrawn
    withdrawn: int


def reject_incident(
    store: Store, incident_id: int, *, actor: str, reason: str, now: datetime
) -> RejectOutcome:
    """Withdraw the notices of a manual incident awaiting approval and close it as
    rejected; ``actor`` and ``reason`` enter its journal of actions (the operator who
    triggered it may withdraw their own message). Raises :class:`ConfigError` for a blank
    or overlong reason, :class:`ApprovalError` when it is not awaiting approval,
    :class:`IncidentNotFoundError`."""
    reason = reason.strip()
    if not reason:
        raise ConfigError("a rejection needs a reason", key="reason")
    if len(reason) > NOTE_MAX:
        raise ConfigError(f"a reason is {NOTE_MAX} characters at most", key="reason")
    _awaiting(store, incident_id)
    action = IncidentAction(at=now, actor=actor, kind=ActionKind.rejected, text=reason)
    withdrawn = store.reject_incident(incident_id, action, cause=f"rejected by {actor}: {reason}")
    if withdrawn is None:
        raise ApprovalError(f"incident {incident_id} stopped awaiting approval meanwhile: nothing changed")
    stored = store.incident(incident_id)
    assert stored is not None  # it was just rejected
    return RejectOutcome(incident=stored, withdrawn=withdrawn)


#: the longest note the journal takes
NOTE_MAX = 2000


def note_incident(store: Store, incident_id: int, text: str, *, actor: str, now: datetime) -> IncidentAction:
    """Add an operator's note to an incident's journal of actions (any incident: the
    judge's too). Raises :class:`IncidentNotFoundError` for an unknown incident and
    :class:`ConfigError` for an empty or overlong note. Notes are for the journal: no
    notice carries them."""
    text = text.strip()
    if not text:
        raise ConfigError("a note needs a text")
    if len(text) > NOTE_MAX:
        raise ConfigError(f"a note is {NOTE_MAX} characters at most")
    action = IncidentAction(at=now, actor=actor, kind=ActionKind.note, text=text)
    if not store.record_action(incident_id, action):
        raise IncidentNotFoundError(f"no incident {incident_id}")
    return action


def _notices_of(store: Store, incident_id: int, event_key: str | None) -> list[Notice]:
    notices = store.notices(incident_id)
    return [n for n in notices if n.event_key == event_key] if event_key is not None else notices


def pending_of(store: Store, incident_id: int, event_key: str | None = None) -> tuple[int, int]:
    """(notices finished, notices in all) of one incident, or of one of its events."""
    notices = _notices_of(store, incident_id, event_key)
    return sum(1 for n in notices if n.state in FINAL_STATES), len(notices)


# ------------------------------------------------------------------------------ for the CLI


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerOutcome:
    incident: Incident
    notices: int
    #: a daemon holds the database and will deliver; otherwise the caller should
    daemon_running: bool
    action: TriggerAction = TriggerAction.opened


def preview_manual(
    config: Config,
    target: ManualTarget,
    *,
    message: str,
    now: datetime,
    groups: Sequence[str] = (),
    hold: timedelta = timedelta(0),
    messages: Mapping[str, str] | None = None,
) -> ManualPlan:
    """``failover trigger``'s preview: :func:`plan_manual`, knowing from the database
    whether an open incident already covers the target (nothing written)."""
    with open_store(config) as store:
        covered_by = find_coverage(store, target)
    return plan_manual(
        config,
        target,
        message=message,
        now=now,
        groups=groups,
        hold=hold,
        covered_by=covered_by,
        messages=messages,
    )


def trigger_manual(
    config: Config, plan: ManualPlan, *, now: datetime, update: bool = False, actor: str | None = None
) -> TriggerOutcome:
    """Record a planned trigger (see :func:`record_trigger`; ``actor``: the operator's
    user name); say whether a daemon will send what it queued."""
    with open_store(config) as store:
        record = record_trigger(
            store,
            plan,
            update=update,
            via="cli",
            now=now,
            actor=actor,
            awaiting_approval=config.manual.approval == "required",
        )
        running = daemon_running(store, now=now)
    return TriggerOutcome(
        incident=record.incident, notices=record.notices, daemon_running=running, action=record.action
    )


def cancel_manual(
    config: Config, incident_id: int, *, now: datetime, actor: str | None = None
) -> CancelOutcome:
    """``failover cancel ID``: withdraw a manual incident's waiting notices and close it."""
    with open_store(config) as store:
        return cancel_incident(store, incident_id, now=now, actor=actor)


def note_manual(config: Config, incident_id: int, text: str, *, actor: str, now: datetime) -> IncidentAction:
    """``failover note ID TEXT``: see :func:`note_incident`."""
    with open_store(config) as store:
        return note_incident(store, incident_id, text, actor=actor, now=now)


def approval_preview(
    config: Config, incident_id: int, *, now: datetime, hold: timedelta | None = None
) -> ManualPlan:
    """``failover approve``'s preview: see :func:`approval_plan`."""
    with open_store(config) as store:
        return approval_plan(store, config, incident_id, now=now, hold=hold)


@dataclass(frozen=True, kw_only=True, slots=True)
class ApproveReport:
    outcome: ApproveOutcome
    daemon_running: bool


def approve_manual(
    config: Config, incident_id: int, *, actor: str, now: datetime, hold: timedelta | None = None
) -> ApproveReport:
    """``failover approve ID``: see :func:`approve_incident`; say whether a daemon sends."""
    with open_store(config) as store:
        outcome = approve_incident(store, incident_id, actor=actor, now=now, hold=hold)
        running = daemon_running(store, now=now)
    return ApproveReport(outcome=outcome, daemon_running=running)


def reject_manual(
    config: Config, incident_id: int, *, actor: str, reason: str, now: datetime
) -> RejectOutcome:
    """``failover reject ID --reason TEXT``: see :func:`reject_incident`."""
    with open_store(config) as store:
        return reject_incident(store, incident_id, actor=actor, reason=reason, now=now)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveReport:
    outcome: ResolveOutcome
    daemon_running: bool


def resolve_manual(
    config: Config, incident_id: int, *, now: datetime, actor: str | None = None
) -> ResolveReport:
    """``failover resolve ID``: resolve a manual incident and queue its recovery notices."""
    with open_store(config) as store:
        outcome = resolve_incident(store, config, incident_id, now=now, actor=actor)
        running = daemon_running(store, now=now)
    return ResolveReport(outcome=outcome, daemon_running=running)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    """How an incident's notices ended when the command delivered them itself."""

    states: dict[NoticeState, int]
    finished: bool

    @property
    def sent(self) -> int:
        return self.states.get(NoticeState.sent, 0)


async def deliver_manual(
    config: Config,
    incident_id: int,
    *,
    on_progress: Callable[[int, int], None],
    event_key: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    poll_s: float = 0.2,
) -> DeliveryReport:
    """Deliver an incident's notices from this process (no daemon runs): the hold is
    respected (held notices are not due before it ends), ``on_progress(done, total)`` is
    called as they finish. ``event_key`` follows and reports only the notices of that
    event (an update of an incident that told people before). Cancelled (Ctrl-C), the
    notices still waiting stay in the outbox for the next daemon or command; a notice in
    flight ends first."""
    with open_store(config) as store:
        incident = store.incident(incident_id)
        platforms = incident.platforms if incident is not None else ()
        pump = NoticePump(
            config=config,
            store=store,
            clock=clock,
            down_platforms=lambda: platforms,
            log=get_logger("failover.notices"),
        )
        async with pump:
            stop = asyncio.Event()
            task = asyncio.create_task(pump.run(stop), name="failover-notice-pump")
            finished = False
            try:
                while not task.done():
                    done, total = await asyncio.to_thread(pending_of, store, incident_id, event_key)
                    on_progress(done, total)
                    if done >= total:
                        finished = True
                        break
                    pump.wake()
                    await asyncio.sleep(poll_s)
            finally:
                stop.set()
                await pump.drain(5.0)
                await task
        notices = _notices_of(store, incident_id, event_key)
    return DeliveryReport(states=dict(Counter(n.state for n in notices)), finished=finished)
