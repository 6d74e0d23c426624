"""The daemon as the HTTP surface sees it: :class:`failover.api.ApiBackend`, implemented
over the running :class:`~failover.service._daemon.Daemon`.

Every store call runs in a worker thread; answers are JSON-ready dicts that carry names,
counts, times and states, never an address, a channel URL or a token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from failover.api import AlertmanagerPayload, AlertStatus, ReadyReport, RequestRefused, TriggerRequest
from failover.detect import health_of
from failover.domain import Incident, IncidentKind
from failover.errors import ConfigError
from failover.service._manual import (
    IncidentNotFoundError,
    ManualPlan,
    find_target,
    open_manual,
    plan_manual,
    resolve_incident,
)
from failover.store import JournalEntry, NoticeState

if TYPE_CHECKING:
    from failover.service._daemon import Daemon

__all__ = ["DaemonBackend", "incident_json", "plan_json"]


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "key": incident.key,
        "scope": incident.scope.value,
        "kind": incident.kind.value,
        "name": incident.name,
        "platforms": list(incident.platforms),
        "opened_at": incident.opened_at,
        "confirmed_at": incident.confirmed_at,
        "resolved_at": incident.resolved_at,
        "cause": incident.cause,
        "message": incident.message,
        "evidence": list(incident.evidence),
    }


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        **incident_json(entry.incident),
        "notices": {
            "sent": entry.notices_sent,
            "failed": entry.notices_failed,
            "skipped": entry.notices_skipped,
            "pending": entry.notices_pending,
        },
    }


def plan_json(plan: ManualPlan) -> dict[str, Any]:
    """A manual incident's preview: texts per language and recipients per channel kind."""
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
    }


def _alert_key(fingerprint: str, starts_at: datetime) -> str:
    # one incident per firing: Alertmanager repeats a firing alert (same start), and a later
    # firing of the same label set starts anew
    return f"alertmanager:{fingerprint}:{starts_at.strftime('%Y%m%dT%H%M%SZ')}"


