"""Manual failover: open an incident by hand (or from Alertmanager), preview and queue its
notices, cancel them within the hold, resolve it with recovery notices.

Everything here goes through the same record path as the rounds: :func:`plan_notices`
decides who hears of what, and one ``Store.record_decision`` call writes the incident and
its notices in one transaction, so the daemon's notice pump delivers them like any other.
The functions are synchronous (the store is); the daemon calls them in a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from failover.config import Config
from failover.detect import IncidentChange
from failover.domain import (
    Channel,
    Contact,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Visibility,
)
from failover.errors import AlreadyRunningError, ConfigError, FailoverError
from failover.logs import get_logger
from failover.notify import (
    channel_scheme,
    eligible_channels,
    render_notice,
)
from failover.service._notices import SHARED_PREFIX, NoticePump, notice_template, plan_notices
from failover.service._record import open_store
from failover.service._runtime import utc_now
from failover.store import NoticeDraft, NoticeState, Store

__all__ = [
    "LOCK_STALE_AFTER",
    "CancelOutcome",
    "DeliveryReport",
    "IncidentNotFoundError",
    "ManualPlan",
    "ManualTarget",
    "PreviewText",
    "ResolveOutcome",
    "ResolveReport",
    "TriggerOutcome",
    "cancel_incident",
    "cancel_manual",
    "daemon_running",
    "deliver_manual",
    "find_target",
    "lock_holder",
    "manual_incident",
    "open_manual",
    "plan_manual",
    "resolve_incident",
    "resolve_manual",
    "trigger_manual",
]

#: A daemon's lock is considered abandoned this long after its last heartbeat (the daemon
#: renews it every third of that).
LOCK_STALE_AFTER = timedelta(seconds=30)
#: Notices that will not move any more.
FINAL_STATES = frozenset(
    {NoticeState.sent, NoticeState.failed, NoticeState.skipped, NoticeState.silenced, NoticeState.cancelled}
)
_PREVIEW_CONTACT_NAME = "<contact name>"


class IncidentNotFoundError(FailoverError):
    """No incident has this id (or it cannot be handled by hand)."""


def lock_holder(role: str = "") -> str:
    """Who holds (or probes) the daemon lock: ``host:pid``, with a role for non-daemons."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    return f"{holder}:{role}" if role else holder


def daemon_running(store: Store, *, now: datetime) -> bool:
    """Whether a daemon holds the database's lock (heartbeat younger than the stale limit).

    Probed by taking the lock and giving it back at once: a daemon starting in that instant
    would be refused once, which its service manager retries; no notice can be sent twice
    either way, since every delivery claims its notice first.
    """
    holder = lock_holder("probe")
    try:
        store.acquire_lock(holder, now=now, stale_after=LOCK_STALE_AFTER)
    except AlreadyRunningError:
        return True
    store.release_lock(holder)
    return False


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True, kw_only=True, slots=True)
class ManualTarget:
    """What a manual incident is about: a platform, a family, or a custom name."""

    scope: IncidentScope
    name: str
    platforms: tuple[str, ...]


def find_target(
    config: Config, name: str, *, scope: IncidentScope | None = None, strict: bool = True
) -> ManualTarget:
    """The platform or family called ``name`` (a configured platform first), or a custom
    target. With ``scope`` given, only that kind is looked up. ``strict`` refuses an unknown
    name without ``scope=custom`` (the CLI: a typo must not page everyone about nothing);
    otherwise an unknown name is custom (the API and Alertmanager)."""
    platforms = {p.name: p for p in config.platforms}
    families: dict[str, list[str]] = {}
    for platform in config.platforms:
        if platform.family:
            families.setdefault(platform.family, []).append(platform.name)
    if scope is IncidentScope.custom:
        return ManualTarget(scope=IncidentScope.custom, name=name, platforms=())
    if scope in (None, IncidentScope.platform) and name in platforms:
        return ManualTarget(scope=IncidentScope.platform, name=name, platforms=(name,))
    if scope in (None, IncidentScope.family) and name in families:
        return ManualTarget(scope=IncidentScope.family, name=name, platforms=tuple(families[name]))
    if strict or scope is not None:
        known = ", ".join(sorted({*platforms, *families})) or "none"
        what = {
            None: "platform or family",
            IncidentScope.platform: "platform",
            IncidentScope.family: "family",
        }
        raise ConfigError(
            f"unknown {what.get(scope, 'target')} {name!r} (configured: {known}); "
            "use --custom NAME for anything else"
        )
    return ManualTarget(scope=IncidentScope.custom, name=name, platforms=())


