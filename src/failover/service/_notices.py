"""From a recorded decision to a message in someone's inbox: which notices an incident
event queues (:func:`plan_notices`), and the pump that delivers them from the store's
outbox (:class:`NoticePump`).

The outbox holds no text, no address and no URL: a notice names its contact by the
contact's id, its channel by a reference (``contacts[alice].channels[1]``,
``channels.mastodon-public``) and its template by name. It is rendered when it is claimed,
from the incident as stored and the configuration as loaded, in the contact's language and
time zone. A claim is a conditional update, so two dispatchers never share a notice; a
process killed mid-delivery leaves its notices in ``sending``, put back to ``pending`` at the
next start (the only way a message can go out twice, at most once per delivery in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Self

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.detect import IncidentChange
from failover.domain import (
    Channel,
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Route,
    Template,
    Visibility,
)
from failover.errors import ConfigError, NotifyError, StoreError, TemplateError
from failover.logs import get_logger
from failover.metrics import Metrics, NoticeOutcome
from failover.notify import (
    BUILTIN_TEMPLATES,
    ApprisePlugins,
    ChannelRefusedError,
    ClaimedNotice,
    Dispatcher,
    DispatchSummary,
    MemoryOutbox,
    RateLimit,
    RateLimits,
    Sender,
    builtin_template,
    channel_scheme,
    check_channel,
    render_notice,
    validate_template,
)
from failover.notify import NoticeState as MemoryNoticeState
from failover.service._runtime import utc_now
from failover.store import DeliveryOutcome, Notice, NoticeDraft, NoticeState, Silence, Store

__all__ = [
    "NoticePump",
    "NotifyTestReport",
    "active_silences",
    "add_silence",
    "find_contact",
    "notice_channels",
    "notice_template",
    "plan_notices",
    "remove_silences",
    "send_test_notice",
    "silence_matching",
    "validate_notifications",
]

#: the prefix of a shared channel's notices' ``contact_ref`` (they have no contact)
SHARED_PREFIX = "channels."
#: how often :meth:`NoticePump.run` looks for due notices when nobody wakes it
POLL_INTERVAL_S = 1.0
#: how often :meth:`NoticePump.run` queues the reminders that came due
REMINDER_CHECK_S = 30.0
#: a claim older than this belongs to a delivery that will never be recorded (its pass
#: failed); no delivery takes this long, rate-limit waits and send timeouts included
STALE_CLAIM = timedelta(minutes=10)

_REDACTED_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://\*\*\*")
#: the dispatcher's reason for a notice a dry run did not send, naming the channel it would use
_DRY_RUN_VIA = re.compile(r"dry run: would send via (\S+)")
#: how each end state of a notice is counted in ``failover_notices_total``
_OUTCOME_OF_STATE = {
    NoticeState.sent: NoticeOutcome.sent,
    NoticeState.failed: NoticeOutcome.failed,
    NoticeState.skipped: NoticeOutcome.skipped,
    NoticeState.silenced: NoticeOutcome.silenced,
}
_IncidentChangeLike = tuple[IncidentEvent, Incident] | IncidentChange


# ------------------------------------------------------------------------------ what to send


def notice_template(config: Config, name: str, event: IncidentEvent) -> Template:
    """The template a route named ``name`` uses for ``event``.

    A template of the configuration is used for every event (it can test ``event``). A
    built-in name stands for the built-in texts of its visibility: the outage text when
    an incident opens or is confirmed, the recovery text when it is resolved, and so on.
    Raises :class:`NotifyError` for a name that is neither.
    """
    configured = config.templates.get(name)
    if configured is not None:
        return configured
    builtin = BUILTIN_TEMPLATES.get(name)
    if builtin is None:
        raise NotifyError(f"template {name!r} is not configured")
    return builtin_template(event, builtin.visibility)


def _families_of(config: Config, incident: Incident) -> set[str]:
    families = {p.family for name in incident.platforms if (p := config.platform(name)) and p.family}
    if incident.scope.value == "family":
        families.add(incident.name)
    return families


def _route_matches(config: Config, route: Route, incident: Incident) -> bool:
    if not route.platforms and not route.families:
        return True
    if set(route.platforms) & set(incident.platforms):
        return True
    return bool(set(route.families) & _families_of(config, incident))


def silence_matching(
    config: Config, incident: Incident, event: IncidentEvent, silences: Iterable[Silence], now: datetime
) -> Silence | None:
    """The silence in force at ``now`` that holds this incident's notices, if any.

    A silence names a platform, a family or ``*``. A manual failover is an operator's
    deliberate act, so its notices are never silenced.
    """
    if event is IncidentEvent.manual:
        return None
    names = {"*", incident.name, *incident.platforms, *_families_of(config, incident)}
    for silence in silences:
        if silence.created_at <= now < silence.until and silence.name in names:
            return silence
    return None


def _silenced_by(silence: Silence) -> str:
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
) -> list[NoticeDraft]:
    silence = silence_matching(config, incident, event, silences, now)
    silenced_by = _silenced_by(silence) if silence is not None else None
    drafts: list[NoticeDraft] = []
    taken: set[str] = set()
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
        template = notice_template(config, route.template, event)
        recipients: list[tuple[str, str, str | None]] = []  # contact_ref, language, channel_ref
        route_groups = set(route.groups)
        for contact in config.contacts:
            if not route_groups.intersection(contact.groups):
                continue
            if groups is not None and not set(groups).intersection(contact.groups):
                continue
            recipients.append((contact.id, contact.language, None))
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
            drafts.append(
                NoticeDraft(
                    incident_key=incident.key,
                    event=event,
                    contact_ref=contact_ref,
                    template=template.name,
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
) -> list[NoticeDraft]:
    """The notices these incident events queue: for each event, every route that lists it
    and matches the incident's platforms or families reaches the contacts of its groups and
    its shared channels, one draft per (event, recipient) — a contact reached by two routes
    gets one message, with the first route's template.

    A silence in force queues them as ``silenced`` (recorded, never sent); ``hold_until``
    holds them back (a manual failover's cancellation window); ``groups`` restricts them to
    the contacts of these groups (and drops shared channels); ``message`` is the operator's
    text, shown instead of the incident's. Pure: the same inputs give the same drafts, and
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
            # each growth of a family incident is told once (rendered when sent: it names
            # every member down by then)
            event_key=f"{incident.key}/updated/{len(incident.platforms)}"
            if event is IncidentEvent.updated
            else None,
        )
    return drafts


