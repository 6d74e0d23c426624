"""``failover cancel``, ``failover resolve`` and ``failover note``: what an operator does
to an incident once it is open. Cancel withdraws a manual incident's notices still held
and closes it; resolve closes it and queues its recovery notices; a note enters any
incident's journal of actions and no notice.

The functions are synchronous (the store is); the daemon calls them in a worker thread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from failover.config import Config
from failover.domain import Incident, IncidentEvent, NoticeState
from failover.errors import ConfigError
from failover.service._database import daemon_running, open_store
from failover.service._manual_plan import plan_for
from failover.service._manual_target import NOTE_MAX, IncidentNotFoundError, _manual_incident
from failover.store import ActionKind, IncidentAction, Store

__all__ = [
    "CancelOutcome",
    "ResolveOutcome",
    "ResolveReport",
    "cancel_incident",
    "cancel_manual",
    "note_incident",
    "note_manual",
    "resolve_incident",
    "resolve_manual",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelOutcome:
    incident: Incident
    cancelled: int
    #: notices already sent (or being sent) when the cancellation came
    already_sent: int


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


# ------------------------------------------------------------------------------ for the CLI


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
