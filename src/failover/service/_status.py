"""The status and the journal as JSON: one shape for ``failover status --json`` and
``GET /api/v1/status``, one for ``failover incidents --export json`` and
``GET /api/v1/incidents``.

The shape is the ``Status`` schema of the OpenAPI document shipped with the package
(``failover/openapi.json``, served at ``GET /api/v1/openapi.json``). An incident is named
by its ``id``, the number ``failover resolve ID``, ``failover cancel ID`` and
``POST /api/v1/incidents/{id}/resolve`` take; its ``key`` (the judge's own name for it, as
log lines carry it) comes second. What only the running daemon knows (when it started, its
rounds, the achieved intervals) is null when the status is read from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from failover.config import Config
from failover.detect import PlatformStatus
from failover.domain import Health, Incident
from failover.service._record import StatusReport
from failover.store import IncidentAction, JournalEntry, NoticeState

__all__ = ["action_json", "incident_json", "journal_entry_json", "journal_json", "status_json"]


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
