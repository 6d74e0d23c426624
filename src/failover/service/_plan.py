"""Who hears of what: the notices an incident event queues (:func:`plan_notices`) and the
reminders that came due, the template a route's notice is rendered with
(:func:`notice_template`), the silence that holds an incident's notices
(:func:`silence_matching`), and what the notifier checks when a configuration is loaded
(:func:`validate_notifications`).

Pure: no store, no clock, no I/O. A draft names its recipient by the contact's id (a
shared channel by its reference, behind :data:`SHARED_PREFIX`) and its template by name;
it is rendered when it is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta

from failover.config import Config
from failover.domain import Contact, Incident, IncidentChange, IncidentEvent, Route, Template, Visibility
from failover.errors import ConfigError, NotifyError, TemplateError
from failover.notify import (
    BUILTIN_TEMPLATES,
    ChannelRefusedError,
    builtin_template,
    check_channel,
    correction_template,
    public_text_problems,
    validate_template,
)
from failover.service._channels import written_channels
from failover.store import NoticeDraft, Silence

__all__ = [
    "SHARED_PREFIX",
    "describe_silence",
    "families_of",
    "notice_template",
    "plan_notices",
    "reminder_drafts",
    "silence_matching",
    "validate_notifications",
]

#: the prefix of a shared channel's notices' ``contact_ref`` (they have no contact)
SHARED_PREFIX = "channels."

_IncidentChangeLike = tuple[IncidentEvent, Incident] | IncidentChange


# ------------------------------------------------------------------------------ what to send


def notice_template(config: Config, name: str, event: IncidentEvent) -> Template:
    """The template a route named ``name`` uses for ``event``.

    A template of the configuration is used for every event (it can test ``event``). A
    built-in name stands for the built-in texts of its visibility: the outage text when
    an incident opens or is confirmed, the recovery text when it is resolved, and so on.
    Raises :class:`NotifyError` for a name that is neither.

    A retraction's corrections (``correction``, ``correction-public``) are built-in texts
    alone: no route names them, and no template of the configuration stands in for them.
    """
    if event is IncidentEvent.retracted:
        return correction_template(Visibility.public if name.endswith("-public") else Visibility.private)
    configured = config.templates.get(name)
    if configured is not None:
        return configured
    builtin = BUILTIN_TEMPLATES.get(name)
    if builtin is None:
        raise NotifyError(f"template {name!r} is not configured")
    return builtin_template(event, builtin.visibility)


def families_of(config: Config, incident: Incident) -> set[str]:
    families = {p.family for name in incident.platforms if (p := config.platform(name)) and p.family}
    if incident.scope.value == "family":
        families.add(incident.name)
    return families


def _route_matches(config: Config, route: Route, incident: Incident) -> bool:
    if not route.platforms and not route.families:
        return True
    if set(route.platforms) & set(incident.platforms):
        return True
    return bool(set(route.families) & families_of(config, incident))


def silence_matching(
    config: Config, incident: Incident, event: IncidentEvent, silences: Iterable[Silence], now: datetime
) -> Silence | None:
    """The silence in force at ``now`` that holds this incident's notices, if any.

    A silence names a platform, a family or ``*``. A manual failover is an operator's
    deliberate act, and so is a retraction: their notices are never silenced.
    """
    if event in (IncidentEvent.manual, IncidentEvent.retracted):
        return None
    names = {"*", incident.name, *incident.platforms, *families_of(config, incident)}
    for silence in silences:
        if silence.created_at <= now < silence.until and silence.name in names:
            return silence
    return None


def describe_silence(silence: Silence) -> str:
    reason = f": {silence.reason}" if silence.reason else ""
    return f"silenced (#{silence.id} {silence.name} until {silence.until:%Y-%m-%d %H:%M} UTC){reason}"


def _as_pair(change: _IncidentChangeLike) -> tuple[IncidentEvent, Incident]:
    if isinstance(change, IncidentChange):
        return change.event, change.incident
    return change


def _plan_event(
    config: Config,
    event: IncidentEvent,
    incident: Incident,
    *,
    now: datetime,
    silences: Sequence[Silence],
    hold_until: datetime | None,
    groups: Collection[str] | None,
    message: str | None,
    event_key: str | None = None,
    routes: Sequence[Route] | None = None,
    reminders_only: bool = False,
    message_for: Callable[[str], str | None] | None = None,
    on_contact: Callable[[Contact, str], None] | None = None,
) -> list[NoticeDraft]:
    silence = silence_matching(config, incident, event, silences, now)
    silenced_by = describe_silence(silence) if silence is not None else None
    drafts: list[NoticeDraft] = []
    taken: set[str] = set()
    chosen: list[tuple[Route, str]] = []  # the routes this event takes, with their templates
    words: dict[str, str | None] = {}  # the operator's message by language
    for route in config.routes if routes is None else routes:
        if reminders_only:
            if route.reminder_every is None:
                continue
        elif event not in route.events and not (
            # a family incident that grew is news for whoever heard of it opening
            event is IncidentEvent.updated and IncidentEvent.confirmed in route.events
        ):
            continue
        if not _route_matches(config, route, incident):
            continue
        chosen.append((route, notice_template(config, route.template, event).name))
    # one pass over the address book, however many routes: a contact goes to the first
    # route whose groups it is in (and, restricted, in one of ``groups`` too)
    heard: list[list[tuple[str, str, str | None]]] = [[] for _ in chosen]
    route_groups = [frozenset(route.groups) for route, _ in chosen]
    wanted = frozenset[str]().union(*route_groups)
    restricted = None if groups is None else frozenset(groups)
    if wanted and (restricted is None or restricted):
        for contact in config.everyone(groups=wanted, channels=on_contact is not None):
            if restricted is not None and restricted.isdisjoint(contact.groups):
                continue
            for index, reached in enumerate(route_groups):
                if not reached.isdisjoint(contact.groups):
                    # contacts are unique in the address book: each one heard is drafted
                    heard[index].append((contact.id, contact.language, None))
                    if on_contact is not None:
                        on_contact(contact, chosen[index][1])
                    break
    for (route, template), recipients in zip(chosen, heard, strict=True):
        if groups is None:
            # a restriction to groups (a manual failover for the team) posts nowhere else
            for name in route.channels:
                channel = config.channels[name]
                if reminders_only and channel.visibility is Visibility.public:
                    continue  # reminders are for operators, never the public
                recipients.append((channel.ref, channel.language or "en", channel.ref))
        for contact_ref, language, channel_ref in recipients:
            # one message per recipient and event: the first route that reaches them wins
            if contact_ref in taken:
                continue
            taken.add(contact_ref)
            if message_for is not None:
                if language not in words:
                    words[language] = message_for(language)
                message = words[language]
            drafts.append(
                NoticeDraft(
                    incident_key=incident.key,
                    event=event,
                    contact_ref=contact_ref,
                    template=template,
                    language=language,
                    channel_ref=channel_ref,
                    not_before=hold_until,
                    event_key=event_key,
                    silenced_by=silenced_by,
                    message=message,
                )
            )
    return drafts


def plan_notices(
    config: Config,
    changes: Sequence[_IncidentChangeLike],
    *,
    now: datetime,
    silences: Sequence[Silence] = (),
    hold_until: datetime | None = None,
    groups: Collection[str] | None = None,
    message: str | None = None,
    message_for: Callable[[str], str | None] | None = None,
    event_key: str | None = None,
    on_contact: Callable[[Contact, str], None] | None = None,
) -> list[NoticeDraft]:
    """The notices these incident events queue: for each event, every route that lists it
    and matches the incident's platforms or families reaches the contacts of its groups and
    its shared channels, one draft per (event, recipient) — a contact reached by two routes
    gets one message, with the first route's template.

    A silence in force queues them as ``silenced`` (recorded, never sent); ``hold_until``
    holds them back (a manual failover's cancellation window); ``groups`` restricts them to
    the contacts of these groups (and drops shared channels); ``message`` is the operator's
    text, shown instead of the incident's (``message_for(language)``: in each reader's
    language); ``event_key`` names the occurrence of an event that repeats (else an update
    is named by the incident's size); ``on_contact(contact, template)`` is told of each
    contact drafted, channels included, as the address book is read (a preview counts them
    without reading it again). Pure: the same inputs give the same drafts, and
    their idempotency keys make a replayed decision queue nothing twice.
    """
    drafts: list[NoticeDraft] = []
    for change in changes:
        event, incident = _as_pair(change)
        drafts += _plan_event(
            config,
            event,
            incident,
            now=now,
            silences=silences,
            hold_until=hold_until,
            groups=groups,
            message=message,
            message_for=message_for,
            on_contact=on_contact,
            # each growth of a family incident is told once (rendered when sent: it names
            # every member down by then)
            event_key=event_key
            or (
                f"{incident.key}/updated/{len(incident.platforms)}"
                if event is IncidentEvent.updated
                else None
            ),
        )
    return drafts


def reminder_drafts(
    config: Config, incidents: Iterable[Incident], *, now: datetime, silences: Sequence[Silence]
) -> list[NoticeDraft]:
    """Reminders that came due: the n-th of a route's interval since the incident began
    (``<incident key>/reminder/<n>``), only the latest when several came due at once."""
    drafts: list[NoticeDraft] = []
    for route in config.routes:
        every = route.reminder_every
        if every is None or every <= timedelta(0):
            continue
        for incident in incidents:
            if not incident.is_open:
                continue
            since = incident.confirmed_at or (incident.opened_at if incident.kind.value == "manual" else None)
            if since is None:
                continue  # an outage nobody was told about yet (not confirmed) needs no reminder
            count = int((now - since) / every)
            if count < 1:
                continue
            planned = _plan_event(
                config,
                IncidentEvent.reminder,
                incident,
                now=now,
                silences=silences,
                hold_until=None,
                groups=None,
                message=None,
                event_key=f"{incident.key}/reminder/{route.name}/{count}",
                routes=(route,),
                reminders_only=True,
            )
            drafts += planned
    return drafts


# --------------------------------------------------------------------------- load-time checks


def validate_notifications(config: Config) -> None:
    """What the notifier checks when a configuration is loaded: every template renders
    against a sample incident, a public one carries no personal data, and every channel
    may be used (one recipient, a private channel no public audience …). Raises
    :class:`ConfigError` naming the template or channel."""
    for name, template in config.templates.items():
        try:
            validate_template(template, events=_events_using(config, name))
        except TemplateError as exc:
            raise ConfigError(str(exc), key=f"templates.{name}", source=config.source) from None
        if template.visibility is Visibility.public:
            for language, text in template.texts.items():
                for part in ("subject", "body"):
                    if problems := public_text_problems(getattr(text, part), config):
                        raise ConfigError(
                            f"a public template may carry no personal data: {'; '.join(problems)}",
                            key=f"templates.{name}.{language}.{part}",
                            source=config.source,
                        )
    for channel in written_channels(config).values():
        try:
            check_channel(channel)
        except ChannelRefusedError as exc:
            # the message starts with the channel's ref already
            raise ConfigError(str(exc), source=config.source) from None


def _events_using(config: Config, template: str) -> set[IncidentEvent]:
    """The events the routes naming ``template`` send it for (an update wherever the
    outage is sent)."""
    events = {event for route in config.routes if route.template == template for event in route.events}
    if IncidentEvent.confirmed in events:
        events.add(IncidentEvent.updated)
    return events
