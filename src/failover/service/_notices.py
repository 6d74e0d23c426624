"""From a recorded decision to a message in someone's inbox: which notices an incident
event queues (:func:`plan_notices`), and the pump that delivers them from the store's
outbox (:class:`NoticePump`).

The outbox holds no text, no address and no URL: a notice names its contact by the
contact's id, its channel by a reference (``contacts[alice].channels[1]``,
``channels.mastodon-public``) and its template by name. It is rendered when it is claimed,
from the incident as stored and the configuration as loaded, in the contact's language and
time zone. A claim is a conditional update, so two dispatchers never share a notice, and
it names its dispatcher and lasts a lease that the dispatcher renews: a daemon starting
while ``failover trigger`` delivers leaves that command's notices alone. A process killed
mid-delivery leaves its notices in ``sending``; they are taken back at once by the next
dispatcher of the same host (their holder died), else when their lease runs out: the only
way a message can go out twice, at most once per delivery that was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Self
from urllib.parse import urlsplit

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
    TEST_TEMPLATE,
    ApprisePlugins,
    ChannelCursor,
    ChannelRefusedError,
    ClaimedNotice,
    Dispatcher,
    DispatchSummary,
    MemoryOutbox,
    RateLimit,
    RateLimits,
    Sender,
    SetAside,
    SetAsideReason,
    builtin_template,
    channel_scheme,
    check_channel,
    correction_template,
    public_text_problems,
    render_notice,
    validate_template,
)
from failover.service._database import dispatcher_identity, holder_gone, open_store
from failover.service._maintenance import MaintenanceHold, MaintenanceQuiet, maintenance_verdict
from failover.service._runtime import utc_now
from failover.store import (
    ActionKind,
    Claims,
    DeliveryOutcome,
    IncidentAction,
    Notice,
    NoticeDraft,
    NoticeState,
    Silence,
    Store,
)

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
#: how long a claim on a notice lasts unless renewed: a dispatcher that dies (or loses the
#: database) for longer lets its notices go to another; a dispatcher renews its claims
#: every RENEW_EVERY_S while their deliveries go on (slow servers, rate limits)
CLAIM_LEASE = timedelta(seconds=60)
RENEW_EVERY_S = 15.0
#: how often a pump looks for claims to take back: leases that ran out, holders that died
SWEEP_EVERY_S = 5.0
#: a step of a delivery the database refused (locked, restarting) is written again after
#: this long, then twice as long each time, up to WRITE_RETRY_MAX_S
WRITE_RETRY_FIRST_S = 0.1
WRITE_RETRY_MAX_S = 2.0
#: notices waiting on a server that answers again are brought forward at most this often
HASTEN_EVERY_S = 5.0

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
    deliberate act, and so is a retraction: their notices are never silenced.
    """
    if event in (IncidentEvent.manual, IncidentEvent.retracted):
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
    message_for: Callable[[str], str | None] | None = None,
    on_contact: Callable[[Contact, str], None] | None = None,
) -> list[NoticeDraft]:
    silence = silence_matching(config, incident, event, silences, now)
    silenced_by = _silenced_by(silence) if silence is not None else None
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


def _growth_key(event: IncidentEvent, incident: Incident) -> str | None:
    return f"{incident.key}/updated/{len(incident.platforms)}" if event is IncidentEvent.updated else None


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


#: a contact's channel's ref: ``contacts[<id>].channels[<index>]``
_CONTACT_CHANNEL = re.compile(r"contacts\[(?P<id>.+)\]\.channels\[(?P<index>\d+)\]")


class ChannelDirectory(Mapping[str, Channel]):
    """Every channel a notice may name, by its reference: the shared channels, and the
    contacts' channels looked up as they are asked for (the address book may hold 100,000
    contacts; only those a fan-out is reaching are kept, for ``keep_s`` seconds, so that an
    import reaches a running daemon within that time)."""

    #: contacts kept at once, and for how long
    KEPT = 4096
    KEEP_S = 30.0

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._shared = {channel.ref: channel for channel in config.channels.values()}
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[float, Contact | None]] = OrderedDict()

    def remember(self, contacts: Iterable[Contact]) -> None:
        """Keep these contacts (just read) for the lookups of their channels to come."""
        now = self._clock()
        with self._lock:
            for contact in contacts:
                self._kept[contact.id] = (now, contact)
                self._kept.move_to_end(contact.id)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)

    def _contact(self, contact_id: str) -> Contact | None:
        now = self._clock()
        with self._lock:
            kept = self._kept.get(contact_id)
            if kept is not None and now - kept[0] < self.KEEP_S:
                self._kept.move_to_end(contact_id)
                return kept[1]
        contact = self._config.contact(contact_id)
        with self._lock:
            self._kept[contact_id] = (now, contact)
            self._kept.move_to_end(contact_id)
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        return contact

    def __getitem__(self, ref: str) -> Channel:
        shared = self._shared.get(ref)
        if shared is not None:
            return shared
        match = _CONTACT_CHANNEL.fullmatch(ref)
        contact = self._contact(match["id"]) if match is not None else None
        if contact is not None:
            for channel in contact.channels:
                if channel.ref == ref:
                    return channel
        raise KeyError(ref)

    def __iter__(self) -> Iterator[str]:
        yield from self._shared
        for contact in self._config.everyone():
            for channel in contact.channels:
                yield channel.ref

    def __len__(self) -> int:
        return sum(1 for _ in self)