def manual_incident(target: ManualTarget, *, message: str, now: datetime, key: str | None = None) -> Incident:
    """A new manual incident, opened and confirmed ``now``. Its key never collides with the
    judge's (``manual:`` prefix); ``key`` overrides it (Alertmanager's fingerprint)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return Incident(
        key=key or f"manual:{target.scope}:{target.name}:{stamp}",
        scope=target.scope,
        kind=IncidentKind.manual,
        name=target.name,
        platforms=target.platforms,
        opened_at=now,
        confirmed_at=now,
        cause="manual failover",
        message=message,
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

    @property
    def recipients(self) -> int:
        return len(self.drafts)


def _recipient_channels(config: Config, draft: NoticeDraft) -> list[Channel]:
    if draft.contact_ref.startswith(SHARED_PREFIX):
        return [c for c in config.channels.values() if c.ref == draft.contact_ref]
    contact = config.contact(draft.contact_ref)
    return list(contact.channels) if contact is not None else []


def _first_scheme(config: Config, draft: NoticeDraft, incident: Incident, visibility: Visibility) -> str:
    channels = _recipient_channels(config, draft)
    if draft.channel_ref is not None:
        preferred = [c for c in channels if c.ref == draft.channel_ref]
        channels = preferred + [c for c in channels if c.ref != draft.channel_ref]
    usable = eligible_channels(channels, down_platforms=incident.platforms, visibility_needed=visibility)
    return channel_scheme(usable[0].url) if usable else "none"


def plan_for(
    config: Config,
    incident: Incident,
    event: IncidentEvent,
    *,
    now: datetime,
    groups: Collection[str] = (),
    hold_until: datetime | None = None,
) -> ManualPlan:
    """The notices an incident event would queue, with their preview."""
    drafts = tuple(
        plan_notices(
            config,
            [IncidentChange(event=event, incident=incident)],
            now=now,
            hold_until=hold_until,
            groups=tuple(groups) or None,
            message=incident.message or None,
        )
    )
    by_text: Counter[tuple[str, str]] = Counter((d.template, d.language) for d in drafts)
    texts = []
    schemes: Counter[str] = Counter()
    for draft in drafts:
        template = notice_template(config, draft.template, event)
        schemes[_first_scheme(config, draft, incident, template.visibility)] += 1
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
        channels=tuple(schemes.most_common()),
        hold_until=hold_until,
    )


def plan_manual(
    config: Config,
    target: ManualTarget,
    *,
    message: str,
    now: datetime,
    groups: Sequence[str] = (),
    hold: timedelta = timedelta(0),
    key: str | None = None,
) -> ManualPlan:
    """A manual incident about ``target`` and the notices it would queue (nothing written)."""
    unknown = [group for group in groups if group not in config.groups]
    if unknown:
        known = ", ".join(sorted(config.groups)) or "none"
        raise ConfigError(f"unknown group {unknown[0]!r} (configured: {known})")
    incident = manual_incident(target, message=message, now=now, key=key)
    hold_until = now + hold if hold > timedelta(0) else None
    return plan_for(config, incident, IncidentEvent.manual, now=now, groups=groups, hold_until=hold_until)


def open_manual(store: Store, plan: ManualPlan, *, now: datetime) -> Incident:
    """Record the incident and queue its notices in one transaction; the incident as stored."""
    stored = store.record_decision(at=now, incident_events=[(plan.event, plan.incident)], notices=plan.drafts)
    return stored[0]


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


def cancel_incident(store: Store, incident_id: int, *, now: datetime) -> CancelOutcome:
    """Cancel a manual incident's notices still waiting (within the hold) and close it.
    Notices already sent stay sent; nothing more is sent about it, not even a recovery."""
    incident = _manual_incident(store, incident_id)
    cancelled = store.cancel_notices(incident_id)
    notices = store.notices(incident_id)
    sent = sum(1 for n in notices if n.state in (NoticeState.sent, NoticeState.sending))
    if incident.is_open:
        closed = dataclasses.replace(
            incident, id=None, resolved_at=now, cause=f"cancelled by hand ({cancelled} notices withdrawn)"
        )
        incident = store.record_decision(at=now, incident_updates=[closed])[0]
    return CancelOutcome(incident=incident, cancelled=cancelled, already_sent=sent)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveOutcome:
    incident: Incident
    #: recovery notices queued
    queued: int
    #: notices of the opening withdrawn because they were still held back
    cancelled: int
    already_resolved: bool = False


def resolve_incident(store: Store, config: Config, incident_id: int, *, now: datetime) -> ResolveOutcome:
    """Resolve a manual incident and queue its recovery notices. If none of its opening
    notices has gone out yet (all still held), they are withdrawn and no recovery is sent:
    nobody would understand a recovery from an outage they never heard of."""
    incident = _manual_incident(store, incident_id)
    if not incident.is_open:
        return ResolveOutcome(incident=incident, queued=0, cancelled=0, already_resolved=True)
    resolved = dataclasses.replace(incident, id=None, resolved_at=now)
    notices = store.notices(incident_id)
    went_out = [n for n in notices if n.state not in (NoticeState.pending, NoticeState.cancelled)]
    if notices and not went_out:
        cancelled = store.cancel_notices(incident_id)
        stored = store.record_decision(at=now, incident_updates=[resolved])[0]
        return ResolveOutcome(incident=stored, queued=0, cancelled=cancelled)
    plan = plan_for(config, resolved, IncidentEvent.resolved, now=now)
    stored = store.record_decision(
        at=now, incident_events=[(IncidentEvent.resolved, resolved)], notices=plan.drafts
    )[0]
    return ResolveOutcome(incident=stored, queued=len(plan.drafts), cancelled=0)


def pending_of(store: Store, incident_id: int) -> tuple[int, int]:
    """(notices finished, notices in all) of one incident."""
    notices = store.notices(incident_id)
    return sum(1 for n in notices if n.state in FINAL_STATES), len(notices)


# ------------------------------------------------------------------------------ for the CLI


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerOutcome:
    incident: Incident
    notices: int
    #: a daemon holds the database and will deliver; otherwise the caller should
    daemon_running: bool


def trigger_manual(config: Config, plan: ManualPlan, *, now: datetime) -> TriggerOutcome:
    """Record a planned manual incident and its notices; say whether a daemon will send them."""
    with open_store(config) as store:
        incident = open_manual(store, plan, now=now)
        running = daemon_running(store, now=now)
    return TriggerOutcome(incident=incident, notices=plan.recipients, daemon_running=running)


def cancel_manual(config: Config, incident_id: int, *, now: datetime) -> CancelOutcome:
    """``failover cancel ID``: withdraw a manual incident's waiting notices and close it."""
    with open_store(config) as store:
        return cancel_incident(store, incident_id, now=now)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveReport:
    outcome: ResolveOutcome
    daemon_running: bool


def resolve_manual(config: Config, incident_id: int, *, now: datetime) -> ResolveReport:
    """``failover resolve ID``: resolve a manual incident and queue its recovery notices."""
    with open_store(config) as store:
        outcome = resolve_incident(store, config, incident_id, now=now)
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
    clock: Callable[[], datetime] = utc_now,
    poll_s: float = 0.2,
) -> DeliveryReport:
    """Deliver an incident's notices from this process (no daemon runs): the hold is
    respected (held notices are not due before it ends), ``on_progress(done, total)`` is
    called as they finish. Cancelled (Ctrl-C), the notices still waiting stay in the outbox
    for the next daemon or command; a notice in flight ends first."""
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
                    done, total = await asyncio.to_thread(pending_of, store, incident_id)
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
        notices = store.notices(incident_id)
    return DeliveryReport(states=dict(Counter(n.state for n in notices)), finished=finished)
