"""``failover approve`` and ``failover reject``: four eyes on manual messages. With
``[manual] approval = "required"`` a manual incident's notices wait for a second
operator: approved, they go out after the hold; rejected, they are withdrawn and the
incident is closed. The operator who triggered it may not approve it.

The functions are synchronous (the store is); the daemon calls them in a worker thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from failover.config import Config
from failover.domain import Approval, Incident, IncidentEvent, NoticeState
from failover.errors import ConfigError
from failover.service._database import daemon_running, open_store
from failover.service._manual_plan import ManualPlan, _channels_of, fan_out_durations, plan_for
from failover.service._manual_target import NOTE_MAX, ApprovalError, OwnApprovalError, _manual_incident
from failover.store import ActionKind, IncidentAction, Notice, Store

__all__ = [
    "ApproveOutcome",
    "ApproveReport",
    "RejectOutcome",
    "approval_plan",
    "approval_preview",
    "approve_incident",
    "approve_manual",
    "reject_incident",
    "reject_manual",
]


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


# ------------------------------------------------------------------------------ for the CLI


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