def _reminder_drafts(
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
    against a sample incident, and every channel may be used (one mail recipient, a
    private Mastodon channel sends direct messages …). Raises :class:`ConfigError` naming
    the template or channel."""
    for name, template in config.templates.items():
        try:
            validate_template(template)
        except TemplateError as exc:
            raise ConfigError(str(exc), key=f"templates.{name}", source=config.source) from None
    for channel in notice_channels(config).values():
        try:
            check_channel(channel)
        except ChannelRefusedError as exc:
            # the message starts with the channel's ref already
            raise ConfigError(str(exc), source=config.source) from None


def notice_channels(config: Config) -> Mapping[str, Channel]:
    """Every channel a notice may name, by its reference."""
    channels = {channel.ref: channel for contact in config.contacts for channel in contact.channels}
    channels.update({channel.ref: channel for channel in config.channels.values()})
    return MappingProxyType(channels)


# ------------------------------------------------------------------------- the store outbox


def _event_time(notice: Notice, incident: Incident | None) -> datetime:
    """When the event a notice tells of happened, for ``failover_notice_latency_seconds``:
    the incident's confirmation, opening or resolution, else the notice's creation (a
    reminder). A deliberate hold (a manual failover's cancellation window) is no latency:
    the clock starts when it ends."""
    at: datetime | None = None
    if incident is not None:
        if notice.event is IncidentEvent.confirmed:
            at = incident.confirmed_at
        elif notice.event in (IncidentEvent.opened, IncidentEvent.manual):
            at = incident.opened_at
        elif notice.event is IncidentEvent.resolved:
            at = incident.resolved_at
    at = at or notice.created_at
    if notice.not_before is not None and notice.not_before > at:
        at = notice.not_before
    return at


@dataclass(slots=True)
class _Tracked:
    """What the metrics need of a claimed notice until it ends."""

    #: when its incident event happened (see :func:`_event_time`)
    since: datetime
    #: the scheme it is counted under: its first channel's, then the last one tried
    scheme: str


@dataclass(frozen=True, slots=True)
class _SetAside:
    """A claimed notice that will not be delivered, and why."""

    state: NoticeState
    reason: str


class _StoreOutbox:
    """notify's ``Outbox`` port over the store: claims are rendered here, and every step
    is written back (in a worker thread: the store is synchronous) and logged."""

    def __init__(
        self,
        *,
        store: Store,
        config: Callable[[], Config],
        channels: Callable[[], Mapping[str, Channel]],
        clock: Callable[[], datetime],
        log: BoundLogger,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._channels = channels
        self._clock = clock
        self._log = log
        self._metrics = metrics
        self._claimed: dict[int, ClaimedNotice] = {}
        self._tracked: dict[int, _Tracked] = {}

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        return await asyncio.to_thread(self._claim, now, limit)

    def _claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        notices = self._store.claim_notices(now=now, limit=limit)
        if not notices:
            return []
        config = self._config()
        silences = self._store.active_silences(now)
        incidents: dict[int, Incident | None] = {}
        ready: list[ClaimedNotice] = []
        for notice in notices:
            if notice.incident_id not in incidents:
                incidents[notice.incident_id] = self._store.incident(notice.incident_id)
            prepared = _prepare(config, notice, incidents[notice.incident_id], silences, now)
            scheme = self._first_scheme(notice, prepared)
            if isinstance(prepared, _SetAside):
                self._store.mark_notice(notice.id, prepared.state, now=now, error=prepared.reason)
                self._count(scheme, _OUTCOME_OF_STATE[prepared.state])
                self._log.info(
                    f"notice_{prepared.state}",
                    notice_id=notice.id,
                    contact=notice.contact_ref,
                    incident_event=str(notice.event),
                    reason=prepared.reason,
                )
                continue
            self._claimed[notice.id] = prepared
            if self._metrics is not None:
                self._tracked[notice.id] = _Tracked(
                    since=_event_time(notice, incidents[notice.incident_id]), scheme=scheme
                )
            ready.append(prepared)
        return ready

    def _scheme_of(self, channel_ref: str | None) -> str:
        channel = self._channels().get(channel_ref) if channel_ref is not None else None
        return channel_scheme(channel.url) if channel is not None else ""

    def _first_scheme(self, notice: Notice, prepared: ClaimedNotice | _SetAside) -> str:
        """The scheme a notice is counted under before any attempt: its shared channel's,
        else its recipient's first channel's (``""``, counted as ``other``, when unknown)."""
        if self._metrics is None:
            return ""
        if isinstance(prepared, ClaimedNotice):
            return self._scheme_of(prepared.channel_refs[0] if prepared.channel_refs else None)
        if notice.channel_ref is not None:
            return self._scheme_of(notice.channel_ref)
        contact = self._config().contact(notice.contact_ref)
        return self._scheme_of(contact.channels[0].ref if contact and contact.channels else None)

    def _count(self, scheme: str, outcome: NoticeOutcome) -> None:
        if self._metrics is not None:
            self._metrics.notice(scheme, outcome)

    def _end(
        self,
        notice_id: int,
        outcome: NoticeOutcome,
        *,
        scheme: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Count a claimed notice's end; a sent one's latency (to ``now``) too."""
        tracked = self._tracked.pop(notice_id, None)
        if self._metrics is None:
            return
        self._metrics.notice(scheme or (tracked.scheme if tracked else ""), outcome)
        if now is not None and tracked is not None:
            self._metrics.notice_latency(max((now - tracked.since).total_seconds(), 0.0))

    def _log_end(self, notice_id: int, outcome: str, **fields: object) -> None:
        claimed = self._claimed.pop(notice_id, None)
        self._log.info(
            f"notice_{outcome}",
            notice_id=notice_id,
            contact=claimed.contact_ref if claimed else None,
            incident_event=str(claimed.event) if claimed else None,
            **fields,
        )

    async def mark_sent(
        self,
        notice_id: int,
        channel_ref: str,
        now: datetime,
    ) -> None:
        await asyncio.to_thread(self._store.mark_notice, notice_id, NoticeState.sent, now=now)
        self._claimed.pop(notice_id, None)  # the attempt's line said it all
        self._end(notice_id, NoticeOutcome.sent, scheme=self._scheme_of(channel_ref), now=now)

    async def mark_failed(self, notice_id: int, reason: str, now: datetime) -> None:
        await asyncio.to_thread(self._store.mark_notice, notice_id, NoticeState.failed, now=now, error=reason)
        self._log_end(notice_id, "failed", reason=reason)
        self._end(notice_id, NoticeOutcome.failed)

    async def mark_skipped(self, notice_id: int, reason: str, now: datetime) -> None:
        reason = _REDACTED_URL.sub(r"\1", reason)  # "(mailto://***)" says no more than "(mailto)"
        await asyncio.to_thread(
            self._store.mark_notice, notice_id, NoticeState.skipped, now=now, error=reason
        )
        self._log_end(notice_id, "skipped", reason=reason)
        # a dry run is a deliberate silence; otherwise no channel was eligible
        dry_run = _DRY_RUN_VIA.match(reason)
        if dry_run is not None:
            self._end(notice_id, NoticeOutcome.silenced, scheme=self._scheme_of(dry_run[1]) or None)
        else:
            self._end(notice_id, NoticeOutcome.skipped)

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, attempts: int, last_error: str
    ) -> None:
        await asyncio.to_thread(
            self._store.mark_notice,
            notice_id,
            NoticeState.pending,
            now=self._clock(),
            error=last_error,
            retry_at=next_attempt_at,
            attempts=attempts,
        )
        self._claimed.pop(notice_id, None)
        self._tracked.pop(notice_id, None)  # claimed again when due, and tracked afresh

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None:
        await asyncio.to_thread(
            self._store.record_delivery,
            notice_id,
            at=now,
            channel_ref=channel_ref,
            outcome=DeliveryOutcome.sent if ok else DeliveryOutcome.failed,
            error=error or None,
        )
        claimed = self._claimed.get(notice_id)
        channel = self._channels().get(channel_ref)
        tracked = self._tracked.get(notice_id)
        if tracked is not None and channel is not None:
            tracked.scheme = channel_scheme(channel.url)  # a failure counts against the last one tried
        # one line per delivery attempt; never the URL, the address or the text
        self._log.info(
            "notice_delivery",
            notice_id=notice_id,
            contact=claimed.contact_ref if claimed else None,
            incident_event=str(claimed.event) if claimed else None,
            channel=channel_ref,
            scheme=channel_scheme(channel.url) if channel else "",
            outcome="sent" if ok else "failed",
            attempt=(claimed.attempts + 1) if claimed else None,
            error=error or None,
        )


def _prepare(
    config: Config, notice: Notice, incident: Incident | None, silences: Sequence[Silence], now: datetime
) -> ClaimedNotice | _SetAside:
    """Render a claimed notice for delivery, or say why it will not be delivered."""
    if incident is None:
        return _SetAside(NoticeState.failed, "the incident is no longer recorded")
    if notice.event is IncidentEvent.reminder and not incident.is_open:
        return _SetAside(NoticeState.skipped, "the incident was resolved before the reminder went out")
    silence = silence_matching(config, incident, notice.event, silences, now)
    if silence is not None:
        return _SetAside(NoticeState.silenced, _silenced_by(silence))
    contact: Contact | None
    if notice.contact_ref.startswith(SHARED_PREFIX):
        shared = next((c for c in config.channels.values() if c.ref == notice.contact_ref), None)
        if shared is None:
            return _SetAside(NoticeState.skipped, f"{notice.contact_ref} is no longer configured")
        channel_refs: tuple[str, ...] = (shared.ref,)
        # a shared channel has no contact; a private text greets the channel by its name
        name = notice.contact_ref[len(SHARED_PREFIX) :]
        contact = Contact(name=name, id=name, language=notice.language, timezone=config.daemon.timezone)
    else:
        contact = config.contact(notice.contact_ref)
        if contact is None:
            return _SetAside(NoticeState.skipped, f"contact {notice.contact_ref} is no longer configured")
        channel_refs = tuple(channel.ref for channel in contact.channels)
    try:
        template = notice_template(config, notice.template, notice.event)
        if notice.message:
            incident = replace(incident, message=notice.message)
        rendered = render_notice(
            template=template,
            language=notice.language,
            incident=incident,
            event=notice.event,
            contact=contact,
            now=now,
            alternatives=config.alternatives,
            platform_names={p.name: p.display_name for p in config.platforms},
        )
    except NotifyError as exc:
        return _SetAside(NoticeState.failed, str(exc))
    down = (
        frozenset(incident.platforms)
        if incident.is_open and notice.event is not IncidentEvent.resolved
        else frozenset()
    )
    return ClaimedNotice(
        id=notice.id,
        key=notice.idempotency_key,
        incident_key=notice.incident_key,
        event=notice.event,
        contact_ref=notice.contact_ref,
        channel_refs=channel_refs,
        visibility=template.visibility,
        notice=rendered,
        attempts=notice.attempts,
        down_platforms=down,
        last_error=notice.last_error or "",
    )


# ---------------------------------------------------------------------------------- the pump


def _rate_limits(config: Config) -> RateLimits:
    rates = dict(config.notify.rate_per_minute)
    default = rates.pop("default", None)

    def limit(per_minute: int) -> RateLimit:
        # a quarter of a minute's allowance may go at once, then the steady pace
        return RateLimit(per_minute=per_minute, burst=max(1, per_minute // 4))

    return RateLimits(
        {scheme: limit(n) for scheme, n in rates.items()},
        default=limit(default) if default else None,
    )


def _nothing_down() -> Collection[str]:
    return ()


def _mute_apprise() -> None:
    # apprise logs recipients (addresses, numbers) at WARNING; our own line per delivery
    # says what happened, so its records stop at its own logger rather than trusting the
    # redactor. They still reach the handler apprise attaches there to capture a send's
    # outcome (the HTTP status of a failure), hence the level it captures at.
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.propagate = False
    apprise_logger.setLevel(logging.WARNING)


class NoticePump:
    """Delivers the outbox: claims due notices, renders them, sends each through the first
    eligible channel of its recipient with bounded concurrency, retries with backoff and
    jitter, falls over to the next channel, and records every attempt.

    Use as an async context manager: on entry, notices a killed process left in ``sending``
    (claimed longer ago than ``release_stale_after``; 0 suits the daemon, the only
    dispatcher of its database) go back to ``pending``; the apprise sender is owned unless
    ``sender`` is given. ``dry_run`` (default: the configuration's) renders and records
    everything and sends nothing. With ``metrics``, every notice's end is counted by
    channel scheme and outcome (a dry run's as ``silenced``), and a sent one's latency
    from its incident event is observed.
    """

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        down_platforms: Callable[[], Collection[str]] = _nothing_down,
        sender: Sender | None = None,
        log: BoundLogger | None = None,
        dry_run: bool | None = None,
        release_stale_after: timedelta = timedelta(0),
        jitter: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._down_platforms = down_platforms
        self._sender = sender
        self._log = log or get_logger("failover.notices")
        self._dry_run = dry_run
        self._release_stale_after = release_stale_after
        self._jitter = jitter or random.SystemRandom().random
        self._channels: Mapping[str, Channel] = notice_channels(config)
        self._metrics = metrics
        self._init_channel_metrics()
        self._outbox = _StoreOutbox(
            store=store,
            config=lambda: self._config,
            channels=lambda: self._channels,
            clock=clock,
            log=self._log,
            metrics=metrics,
        )
        self._stack: AsyncExitStack | None = None
        self._dispatcher: Dispatcher | None = None
        self._pass: asyncio.Task[DispatchSummary] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    @property
    def dry_run(self) -> bool:
        return self._config.notify.dry_run if self._dry_run is None else self._dry_run

    async def __aenter__(self) -> Self:
        _mute_apprise()
        self._stack = AsyncExitStack()
        if self._sender is None:
            self._sender = await self._stack.enter_async_context(
                ApprisePlugins(max_workers=self._config.notify.concurrency)
            )
        released = await asyncio.to_thread(
            self._store.release_stale_claims, now=self._clock(), older_than=self._release_stale_after
        )
        if released:
            self._log.warning("notice_claims_released", notices=released)
        self._dispatcher = self._new_dispatcher()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._pass is not None and not self._pass.done() and not self._stopping:
            await self.drain(30.0)
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    def _new_dispatcher(self) -> Dispatcher:
        assert self._sender is not None
        notify = self._config.notify
        return Dispatcher(
            self._outbox,
            self._sender,
            _rate_limits(self._config),
            channels=self._channels,
            concurrency=notify.concurrency,
            max_attempts=notify.max_attempts,
            backoff_base_s=notify.backoff_base_s,
            jitter=self._jitter,
            clock=self._clock,
            down_platforms=self._down_platforms,
            dry_run=self.dry_run,
        )

    def _dispatching(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("use the NoticePump as an async context manager")
        return self._dispatcher

    def _init_channel_metrics(self) -> None:
        # every scheme's outcomes exist at zero, so that rate() sees a first failure
        if self._metrics is not None:
            self._metrics.init_channels({channel_scheme(c.url) for c in self._channels.values()})

    def wake(self) -> None:
        """Notices were just queued: look for due ones now rather than at the next poll."""
        self._wake.set()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded configuration from the next pass on (deliveries in flight end
        with the channels they started with)."""
        self._config = config
        self._channels = notice_channels(config)
        self._init_channel_metrics()
        if self._dispatcher is not None and not self._stopping:
            self._dispatcher = self._new_dispatcher()
        self._wake.set()

    async def deliver_due(self) -> DispatchSummary:
        """One pass: deliver every notice due now, retries that come due meanwhile included."""
        dispatcher = self._dispatching()
        self._pass = asyncio.ensure_future(dispatcher.dispatch_due())
        return await self._pass

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver due notices until ``stop`` is set, then let the deliveries in flight end
        and return. Looks again when woken, else every second; queues due reminders."""
        self._dispatching()
        stopped = asyncio.ensure_future(stop.wait())
        last_reminders: datetime | None = None
        last_release: datetime | None = None
        try:
            while not stop.is_set() and not self._stopping:
                now = self._clock()
                try:
                    if any(r.reminder_every for r in self._config.routes) and (
                        last_reminders is None or (now - last_reminders).total_seconds() >= REMINDER_CHECK_S
                    ):
                        last_reminders = now
                        await self.queue_reminders()
                    if last_release is None or now - last_release >= STALE_CLAIM:
                        last_release = now
                        await asyncio.to_thread(
                            self._store.release_stale_claims, now=now, older_than=STALE_CLAIM
                        )
                except StoreError as exc:
                    self._log.warning("notice_upkeep_failed", error=str(exc))
                self._wake.clear()
                self._pass = asyncio.ensure_future(self._dispatching().dispatch_due())
                await asyncio.wait({self._pass, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not self._pass.done():
                    break  # stop: the pass is drained below
                try:
                    self._pass.result()
                except StoreError as exc:
                    # the database is away for a moment: the next pass tries again, and what
                    # was left claimed is put back once its claim is older than STALE_CLAIM
                    self._log.warning("notice_pass_failed", error=str(exc))
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=POLL_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        except asyncio.CancelledError:
            # cancelled (a drain that ran out of time): the deliveries in flight are not
            # waited for; left in sending, they are put back at the next start
            self._stopping = True
            stopped.cancel()
            raise
        stopped.cancel()
        await self._finish_pass(timeout_s=None)

    async def _finish_pass(self, timeout_s: float | None) -> None:
        current = self._pass
        if current is None or current.done():
            return
        self._stopping = True
        # claim nothing new; the deliveries in flight end and are recorded
        draining = asyncio.ensure_future(self._dispatching().drain())
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(draining, asyncio.shield(current))
        except TimeoutError:
            self._log.warning(
                "notice_drain_timed_out",
                in_flight=self._outbox.in_flight,
                timeout_s=timeout_s,
                detail="notices left in sending are retried at the next start",
            )

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: claim nothing new, and wait up to ``timeout_s`` for the deliveries
        in flight to end. Whatever is still in flight then stays ``sending`` until the next
        start puts it back."""
        self._stopping = True
        self._wake.set()
        if self._dispatcher is not None and (self._pass is None or self._pass.done()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._dispatcher.drain()
            return
        await self._finish_pass(timeout_s)

    async def queue_reminders(self) -> int:
        """Queue the reminders that came due for open incidents, on routes with
        ``reminder_every`` (private recipients only); returns how many were new."""
        return await asyncio.to_thread(self._queue_reminders)

    def _queue_reminders(self) -> int:
        config = self._config
        if not any(route.reminder_every for route in config.routes):
            return 0
        now = self._clock()
        incidents = self._store.open_incidents()
        drafts = _reminder_drafts(config, incidents, now=now, silences=self._store.active_silences(now))
        if not drafts:
            return 0
        before = sum(self._store.outbox_counts().values())
        self._store.record_decision(at=now, notices=drafts)
        queued = sum(self._store.outbox_counts().values()) - before
        if queued:
            self._log.info("reminders_queued", notices=queued)
            self._wake.set()
        return queued


# ---------------------------------------------------------------------------------- silences


def _silence_names(config: Config) -> set[str]:
    return {"*"} | {p.name for p in config.platforms} | {p.family for p in config.platforms if p.family}


def add_silence(config: Config, name: str, *, duration: timedelta, reason: str, now: datetime) -> Silence:
    """Hold back the notices of incidents of ``name`` (a platform, a family or ``*``) for
    ``duration``: they are recorded ``silenced`` and never sent. Manual failovers still go out."""
    if name not in _silence_names(config):
        known = ", ".join(sorted(_silence_names(config) - {"*"}))
        raise ConfigError(f"unknown platform or family {name!r}; configured: {known or 'none'} (or '*')")
    if duration <= timedelta(0):
        raise ConfigError("a silence needs a positive duration")
    with _open_store(config) as store:
        return store.add_silence(name=name, until=now + duration, reason=reason, now=now)


def active_silences(config: Config, *, now: datetime) -> list[Silence]:
    """The silences in force at ``now``."""
    with _open_store(config) as store:
        return store.active_silences(now)


def remove_silences(config: Config, target: str, *, now: datetime) -> list[Silence]:
    """End the silences in force on ``target`` (a name), or the one numbered ``target``;
    returns those ended."""
    with _open_store(config) as store:
        ended = []
        for silence in store.active_silences(now):
            named = (target.isdigit() and silence.id == int(target)) or silence.name == target
            if named and store.remove_silence(silence.id):
                ended.append(silence)
        return ended


def _open_store(config: Config) -> Store:
    # imported here: _record imports this module for plan_notices
    from failover.service._record import open_store

    return open_store(config)


# -------------------------------------------------------------------------------- notify-test

TEST_MESSAGE = {
    "en": "This is a test message from failover: no platform is down. You are on its list.",
    "fr": "Ceci est un message d'essai de failover : aucune plateforme n'est en panne. "
    "Vous êtes sur sa liste.",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class NotifyTestReport:
    """What ``notify-test`` did: the text, the channel used (or that would be), the outcome."""

    contact_id: str
    language: str
    subject: str
    body: str
    #: ``sent``, ``failed``, ``skipped`` (no eligible channel) or ``dry-run``
    outcome: str
    channel_ref: str | None
    scheme: str
    detail: str = ""


def find_contact(config: Config, wanted: str) -> Contact:
    """The contact whose id (or, typed by an operator, exact name) is ``wanted``."""
    contact = config.contact(wanted) or next((c for c in config.contacts if c.name == wanted), None)
    if contact is None:
        raise ConfigError(
            f"no contact with id {wanted!r} (see `failover contacts list`)", source=config.source
        )
    return contact


async def send_test_notice(
    config: Config,
    contact_id: str,
    *,
    channel: int | None = None,
    dry_run: bool = False,
    sender: Sender | None = None,
    now: datetime | None = None,
) -> NotifyTestReport:
    """Send one test message to a contact: through its first eligible channel (channels
    of platforms with an open incident are passed over, as for a real notice), or through
    channel number ``channel`` (0 = first) only; one attempt per channel. ``dry_run``
    renders and shows the text, and sends nothing. Nothing is written to the journal."""
    contact = find_contact(config, contact_id)
    if channel is not None and not 0 <= channel < len(contact.channels):
        raise ConfigError(
            f"contact {contact.id} has channels 0 to {len(contact.channels) - 1}, not {channel}"
        )
    now = now or utc_now()
    with _open_store(config) as store:
        down = {name for incident in store.open_incidents() for name in incident.platforms}
    incident = Incident(
        key=f"test:{contact.id}:{now:%Y%m%dT%H%M%S}",
        scope=IncidentScope.custom,
        kind=IncidentKind.manual,
        name="test",
        platforms=(),
        opened_at=now,
        message=TEST_MESSAGE.get(contact.language, TEST_MESSAGE["en"]),
    )
    template = builtin_template(IncidentEvent.manual, Visibility.private)
    rendered = render_notice(
        template=template,
        language=contact.language,
        incident=incident,
        event=IncidentEvent.manual,
        contact=contact,
        now=now,
        alternatives=config.alternatives,
        platform_names={},
    )
    refs = [c.ref for c in contact.channels] if channel is None else [contact.channels[channel].ref]
    outbox = MemoryOutbox()
    notice_id = outbox.enqueue(
        key=incident.key,
        incident_key=incident.key,
        event=IncidentEvent.manual,
        contact_ref=contact.id,
        channel_refs=refs,
        visibility=Visibility.private,
        notice=rendered,
        now=now,
        down_platforms=down if channel is None else (),
    )
    async with AsyncExitStack() as stack:
        if sender is None:
            _mute_apprise()
            sender = await stack.enter_async_context(ApprisePlugins(max_workers=1))
        dispatcher = Dispatcher(
            outbox,
            sender,
            RateLimits(),
            channels=notice_channels(config),
            concurrency=1,
            max_attempts=1,
            backoff_base_s=0.0,
            jitter=lambda: 0.0,
            clock=utc_now,
            dry_run=dry_run,
        )
        await dispatcher.dispatch_due()
    record = outbox.get(notice_id)
    used = record.channel_ref or (record.deliveries[-1].channel_ref if record.deliveries else None)
    if dry_run and record.state is MemoryNoticeState.skipped and record.reason.startswith("dry run"):
        outcome = "dry-run"
        used = next(
            (ref for ref in refs if f"via {ref} " in record.reason),
            None,
        )
    else:
        outcome = str(record.state)
    channels = notice_channels(config)
    return NotifyTestReport(
        contact_id=contact.id,
        language=rendered.language,
        subject=rendered.subject,
        body=rendered.body,
        outcome=outcome,
        channel_ref=used,
        scheme=channel_scheme(channels[used].url) if used is not None and used in channels else "",
        detail=record.reason,
    )