def notice_channels(config: Config) -> ChannelDirectory:
    """Every channel a notice may name, by its reference."""
    return ChannelDirectory(config)


def written_channels(config: Config) -> dict[str, Channel]:
    """The channels written in the configuration: shared, and its contacts' (an imported
    contact's were built on bases the configuration checked)."""
    channels = {channel.ref: channel for contact in config.contacts for channel in contact.channels}
    channels.update({channel.ref: channel for channel in config.channels.values()})
    return channels


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
    """A claimed notice that will not be delivered: the state it ends in, and why."""

    state: NoticeState
    why: SetAside

    @classmethod
    def of(cls, state: NoticeState, reason: SetAsideReason, detail: str) -> _SetAside:
        return cls(state, SetAside(reason=reason, detail=detail))


@dataclass(frozen=True, slots=True)
class _Attempt:
    """A delivery attempt to record: a write :class:`_GroupCommit` settles with the others
    of its group in one statement."""

    store: Store
    attempt: tuple[int, datetime, str, DeliveryOutcome, str | None]

    def __call__(self) -> None:
        self.store.record_deliveries([self.attempt])


class _GroupCommit:
    """Writes of the outbox settled many to a transaction: the first waits for nobody; those
    that come while a commit is under way go together in the next one. A fan-out of 32
    deliveries at a time thus commits once for many notices rather than twice for each.

    If one write of a group raises, the group's transaction is rolled back and each of its
    writes runs again on its own, so that each caller learns its own outcome."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: list[tuple[Callable[[], object], asyncio.Future[object]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[], object]) -> object:
        """``write()`` done, in a transaction with others; what it returned."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        self._waiting.append((write, done))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                outcomes = await asyncio.to_thread(self._commit, [write for write, _ in group])
            except asyncio.CancelledError:
                for _, done in group:
                    done.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 -- handed to every waiting writer
                outcomes = [exc] * len(group)
            for (_, done), outcome in zip(group, outcomes, strict=True):
                if done.done():
                    continue  # its writer was cancelled
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    # Runs in a worker thread.
    def _commit(self, writes: Sequence[Callable[[], object]]) -> list[object]:
        if len(writes) > 1:
            try:
                with self._store.batch():
                    # the attempts first, in one statement (a notice's attempt is always
                    # recorded before the notice is marked: they are never in one group)
                    attempts = [write.attempt for write in writes if isinstance(write, _Attempt)]
                    self._store.record_deliveries(attempts)
                    return [None if isinstance(write, _Attempt) else write() for write in writes]
            except Exception:  # noqa: BLE001,S110 -- each runs again alone, and says what went wrong
                pass
        outcomes: list[object] = []
        for write in writes:
            try:
                outcomes.append(write())
            except Exception as exc:  # noqa: BLE001 -- the writer's to handle
                outcomes.append(exc)
        return outcomes


