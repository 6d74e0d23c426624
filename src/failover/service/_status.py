"""The status and the journal: what ``failover status`` and ``failover incidents`` read back
from the database (:func:`status_report`, :func:`journal`), and their JSON: one shape for
``failover status --json`` and ``GET /api/v1/status``, one for ``failover incidents --export
json`` and ``GET /api/v1/incidents``.

The shape is the ``Status`` schema of the OpenAPI document shipped with the package
(``failover/openapi.json``, served at ``GET /api/v1/openapi.json``). An incident is named
by its ``id``, the number ``failover resolve ID``, ``failover cancel ID`` and
``POST /api/v1/incidents/{id}/resolve`` take; its ``key`` (the judge's own name for it, as
log lines carry it) comes second. What only the running daemon knows (when it started, its
rounds, the achieved intervals) is null when the status is read from the database.
A trigger's preview has its JSON here too (:func:`plan_json`, :func:`coverage_json`), one
shape for ``failover trigger --dry-run --json`` and the API's dry run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from failover.config import Config
from failover.detect import Connectivity, JudgeState, PlatformStatus, health_of
from failover.domain import Health, Incident, NoticeState
from failover.service._database import open_store
from failover.store import IncidentAction, JournalEntry

if TYPE_CHECKING:
    from failover.service._manual_plan import ManualPlan
    from failover.service._manual_target import Coverage

__all__ = [
    "DaemonFacts",
    "StatusReport",
    "action_json",
    "coverage_json",
    "incident_json",
    "journal",
    "journal_entry_json",
    "journal_json",
    "plan_json",
    "status_json",
    "status_of",
    "status_report",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class DaemonFacts:
    """What only the running daemon knows; ``failover status`` reads the database and
    has none of it."""

    started_at: datetime | None
    #: rounds judged since the daemon started
    rounds: int
    last_round_at: datetime | None
    #: per platform, the time between its last two scheduled rounds
    achieved_interval_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusReport:
    """What ``failover status`` and ``GET /api/v1/status`` show: each platform as last
    judged, open incidents, our own connectivity, the outbox."""

    platforms: tuple[PlatformStatus, ...]
    open_incidents: tuple[Incident, ...]
    connectivity_lost_since: datetime | None
    judged: bool
    #: the controls as last judged
    connectivity: Connectivity = field(default_factory=lambda: Connectivity(ok=None))
    #: when ``connectivity.ok`` last changed
    connectivity_since: datetime | None = None
    #: notices per outbox state; None when the database could not be read
    outbox: Mapping[NoticeState, int] | None = None
    database_ok: bool = True
    #: None when read from the database rather than asked of the running daemon
    daemon: DaemonFacts | None = None


def status_of(
    config: Config,
    state: JudgeState,
    *,
    judged: bool,
    open_incidents: Sequence[Incident],
    outbox: Mapping[NoticeState, int] | None,
    database_ok: bool = True,
    daemon: DaemonFacts | None = None,
) -> StatusReport:
    """The status of ``config``'s platforms in the judge's ``state``: the one way both
    ``failover status`` (a persisted state) and the daemon (its state in memory) build it."""
    lost = state.connectivity.ok is False
    return StatusReport(
        platforms=tuple(health_of(state, platform.name) for platform in config.platforms),
        open_incidents=tuple(open_incidents),
        connectivity_lost_since=state.connectivity_since if lost else None,
        judged=judged,
        connectivity=state.connectivity,
        connectivity_since=state.connectivity_since,
        outbox=outbox,
        database_ok=database_ok,
        daemon=daemon,
    )


def status_report(config: Config) -> StatusReport:
    """Read the last persisted judgement; nothing is probed."""
    with open_store(config) as store:
        snapshot = store.load_state()
        incidents = store.open_incidents()
        outbox = store.outbox_counts()
    state = JudgeState.from_json(snapshot) if snapshot is not None else JudgeState.initial()
    return status_of(config, state, judged=snapshot is not None, open_incidents=incidents, outbox=outbox)


def journal(config: Config, *, since: datetime | None, platform: str | None) -> list[JournalEntry]:
    """The incident journal, oldest first, with what became of each incident's notices."""
    with open_store(config) as store:
        return store.incidents(since=since, platform=platform)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def incident_json(incident: Incident) -> dict[str, Any]:
    """An incident as the API and ``failover status --json`` show it (the ``Incident``
    schema); times in ISO 8601."""
    return {
        "id": incident.id,
        "key": incident.key,
        "scope": incident.scope.value,
        "kind": incident.kind.value,
        "name": incident.name,
        "platforms": list(incident.platforms),
        "opened_at": incident.opened_at.isoformat(),
        "confirmed_at": _time(incident.confirmed_at),
        "resolved_at": _time(incident.resolved_at),
        "cause": incident.cause,
        "message": incident.message,
        # the operator's texts written for one language each, besides "message"
        "messages": dict(incident.messages),
        "evidence": list(incident.evidence),
        # a manual message's need of a second operator's approval: null when none was asked for
        "approval": incident.approval.value if incident.approval is not None else None,
        # when an operator retracted it (its notices were a mistake): null when never
        "retracted_at": _time(incident.retracted_at),
    }