class DaemonBackend:
    """:class:`failover.api.ApiBackend` over the daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    async def alive(self) -> bool:
        return self._daemon.alive

    async def ready(self) -> ReadyReport:
        reasons = self._daemon.not_ready_because()
        return ReadyReport(ready=not reasons, reasons=tuple(reasons))

    async def status(self) -> dict[str, Any]:
        daemon = self._daemon
        config = daemon.config
        watcher = daemon.watcher
        platforms = []
        connectivity: dict[str, Any] = {"ok": None}
        if watcher is not None:
            state = watcher.state
            for platform in config.platforms:
                status = health_of(state, platform.name)
                platforms.append(
                    {
                        "platform": platform.name,
                        "display_name": platform.display_name,
                        "family": platform.family,
                        "health": status.health.value,
                        "since": status.since,
                        "flapping": status.flapping,
                        "suspect": status.suspect,
                        "incident": status.incident,
                        "interval_s": platform.interval_s,
                        # the time between its last two scheduled rounds; null before the second
                        "achieved_interval_s": daemon.achieved_interval_s.get(platform.name),
                    }
                )
            connectivity = {
                "ok": state.connectivity.ok,
                "controls_passing": state.connectivity.passing,
                "controls_total": state.connectivity.total,
                "since": state.connectivity_since,
            }
        else:
            platforms = [
                {"platform": p.name, "display_name": p.display_name, "family": p.family, "health": "unknown"}
                for p in config.platforms
            ]
        answer: dict[str, Any] = {
            "started_at": daemon.started_at,
            "rounds": daemon.rounds,
            "last_round_at": daemon.last_round_at,
            "dry_run": config.daemon.dry_run,
            "connectivity": connectivity,
            "platforms": platforms,
            "open_incidents": [],
            "outbox": None,
            "database": "ok" if daemon.database_ok else "unavailable",
        }
        store = daemon.store
        if store is not None:
            try:
                incidents = await daemon.in_thread(store.open_incidents)
                counts = await daemon.in_thread(store.outbox_counts)
            except Exception:  # noqa: BLE001 - the status page shows what it can
                answer["database"] = "unavailable"
            else:
                answer["open_incidents"] = [incident_json(i) for i in incidents]
                answer["outbox"] = {state.value: counts[state] for state in NoticeState}
        return answer

    async def incidents(self, since: datetime | None, platform: str | None) -> list[dict[str, Any]]:
        store = self._daemon.store
        if store is None:
            raise RuntimeError("database not connected")
        entries: list[JournalEntry] = await self._daemon.in_thread(
            store.incidents, since=since, platform=platform
        )
        return [_entry_json(entry) for entry in reversed(entries)]

    async def trigger(self, request: TriggerRequest) -> dict[str, Any]:
        daemon = self._daemon
        now = daemon.clock()
        try:
            target = find_target(daemon.config, request.target, scope=request.scope, strict=False)
            plan = plan_manual(
                daemon.config,
                target,
                message=request.message,
                now=now,
                groups=request.groups,
                hold=timedelta(seconds=request.hold_seconds or 0.0),
            )
        except ConfigError as exc:
            # a well-formed request naming what does not exist: the caller's mistake
            raise RequestRefused(422, exc.message, [exc.key] if exc.key else ()) from exc
        if request.dry_run:
            return {"accepted": True, "dry_run": True, "preview": plan_json(plan)}
        store = daemon.store
        if store is None:
            raise RuntimeError("database not connected")
        incident = await daemon.in_thread(open_manual, store, plan, now=now)
        daemon.wake_pump()
        daemon.log.info(
            "manual_incident_opened",
            incident=incident.id,
            key=incident.key,
            scope=incident.scope.value,
            name=incident.name,
            notices=plan.recipients,
            hold_until=plan.hold_until.isoformat() if plan.hold_until else None,
            via="api",
        )
        return {
            "accepted": True,
            "dry_run": False,
            "id": incident.id,
            "key": incident.key,
            "notices": plan.recipients,
            "hold_until": plan.hold_until,
            "channels": dict(plan.channels),
        }

    async def resolve(self, incident_id: int) -> dict[str, Any] | None:
        daemon = self._daemon
        store = daemon.store
        if store is None:
            raise RuntimeError("database not connected")
        existing = await daemon.in_thread(store.incident, incident_id)
        if existing is None:
            return None
        if existing.kind is not IncidentKind.manual:
            return {
                "id": incident_id,
                "resolved": False,
                "reason": "opened by the judge: it resolves when the platform recovers",
            }
        try:
            outcome = await daemon.in_thread(
                resolve_incident, store, daemon.config, incident_id, now=daemon.clock()
            )
        except IncidentNotFoundError:
            return None
        daemon.wake_pump()
        daemon.log.info(
            "manual_incident_resolved",
            incident=incident_id,
            notices=outcome.queued,
            withdrawn=outcome.cancelled,
        )
        return {
            "id": incident_id,
            "resolved": True,
            "already_resolved": outcome.already_resolved,
            "notices": outcome.queued,
            "withdrawn": outcome.cancelled,
            "incident": incident_json(outcome.incident),
        }

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, Any]:
        daemon = self._daemon
        store = daemon.store
        if store is None:
            raise RuntimeError("database not connected")
        opened: list[int | None] = []
        resolved: list[int | None] = []
        ignored = 0
        for alert in payload.alerts:
            target = alert.target
            if target is None:
                ignored += 1
                continue
            key = _alert_key(alert.fingerprint, alert.starts_at)
            existing = await daemon.in_thread(store.incident, key)
            if alert.status is AlertStatus.firing:
                if existing is not None:
                    continue  # Alertmanager repeats itself; the incident is already open (or was)
                now = daemon.clock()
                try:
                    manual_target = find_target(daemon.config, target.name, scope=target.scope, strict=False)
                except ConfigError:
                    manual_target = find_target(daemon.config, target.name, scope=None, strict=False)
                name = alert.labels.get("alertname", "")
                message = alert.message or (f"Alertmanager: {name}" if name else "Alertmanager alert")
                plan = plan_manual(daemon.config, manual_target, message=message, now=now, key=key)
                incident = await daemon.in_thread(open_manual, store, plan, now=now)
                opened.append(incident.id)
                daemon.log.info(
                    "manual_incident_opened",
                    incident=incident.id,
                    key=key,
                    notices=plan.recipients,
                    via="alertmanager",
                )
            elif existing is not None and existing.is_open and existing.id is not None:
                outcome = await daemon.in_thread(
                    resolve_incident, store, daemon.config, existing.id, now=daemon.clock()
                )
                resolved.append(outcome.incident.id)
                daemon.log.info("manual_incident_resolved", incident=existing.id, via="alertmanager")
        if opened or resolved:
            daemon.wake_pump()
        return {"opened": opened, "resolved": resolved, "ignored": ignored}