class _StoreOutbox:
    """notify's ``Outbox`` port over the store: claims are rendered here, and every step
    is written back (in a worker thread: the store is synchronous) and logged.

    Claims are ``holder``'s, for ``lease``: :class:`NoticePump` renews those in flight
    (:attr:`in_flight_ids`). A step that cannot be written (SQLite locked, PostgreSQL
    restarting) is written again and again, a little later each time, until it is: the
    delivery it records happened, and its notice must neither stay claimed nor be sent
    again. Notices claimed and never handed over (the database failed while they were
    being prepared, or committed a claim whose answer was lost) are handed back at once,
    else by :meth:`release_orphans` at the pump's next sweep.
    """

    def __init__(
        self,
        *,
        store: Store,
        config: Callable[[], Config],
        channels: Callable[[], Mapping[str, Channel]],
        clock: Callable[[], datetime],
        log: BoundLogger,
        holder: str,
        lease: timedelta = CLAIM_LEASE,
        metrics: Metrics | None = None,
        on_hastened: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._config = config
        self._channels = channels
        self._clock = clock
        self._log = log
        self._holder = holder
        self._lease = lease
        self._metrics = metrics
        self._claimed: dict[int, ClaimedNotice] = {}
        self._tracked: dict[int, _Tracked] = {}
        #: claimed, and being prepared (rendered, or set aside) in a worker thread
        self._preparing: set[int] = set()
        #: a claim and the registration of what it claimed are one step for release_orphans
        self._claim_lock = asyncio.Lock()
        #: servers whose last attempt failed, and when notices waiting on each were last hastened
        #: the deliveries' writes, settled many to a transaction
        self._commits = _GroupCommit(store)
        self._failing: set[_Server] = set()
        #: the channels that failed on each of those servers since it was last hastened
        self._failing_refs: dict[_Server, set[str]] = {}
        self._hastened_at: dict[_Server, float] = {}
        #: when the failed attempt of a notice about to be put back was made, and when (by
        #: the attempt that found it back) each server was last found answering again
        self._failed_at: dict[int, datetime] = {}
        self._hastened_when: dict[_Server, datetime] = {}
        self._servers: dict[str, _Server] = {}
        self._on_hastened = on_hastened

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    @property
    def in_flight_ids(self) -> list[int]:
        return list(self._claimed)

    @property
    def held(self) -> int:
        """Claims this dispatcher knows it holds: in flight or being prepared."""
        return len(self._claimed) + len(self._preparing)

    async def _write(self, step: str, notice_id: int, write: Callable[[], object]) -> None:
        """Run one store write in a worker thread until it goes through."""
        delay_s = WRITE_RETRY_FIRST_S
        failures = 0
        while True:
            try:
                written = await self._commits.run(write)
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    self._log.warning("notice_write_failed", notice_id=notice_id, step=step, error=str(exc))
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, WRITE_RETRY_MAX_S)
                continue
            if failures:
                self._log.info("notice_write_recovered", notice_id=notice_id, step=step, failures=failures)
            if written is False:
                # no longer ours to settle: its claim was taken back (it ran out while the
                # database was away) or the notice was cancelled meanwhile
                self._log.warning("notice_no_longer_held", notice_id=notice_id, step=step)
            return

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        async with self._claim_lock:
            notices = await asyncio.to_thread(
                self._store.claim_notices, now=now, limit=limit, holder=self._holder, lease=self._lease
            )
            ids = [notice.id for notice in notices]
            self._preparing.update(ids)
        if not notices:
            return []
        ended: set[int] = set()
        try:
            ready = await asyncio.to_thread(self._prepare_claimed, notices, now, ended)
        except StoreError:
            # claimed, never handed over: hand them back now rather than when the lease runs out
            for notice_id in ids:
                self._preparing.discard(notice_id)
                self._claimed.pop(notice_id, None)
                self._tracked.pop(notice_id, None)
            await self.release_orphans()
            raise
        self._preparing.difference_update(ids)
        return ready

    async def release_orphans(self) -> int:
        """Hand back this dispatcher's claims that none of its deliveries holds; a database
        that still refuses leaves them for the next sweep. Returns how many went back."""
        async with self._claim_lock:
            keep = sorted({*self._claimed, *self._preparing})
            try:
                released = await asyncio.to_thread(self._store.release_claims, self._holder, keep=keep)
            except StoreError as exc:
                self._log.warning("notice_claims_not_released", error=str(exc))
                return 0
        if released:
            self._log.warning("notice_claims_released", notices=released, reason="not_handed_over")
        return released

    def _prepare_claimed(
        self, notices: Sequence[Notice], now: datetime, ended: set[int]
    ) -> list[ClaimedNotice]:
        config = self._config()
        silences = self._store.active_silences(now)
        # the batch's recipients in one read of the address book, kept where the
        # dispatcher looks their channels up
        contacts = config.contacts_by_id(
            {n.contact_ref for n in notices if not n.contact_ref.startswith(SHARED_PREFIX)}
        )
        channels = self._channels()
        if isinstance(channels, ChannelDirectory):
            channels.remember(contacts.values())
        incidents: dict[int, Incident | None] = {}
        recovered: dict[int, set[str]] = {}
        told: dict[int, list[Notice]] = {}
        ready: list[ClaimedNotice] = []
        for notice in notices:
            if notice.incident_id not in incidents:
                incidents[notice.incident_id] = self._store.incident(notice.incident_id)
            incident = incidents[notice.incident_id]
            verdict = maintenance_verdict(config, incident, notice.event, now) if incident else None
            if isinstance(verdict, MaintenanceHold):
                self._hold(notice, verdict, now)
                ended.add(notice.id)
                continue
            correct_via: str | None = None
            if notice.event is IncidentEvent.retracted:
                if notice.incident_id not in told:
                    told[notice.incident_id] = self._store.notices(notice.incident_id)
                found = correction_channel(told[notice.incident_id], notice.contact_ref)
                if isinstance(found, _Wait):
                    self._wait_for_original(notice, now)
                    ended.add(notice.id)
                    continue
                correct_via = found
            if _may_be_superseded(notice, incident) and notice.incident_id not in recovered:
                recovered[notice.incident_id] = self._store.notice_recipients(
                    notice.incident_id, IncidentEvent.resolved
                )
            prepared = _prepare(
                config,
                notice,
                incident,
                silences,
                now,
                recovered=recovered.get(notice.incident_id, set()),
                quiet=verdict,
                correct_via=correct_via,
                contacts=contacts,
            )
            scheme = self._first_scheme(notice, prepared)
            if isinstance(prepared, _SetAside):
                self._store.mark_notice(
                    notice.id, prepared.state, now=now, error=prepared.why.detail, holder=self._holder
                )
                ended.add(notice.id)
                self._count(scheme, _OUTCOME_OF_STATE[prepared.state])
                self._log.info(
                    f"notice_{prepared.state}",
                    notice_id=notice.id,
                    contact=notice.contact_ref,
                    incident_event=str(notice.event),
                    reason=str(prepared.why.reason),
                    detail=prepared.why.detail,
                )
                continue
            self._claimed[notice.id] = prepared
            if self._metrics is not None:
                since = _event_time(notice, incident)
                if incident is not None:
                    # a maintenance hold is deliberate, no latency: the clock starts at its end
                    held = maintenance_verdict(config, incident, notice.event, since)
                    if isinstance(held, MaintenanceHold):
                        since = max(since, held.occurrence.end)
                self._tracked[notice.id] = _Tracked(since=since, scheme=scheme)
            ready.append(prepared)
        return ready

    def _wait_for_original(self, notice: Notice, now: datetime) -> None:
        """Put a claimed correction back for a moment: its recipient's notice of the
        retracted incident is still in flight, and may yet go out (not an attempt)."""
        self._store.mark_notice(
            notice.id, NoticeState.pending, now=now, retry_at=now + CORRECTION_WAIT, holder=self._holder
        )
        self._log.info(
            "notice_held",
            notice_id=notice.id,
            contact=notice.contact_ref,
            incident_event=str(notice.event),
            reason="original_in_flight",
        )

    def _hold(self, notice: Notice, hold: MaintenanceHold, now: datetime) -> None:
        """Put a claimed notice back until its maintenance window ends (not an attempt)."""
        until = hold.occurrence.end
        self._store.mark_notice(
            notice.id,
            NoticeState.pending,
            now=now,
            retry_at=until,
            holder=self._holder,
        )
        self._log.info(
            "notice_held",
            notice_id=notice.id,
            contact=notice.contact_ref,
            incident_event=str(notice.event),
            reason="maintenance",
            window=hold.occurrence.window,
            until=until.isoformat(),
        )

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
        self._failed_at.pop(notice_id, None)
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

    def _mark(self, notice_id: int, state: NoticeState, now: datetime, **values: Any) -> Callable[[], object]:
        return partial(self._store.mark_notice, notice_id, state, now=now, holder=self._holder, **values)

    async def mark_sent(
        self, notice_id: int, channel_ref: str, now: datetime, *, public_ref: str | None = None
    ) -> None:
        mark = self._mark(notice_id, NoticeState.sent, now, public_ref=public_ref)
        await self._write("mark_sent", notice_id, mark)
        self._claimed.pop(notice_id, None)  # the attempt's line said it all
        self._end(notice_id, NoticeOutcome.sent, scheme=self._scheme_of(channel_ref), now=now)

    async def mark_failed(self, notice_id: int, why: SetAside, now: datetime) -> None:
        await self._write(
            "mark_failed", notice_id, self._mark(notice_id, NoticeState.failed, now, error=why.detail)
        )
        self._log_end(notice_id, "failed", reason=str(why.reason), detail=why.detail)
        self._end(notice_id, NoticeOutcome.failed)

    async def mark_skipped(self, notice_id: int, why: SetAside, now: datetime) -> None:
        await self._write(
            "mark_skipped", notice_id, self._mark(notice_id, NoticeState.skipped, now, error=why.detail)
        )
        self._log_end(notice_id, "skipped", reason=str(why.reason), detail=why.detail)
        # a dry run is a deliberate silence; otherwise no channel was eligible
        if why.reason is SetAsideReason.dry_run:
            self._end(notice_id, NoticeOutcome.silenced, scheme=self._scheme_of(why.channel_ref) or None)
        else:
            self._end(notice_id, NoticeOutcome.skipped)

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, cursor: ChannelCursor, last_error: str
    ) -> None:
        claimed = self._claimed.get(notice_id)
        refs = claimed.channel_refs if claimed is not None else ()
        at = refs[cursor.index] if cursor.index < len(refs) else None
        failed_at = self._failed_at.pop(notice_id, None)
        channel = self._channels().get(at) if at is not None else None
        server = self._server_of(channel) if channel is not None else None
        back_already = self._back_since(server, failed_at)
        if back_already:
            # its server came back while this failure was being recorded: the notices
            # waiting on it were brought forward, and this one is too
            next_attempt_at = min(next_attempt_at, self._clock())
        mark = self._mark(
            notice_id,
            NoticeState.pending,
            self._clock(),
            error=last_error,
            retry_at=next_attempt_at,
            cursor=(at, cursor.tries),
        )
        await self._write("reschedule", notice_id, mark)
        self._claimed.pop(notice_id, None)
        if at is not None and not back_already and self._back_since(server, failed_at):
            # ... or came back while it was being written, after the others were brought forward
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self._store.hasten_notices, [at], now=self._clock())
        self._tracked.pop(notice_id, None)  # claimed again when due, and tracked afresh

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None:
        outcome = DeliveryOutcome.sent if ok else DeliveryOutcome.failed
        record = _Attempt(self._store, (notice_id, now, channel_ref, outcome, error or None))
        await self._write("record_attempt", notice_id, record)
        claimed = self._claimed.get(notice_id)
        if claimed is not None:  # a fall-over makes several attempts in one claim
            self._claimed[notice_id] = replace(claimed, attempts=claimed.attempts + 1)
        channel = self._channels().get(channel_ref)
        tracked = self._tracked.get(notice_id)
        if tracked is not None and channel is not None:
            tracked.scheme = channel_scheme(channel.url)  # a failure counts against the last one tried
        if channel is not None:
            await self._note_server(notice_id, channel, ok, now)
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

    def _server_of(self, channel: Channel) -> _Server:
        server = self._servers.get(channel.url)
        if server is None:
            if len(self._servers) >= _SERVERS_KEPT:
                self._servers.clear()  # an address book's URLs are many, their servers few
            server = self._servers[channel.url] = _server(channel)
        return server

    def _back_since(self, server: _Server | None, failed_at: datetime | None) -> bool:
        """Whether ``server`` was found answering again by an attempt made after ``failed_at``."""
        if server is None or failed_at is None:
            return False
        found_back = self._hastened_when.get(server)
        return found_back is not None and found_back >= failed_at

    async def _note_server(self, notice_id: int, channel: Channel, ok: bool, attempted_at: datetime) -> None:
        """A server that failed and now takes a message again: the notices waiting for a
        retry on its channels need not wait out their backoff (a fan-out drains as soon
        as a mail server is back, not a backoff later)."""
        server = self._server_of(channel)
        if not ok:
            self._failing.add(server)
            self._failing_refs.setdefault(server, set()).add(channel.ref)
            self._failed_at[notice_id] = attempted_at
            return
        if server not in self._failing:
            return
        moment = asyncio.get_running_loop().time()
        if moment - self._hastened_at.get(server, -HASTEN_EVERY_S) < HASTEN_EVERY_S:
            return  # it flaps: the next success after the pause hastens them
        self._failing.discard(server)
        self._hastened_at[server] = moment
        self._hastened_when[server] = attempted_at
        # the channels that failed on this server: the notices waiting on them
        refs = sorted(self._failing_refs.pop(server, ()))
        try:
            hastened = await asyncio.to_thread(self._store.hasten_notices, refs, now=self._clock())
        except StoreError as exc:
            self._log.warning("notices_not_hastened", scheme=server[0], error=str(exc))
            return
        if hastened:
            self._log.info("notices_hastened", scheme=server[0], notices=hastened)
            self._on_hastened()