def action_json(action: IncidentAction) -> dict[str, Any]:
    """One entry of an incident's journal of actions (the ``IncidentAction`` schema)."""
    return {
        "at": action.at.isoformat(),
        "actor": action.actor,
        "kind": action.kind.value,
        "text": action.text,
    }


def journal_entry_json(entry: JournalEntry, now: datetime) -> dict[str, Any]:
    """An incident of the journal and what became of its notices (the ``JournalIncident``
    schema): its duration up to ``now`` when still open."""
    return {
        **incident_json(entry.incident),
        "duration_s": round(entry.incident.duration(now).total_seconds()),
        "notices": {
            "sent": entry.notices_sent,
            "failed": entry.notices_failed,
            "skipped": entry.notices_skipped,
            "pending": entry.notices_pending,
        },
        # who did what and when, oldest first
        "actions": [action_json(action) for action in entry.actions],
    }


def journal_json(entries: Sequence[JournalEntry], now: datetime) -> dict[str, Any]:
    """The journal as ``GET /api/v1/incidents`` and ``failover incidents --export json``
    show it (the ``Journal`` schema): ``entries`` in the journal's order, newest first."""
    return {"incidents": [journal_entry_json(entry, now) for entry in reversed(entries)]}


def status_json(report: StatusReport, config: Config) -> dict[str, Any]:
    """``report`` as a JSON-ready dict (the ``Status`` schema), platforms in the
    configuration's order."""
    judged = {status.platform: status for status in report.platforms}
    ids = {incident.key: incident.id for incident in report.open_incidents}
    facts = report.daemon
    intervals = facts.achieved_interval_s if facts is not None else {}
    platforms = []
    for platform in config.platforms:
        status = judged.get(platform.name) or PlatformStatus(
            platform=platform.name,
            health=Health.unknown,
            since=None,
            flapping=False,
            suspect=False,
            incident=None,
        )
        platforms.append(
            {
                "platform": platform.name,
                "display_name": platform.display_name,
                "family": platform.family,
                "health": status.health.value,
                "since": _time(status.since),
                "flapping": status.flapping,
                "suspect": status.suspect,
                # the id resolve and cancel take; the key only says which log lines are about it
                "incident": ids.get(status.incident) if status.incident is not None else None,
                "incident_key": status.incident,
                "interval_s": platform.interval_s,
                "achieved_interval_s": intervals.get(platform.name),
            }
        )
    connectivity = report.connectivity
    outbox = report.outbox
    return {
        "judged": report.judged,
        "dry_run": config.daemon.dry_run,
        "database": "ok" if report.database_ok else "unavailable",
        "connectivity": {
            "ok": connectivity.ok,
            "since": _time(report.connectivity_since),
            "lost_since": _time(report.connectivity_lost_since),
            "controls_passing": connectivity.passing,
            "controls_required": connectivity.required,
            "controls_total": connectivity.total,
        },
        "platforms": platforms,
        "open_incidents": [incident_json(incident) for incident in report.open_incidents],
        "outbox": None if outbox is None else {state.value: outbox.get(state, 0) for state in NoticeState},
        "started_at": _time(facts.started_at) if facts is not None else None,
        "rounds": facts.rounds if facts is not None else None,
        "last_round_at": _time(facts.last_round_at) if facts is not None else None,
    }


def coverage_json(coverage: Coverage) -> dict[str, Any]:
    """The open incident covering a trigger's target, and whom it told when."""
    incident = coverage.incident
    return {
        "id": incident.id,
        "key": incident.key,
        "scope": incident.scope.value,
        "kind": incident.kind.value,
        "name": incident.name,
        "platforms": list(incident.platforms),
        "opened_at": incident.opened_at,
        "notified": coverage.notified,
        "notified_at": coverage.notified_at,
        "waiting": coverage.waiting,
    }


def plan_json(plan: ManualPlan) -> dict[str, Any]:
    """A manual incident's preview: texts per language, the languages something is not
    written in, recipients per channel kind and how long each kind takes at the configured
    rates; for a target already covered, the texts of an update of the covering incident."""
    return {
        "recipients": plan.recipients,
        "channels": dict(plan.channels),
        "hold_until": plan.hold_until,
        "texts": [
            {
                "template": text.template,
                "language": text.language,
                "visibility": text.visibility.value,
                "subject": text.subject,
                "body": text.body,
                "recipients": text.recipients,
            }
            for text in plan.texts
        ],
        # who is not read to in their own language, and what they get instead
        "language_gaps": [
            {
                "language": gap.language,
                "what": gap.what,
                "template": gap.template,
                "used": gap.used,
                "recipients": gap.recipients,
            }
            for gap in plan.gaps
        ],
        # how long telling each channel kind's recipients takes at its rate
        "durations": [
            {
                "scheme": duration.scheme,
                "recipients": duration.recipients,
                "rate_per_minute": duration.rate_per_minute,
                "seconds": duration.seconds,
            }
            for duration in plan.durations
        ],
    }
