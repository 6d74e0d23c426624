"""``failover trigger`` (and the HTTP trigger): open an incident by hand, or attach the
trigger to the open incident that already covers its target, or send it as an update of
that incident.

One ``Store.record_decision`` call writes the incident and its notices in one
transaction, so the daemon's notice pump delivers them like any other. The functions are
synchronous (the store is); the daemon calls them in a worker thread.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from failover.config import Config
from failover.domain import Approval, Incident
from failover.service._database import daemon_running, open_store
from failover.service._manual_plan import ManualPlan, plan_manual
from failover.service._manual_target import (
    ApprovalError,
    CoverageChangedError,
    ManualTarget,
    NothingToUpdateError,
    find_coverage,
)
from failover.store import ActionKind, IncidentAction, Store

__all__ = [
    "TriggerAction",
    "TriggerOutcome",
    "TriggerRecord",
    "open_manual",
    "preview_manual",
    "record_trigger",
    "trigger_manual",
]


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