#: a channel's server, as far as its URL tells: scheme, host, port (kept in memory only)
_Server = tuple[str, str, int | None]
#: channel URLs whose server is remembered at once
_SERVERS_KEPT = 4096


def _server(channel: Channel) -> _Server:
    parts = urlsplit(channel.url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (channel_scheme(channel.url), (parts.hostname or "").lower(), port)


def _cursor(channel_refs: Sequence[str], notice: Notice) -> ChannelCursor:
    """Where delivery stands, as kept when the notice was last put back: at the channel it
    had reached, with the tries made on it. A channel no longer among the recipient's (the
    configuration changed) starts it over."""
    if notice.cursor_ref is None or notice.cursor_ref not in channel_refs:
        return ChannelCursor()
    return ChannelCursor(index=list(channel_refs).index(notice.cursor_ref), tries=notice.cursor_tries)


def _may_be_superseded(notice: Notice, incident: Incident | None) -> bool:
    """A notice telling of an incident that has resolved since, other than its recovery
    (and a retraction's correction, which is about the incident's end)."""
    return (
        incident is not None
        and not incident.is_open
        and notice.event not in (IncidentEvent.resolved, IncidentEvent.reminder, IncidentEvent.retracted)
    )


class _Wait:
    """A correction whose recipient's notice of the incident is still on its way: it waits."""


#: how long a correction waits for its recipient's notice in flight to end, each time
CORRECTION_WAIT = timedelta(seconds=2)


def correction_channel(notices: Sequence[Notice], contact_ref: str) -> str | _Wait | None:
    """Where a retraction's correction for ``contact_ref`` goes, given the notices of its
    incident: the channel that recipient's first notice of it was sent through (the same
    channel), :class:`_Wait` while one of their notices is being sent (it may yet go out),
    None when none of them was sent (nothing to correct). A notice of theirs still pending
    is not waited for: the incident is retracted, so it is set aside when claimed."""
    told = [n for n in notices if n.contact_ref == contact_ref and n.event is not IncidentEvent.retracted]
    if any(n.state is NoticeState.sending for n in told):
        return _Wait()
    sent = sorted(
        (n for n in told if n.state is NoticeState.sent and n.channel_ref),
        key=lambda n: (n.sent_at or n.created_at, n.id),
    )
    return sent[0].channel_ref if sent else None


def _prepare(
    config: Config,
    notice: Notice,
    incident: Incident | None,
    silences: Sequence[Silence],
    now: datetime,
    *,
    recovered: Collection[str] = (),
    quiet: MaintenanceHold | MaintenanceQuiet | None = None,
    correct_via: str | None = None,
    contacts: Mapping[str, Contact] | None = None,
) -> ClaimedNotice | _SetAside:
    """Render a claimed notice for delivery, or say why it will not be delivered.
    ``contacts``: the recipients of a claimed batch, looked up at once (else one by one);
    ``recovered``: the recipients that have a recovery notice of the notice's incident;
    ``quiet``: the maintenance window its incident opened and resolved within, if any;
    ``correct_via``: for a retraction's correction, the channel its recipient was told
    through (None: they were not, and there is nothing to correct)."""
    if incident is None:
        return _SetAside.of(
            NoticeState.failed, SetAsideReason.incident_gone, "the incident is no longer recorded"
        )
    correction = notice.event is IncidentEvent.retracted
    if incident.retracted_at is not None and not correction:
        return _SetAside.of(
            NoticeState.skipped,
            SetAsideReason.retracted,
            "the incident was retracted: only its corrections go out",
        )
    if correction and correct_via is None:
        return _SetAside.of(
            NoticeState.skipped,
            SetAsideReason.nothing_to_correct,
            "no notice of the retracted incident reached this recipient: nothing to correct",
        )
    if isinstance(quiet, MaintenanceQuiet):
        return _SetAside.of(NoticeState.silenced, SetAsideReason.maintenance, quiet.detail)
    if _may_be_superseded(notice, incident) and notice.contact_ref in recovered:
        # still untold when the incident resolved: the recovery notice tells them instead
        return _SetAside.of(
            NoticeState.skipped,
            SetAsideReason.superseded,
            f"the incident resolved before this {notice.event} notice went out; "
            "its recovery notice replaces it",
        )
    if notice.event is IncidentEvent.reminder and not incident.is_open:
        return _SetAside.of(
            NoticeState.skipped,
            SetAsideReason.incident_resolved,
            "the incident was resolved before the reminder went out",
        )
    silence = silence_matching(config, incident, notice.event, silences, now)
    if silence is not None:
        return _SetAside.of(NoticeState.silenced, SetAsideReason.silenced, _silenced_by(silence))
    contact: Contact | None
    if notice.contact_ref.startswith(SHARED_PREFIX):
        shared = next((c for c in config.channels.values() if c.ref == notice.contact_ref), None)
        if shared is None:
            return _SetAside.of(
                NoticeState.skipped,
                SetAsideReason.recipient_gone,
                f"{notice.contact_ref} is no longer configured",
            )
        channel_refs: tuple[str, ...] = (shared.ref,)
        # a shared channel has no contact; a private text greets the channel by its name
        name = notice.contact_ref[len(SHARED_PREFIX) :]
        contact = Contact(name=name, id=name, language=notice.language, timezone=config.daemon.timezone)
    else:
        contact = config.contact(notice.contact_ref) if contacts is None else contacts.get(notice.contact_ref)
        if contact is None:
            return _SetAside.of(
                NoticeState.skipped,
                SetAsideReason.recipient_gone,
                f"contact {notice.contact_ref} is no longer configured",
            )
        channel_refs = tuple(channel.ref for channel in contact.channels)
    if correction and correct_via is not None:
        # the correction goes where the mistaken notice went, and nowhere else
        channel_refs = (correct_via,)
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
            timezone=config.daemon.timezone,
            # an operator's update of any incident (the judge's too) shows their words; a
            # correction shows the operator's correction, never the retracted message
            message=notice.message or ("" if correction else None),
        )
    except NotifyError as exc:
        return _SetAside.of(NoticeState.failed, SetAsideReason.unrenderable, str(exc))
    if template.visibility is Visibility.public:
        # the last guard: a manual message or an alert's words checked nowhere else
        problems = public_text_problems(f"{rendered.subject}\n{rendered.body}", config)
        if problems:
            detail = "public text with personal data: " + "; ".join(problems)
            return _SetAside.of(NoticeState.failed, SetAsideReason.personal_data, detail)
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
        cursor=_cursor(channel_refs, notice),
        down_platforms=down,
        last_error=notice.last_error or "",
        due_since=max(notice.created_at, notice.not_before or notice.created_at),
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

    Use as an async context manager; the apprise sender is owned unless ``sender`` is
    given. ``dry_run`` (default: the configuration's) renders and records everything and
    sends nothing. With ``metrics``, every notice's end is counted by channel scheme and
    outcome (a dry run's as ``silenced``), and a sent one's latency from its incident
    event is observed.

    Claims are this pump's (``holder``, by default :func:`dispatcher_identity`) for
    :data:`CLAIM_LEASE`, renewed while their deliveries go on, so another dispatcher on the
    same database (a ``failover trigger`` delivering from the command line while a daemon
    starts) never takes them. From entry to exit, every :data:`SWEEP_EVERY_S`, the pump
    takes back claims whose lease ran out and, at once, those of a dispatcher of this host
    whose process died (a daemon killed with SIGKILL): those notices are sent again, at
    most once per delivery that was in flight. On exit it hands back what it still holds
    (deliveries abandoned by a drain that ran out of time).
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
        jitter: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
        holder: str | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._down_platforms = down_platforms
        self._sender = sender
        #: the sender this pump made (its threads follow ``[notify] concurrency``)
        self._own_sender: ApprisePlugins | None = None
        self._log = log or get_logger("failover.notices")
        self._dry_run = dry_run
        self.holder = holder or dispatcher_identity()
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
            holder=self.holder,
            metrics=metrics,
            on_hastened=self.wake,
        )
        self._upkeep: asyncio.Task[None] | None = None
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
            self._sender = self._own_sender = await self._stack.enter_async_context(
                ApprisePlugins(max_workers=self._config.notify.concurrency)
            )
        await self._take_back_claims()
        self._upkeep = asyncio.create_task(self._keep_claims(), name="failover-notice-claims")
        self._dispatcher = self._new_dispatcher()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._pass is not None and not self._pass.done() and not self._stopping:
            await self.drain(30.0)
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        await self._hand_back_abandoned()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def _take_back_claims(self) -> None:
        """Put back to ``pending`` the claims whose lease ran out and those of dispatchers
        of this host that died; a database that fails is tried again at the next sweep."""
        try:
            holders: list[Claims] = await asyncio.to_thread(self._store.claims, now=self._clock())
            if any(claims.expired for claims in holders if claims.holder != self.holder):
                released = await asyncio.to_thread(
                    self._store.release_expired_claims, now=self._clock(), sparing=self.holder
                )
                if released:
                    self._log.warning("notice_claims_released", notices=released, reason="lease_expired")
            for claims in holders:
                if claims.holder == self.holder and claims.notices > self._outbox.held:
                    await self._outbox.release_orphans()
                elif claims.holder != self.holder and holder_gone(claims.holder):
                    released = await asyncio.to_thread(self._store.release_claims, claims.holder)
                    if released:
                        self._log.warning(
                            "notice_claims_released",
                            notices=released,
                            reason="holder_gone",
                            holder=claims.holder,
                        )
        except StoreError as exc:
            self._log.warning("notice_claims_sweep_failed", error=str(exc))

    async def _keep_claims(self) -> None:
        """Renew this pump's claims in flight, hand back what it claimed and could not
        prepare, and take back the claims of others that ran out or whose holder died."""
        last_renewal = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if asyncio.get_running_loop().time() - last_renewal >= RENEW_EVERY_S:
                last_renewal = asyncio.get_running_loop().time()
                ids = self._outbox.in_flight_ids
                if ids:
                    try:
                        await asyncio.to_thread(
                            self._store.renew_claims, self.holder, ids, until=self._clock() + CLAIM_LEASE
                        )
                    except StoreError as exc:
                        self._log.warning("notice_claims_not_renewed", notices=len(ids), error=str(exc))
            await self._take_back_claims()

    async def _hand_back_abandoned(self) -> None:
        """Hand back the claims of deliveries a drain abandoned (their outcome unknown:
        each may go out again), so that the next dispatcher need not wait for the lease."""
        ids = self._outbox.in_flight_ids
        if not ids:
            return
        try:
            released = await asyncio.to_thread(self._store.release_claims, self.holder, ids)
        except StoreError as exc:
            self._log.warning("notice_claims_not_released", notices=len(ids), error=str(exc))
            return
        if released:
            self._log.warning("notice_claims_released", notices=released, reason="abandoned")

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
            backoff_max_s=notify.backoff_max_s,
            give_up_after_s=notify.give_up_after_s,
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
            # an imported contact's channels are on [notify]'s bases: their schemes are those
            config = self._config
            bases = (config.notify.smtp_url, config.notify.signal_url)
            schemes = {channel_scheme(c.url) for c in written_channels(config).values()}
            self._metrics.init_channels(schemes | {channel_scheme(url) for url in bases if url})

    def wake(self) -> None:
        """Notices were just queued: look for due ones now rather than at the next poll."""
        self._wake.set()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded configuration from the next pass on (deliveries in flight end
        with the channels they started with)."""
        self._config = config
        self._channels = notice_channels(config)
        self._init_channel_metrics()
        if self._own_sender is not None:
            self._own_sender.resize(config.notify.concurrency)
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
        try:
            while not stop.is_set() and not self._stopping:
                now = self._clock()
                try:
                    if any(r.reminder_every for r in self._config.routes) and (
                        last_reminders is None or (now - last_reminders).total_seconds() >= REMINDER_CHECK_S
                    ):
                        last_reminders = now
                        await self.queue_reminders()
                except StoreError as exc:
                    self._log.warning("notice_upkeep_failed", error=str(exc))
                self._wake.clear()
                self._pass = asyncio.ensure_future(self._dispatching().dispatch_due())
                await asyncio.wait({self._pass, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not self._pass.done():
                    break  # stop: the pass is drained below
                try:
                    self._pass.result()
                except (StoreError, OSError) as exc:
                    # the database is away for a moment, or the process is out of file
                    # descriptors: the next pass tries again (what this pass had claimed
                    # and not handed over is handed back; see _StoreOutbox)
                    self._log.warning("notice_pass_failed", error=str(exc) or type(exc).__name__)
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=POLL_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        except asyncio.CancelledError:
            # cancelled (a drain that ran out of time): the deliveries in flight are not
            # waited for; their claims are handed back on exit, or taken back by the next
            # start (their holder died) or once their lease runs out
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
                detail="notices still in flight are handed back and sent again",
            )

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: claim nothing new, and wait up to ``timeout_s`` for the deliveries
        in flight to end. Whatever is still in flight then is handed back on exit."""
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


def add_silence(
    config: Config,
    name: str,
    *,
    duration: timedelta,
    reason: str,
    now: datetime,
    created_by: str | None = None,
) -> Silence:
    """Hold back the notices of incidents of ``name`` (a platform, a family or ``*``) for
    ``duration``: they are recorded ``silenced`` and never sent. Manual failovers still go out.
    ``created_by`` (who asked) is kept with the silence and written, with it, in the journal
    of actions of every open incident the silence covers."""
    if name not in _silence_names(config):
        known = ", ".join(sorted(_silence_names(config) - {"*"}))
        raise ConfigError(f"unknown platform or family {name!r}; configured: {known or 'none'} (or '*')")
    if duration <= timedelta(0):
        raise ConfigError("a silence needs a positive duration")
    until = now + duration
    with open_store(config) as store:
        actions: dict[int, IncidentAction] = {}
        if created_by is not None:
            text = f"{name}, {until.isoformat()}" + (f": {reason}" if reason else "")
            for incident in store.open_incidents():
                covered = name in {"*", incident.name, *incident.platforms, *_families_of(config, incident)}
                if covered and incident.id is not None:
                    actions[incident.id] = IncidentAction(
                        at=now, actor=created_by, kind=ActionKind.silenced, text=text
                    )
        return store.add_silence(
            name=name, until=until, reason=reason, now=now, created_by=created_by, actions=actions
        )


def active_silences(config: Config, *, now: datetime) -> list[Silence]:
    """The silences in force at ``now``."""
    with open_store(config) as store:
        return store.active_silences(now)


def remove_silences(config: Config, target: str, *, now: datetime) -> list[Silence]:
    """End the silences in force on ``target`` (a name), or the one numbered ``target``;
    returns those ended."""
    with open_store(config) as store:
        ended = []
        for silence in store.active_silences(now):
            named = (target.isdigit() and silence.id == int(target)) or silence.name == target
            if named and store.remove_silence(silence.id):
                ended.append(silence)
        return ended


# -------------------------------------------------------------------------------- notify-test


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
    contact = config.contact(wanted) or next((c for c in config.everyone() if c.name == wanted), None)
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
    with open_store(config) as store:
        down = {name for incident in store.open_incidents() for name in incident.platforms}
    incident = Incident(
        key=f"test:{contact.id}:{now:%Y%m%dT%H%M%S}",
        scope=IncidentScope.custom,
        kind=IncidentKind.manual,
        name="test",
        platforms=(),
        opened_at=now,
    )
    # a text of its own: it says it is a test, in the contact's language and time zone
    rendered = render_notice(
        template=TEST_TEMPLATE,
        language=contact.language,
        incident=incident,
        event=IncidentEvent.manual,
        contact=contact,
        now=now,
        alternatives=config.alternatives,
        platform_names={},
        timezone=config.daemon.timezone,
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
            one_shot=True,
            jitter=lambda: 0.0,
            clock=utc_now,
            dry_run=dry_run,
        )
        await dispatcher.dispatch_due()
    record = outbox.get(notice_id)
    used = record.channel_ref or (record.deliveries[-1].channel_ref if record.deliveries else None)
    if record.why is not None and record.why.reason is SetAsideReason.dry_run:
        outcome = "dry-run"
        used = record.why.channel_ref
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
