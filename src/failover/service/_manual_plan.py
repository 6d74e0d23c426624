"""A manual incident's plan and preview: who would hear of it, through which channel kind,
in which language, with which text, and how long telling them all takes.

Everything goes through the same record path as the rounds: :func:`plan_notices`
decides who hears of what, and the plan's notices are what one ``Store.record_decision``
call writes with the incident, so the daemon's notice pump delivers them like any other.
Nothing here writes: a plan is what the operator previews before any action records it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Literal

from failover.config import Config
from failover.domain import Channel, Contact, Incident, IncidentChange, IncidentEvent, Visibility
from failover.errors import ConfigError
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
from failover.service._manual_target import Coverage, ManualTarget, _stamp, manual_incident
from failover.service._plan import SHARED_PREFIX, notice_template, plan_notices
from failover.store import NoticeDraft

__all__ = [
    "MESSAGE_LANGUAGES",
    "FanOutDuration",
    "ManualPlan",
    "PreviewGap",
    "PreviewText",
    "fan_out_durations",
    "plan_for",
    "plan_manual",
]

_PREVIEW_CONTACT_NAME = "<contact name>"
#: The languages a manual message may be written in: those of the built-in texts, which
#: are the languages contacts may have.
MESSAGE_LANGUAGES: tuple[str, ...] = tuple(
    sorted({language for template in BUILTIN_TEMPLATES.values() for language in template.texts})
)


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
