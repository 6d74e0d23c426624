"""The daemon's HTTP surface: :class:`failover.api.ApiBackend` implemented over the
running daemon as :class:`DaemonView` describes it (never the daemon itself), and
:func:`serve_api`, which listens for it.

Every store call runs in a worker thread; answers are JSON-ready dicts that carry names,
counts, times and states, never an address, a channel URL or a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from structlog.stdlib import BoundLogger

from failover.api import (
    Alert,
    AlertmanagerPayload,
    AlertStatus,
    ReadyReport,
    RequestRefused,
    RetractRequest,
    TriggerRequest,
    create_app,
    create_server,
    local_hosts,
)
from failover.config import Config
from failover.detect import JudgeState
from failover.domain import Incident, IncidentKind, IncidentScope, NoticeState
from failover.errors import ConfigError
from failover.metrics import AlertIgnored, Metrics, exposition_app
from failover.service._approval import approve_incident, reject_incident
from failover.service._incident_actions import note_incident, resolve_incident
from failover.service._manual_plan import plan_manual
from failover.service._manual_target import (
    ApprovalError,
    CoverageChangedError,
    IncidentNotFoundError,
    ManualTarget,
    OwnApprovalError,
    TargetError,
    find_coverage,
    find_target,
)
from failover.service._retract import AlreadyRetractedError, retract_incident, retraction_json
from failover.service._round import Watcher
from failover.service._status import (
    DaemonFacts,
    action_json,
    coverage_json,
    incident_json,
    journal_json,
    plan_json,
    status_json,
    status_of,
)
from failover.service._trigger import TriggerAction, open_manual, record_trigger
from failover.store import NOTE_PREFIX, ActionKind, IncidentAction, JournalEntry, Store

__all__ = ["DaemonBackend", "DaemonView", "ListenError", "serve_api"]


class ListenError(OSError):
    """The HTTP surface cannot bind its address (in use, not ours)."""


class DaemonView(Protocol):
    """The running daemon as its HTTP surface sees it: exactly what the endpoints read
    and call, so the surface can be served over anything that has it (a test's fake)."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def watcher(self) -> Watcher | None: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def log(self) -> BoundLogger: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def alive(self) -> bool: ...
    @property
    def database_ok(self) -> bool: ...

    # what only the running daemon knows (its start, its rounds)
    def facts(self) -> DaemonFacts: ...
    # why ``/readyz`` answers 503; empty when ready
    def not_ready_because(self) -> list[str]: ...
    # a store call, run off the loop, noting whether the database answered
    async def in_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    # notices were queued: deliver them now
    def wake_pump(self) -> None: ...


#: who the journal of actions names for what comes over the API (it knows one token, no
#: names) and from Alertmanager
API_ACTOR = "api"
ALERTMANAGER_ACTOR = "alertmanager"

#: An alert's name as shown in logs and the journal: Prometheus alert names are metric
#: names; anything else (free text) is left out.
_ALERT_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]{0,99}")


def _alert_key(fingerprint: str, starts_at: datetime) -> str:
    # one incident per firing: Alertmanager repeats a firing alert (same start), and a later
    # firing of the same label set starts anew
    return f"alertmanager:{fingerprint}:{starts_at.strftime('%Y%m%dT%H%M%SZ')}"


def _alert_name(alert: Alert) -> str:
    name = alert.labels.get("alertname", "")
    return name if _ALERT_NAME.fullmatch(name) else ""


def _alert_reference(alert: Alert) -> str:
    """How the journal names an alert: stable while it fires, so a note is written once."""
    since = alert.starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"Alertmanager alert {_alert_name(alert) or '(unnamed)'} "
        f"(fingerprint {alert.fingerprint}, firing since {since})"
    )


def _noted_in(store: Store, reference: str, since: datetime) -> Incident | None:
    """The incident whose journal notes the alert ``reference`` (attached to it), if any."""
    for entry in store.incidents(since=since):
        if any(line.startswith(NOTE_PREFIX) and reference in line for line in entry.incident.evidence):
            return entry.incident
    return None


def _configured(config: Config) -> str:
    platforms = sorted(p.name for p in config.platforms)
    families = sorted({p.family for p in config.platforms if p.family})
    return f"platforms: {', '.join(platforms) or 'none'}; families: {', '.join(families) or 'none'}"


def _target_refused(exc: TargetError) -> RequestRefused:
    """A trigger's target refused: what is configured, never the name that was sent."""
    if exc.custom:
        return RequestRefused(
            422,
            "a custom incident cannot take the name of a platform or family",
            ['name: a configured platform or family; send it as "target", without "custom"'],
        )
    return RequestRefused(
        422,
        "unknown target",
        [
            f"target: not a configured platform or family ({exc.configured}); "
            'for anything else, send "custom": true and a "name"'
        ],
    )


class DaemonBackend:
    """:class:`failover.api.ApiBackend` over the daemon."""

    def __init__(self, daemon: DaemonView) -> None:
        self._daemon = daemon
        #: one trigger or webhook call at a time decides whether a target is covered
        self._lock = asyncio.Lock()

    @property
    def _store(self) -> Store:
        """The daemon's store; a request that needs it while none is connected is a 503."""
        store = self._daemon.store
        if store is None:
            raise RuntimeError("database not connected")
        return store

    async def alive(self) -> bool:
        return self._daemon.alive

    async def ready(self) -> ReadyReport:
        reasons = self._daemon.not_ready_because()
        return ReadyReport(ready=not reasons, reasons=tuple(reasons))

    async def status(self) -> dict[str, Any]:
        daemon = self._daemon
        watcher = daemon.watcher
        store = daemon.store
        incidents: list[Incident] = []
        outbox: dict[NoticeState, int] | None = None
        readable = store is not None
        if store is not None:
            try:
                incidents = await daemon.in_thread(store.open_incidents)
                outbox = await daemon.in_thread(store.outbox_counts)
            except Exception:  # noqa: BLE001 - the status shows what it can
                readable = False
        report = status_of(
            daemon.config,
            watcher.state if watcher is not None else JudgeState.initial(),
            judged=watcher is not None and watcher.judged,
            open_incidents=incidents if outbox is not None else [],
            outbox=outbox,
            database_ok=readable and daemon.database_ok,
            daemon=daemon.facts(),
        )
        return status_json(report, daemon.config)

    async def incidents(self, since: datetime | None, platform: str | None) -> list[dict[str, Any]]:
        store = self._store
        entries: list[JournalEntry] = await self._daemon.in_thread(
            store.incidents, since=since, platform=platform
        )
        listed: list[dict[str, Any]] = journal_json(entries, self._daemon.clock())["incidents"]
        return listed

    async def trigger(self, request: TriggerRequest, actor: str = API_ACTOR) -> dict[str, Any]:
        problems = request.problems()
        if problems:
            raise RequestRefused(422, "invalid request body", problems)
        daemon = self._daemon
        store = daemon.store
        if store is None:
            raise RequestRefused(503, "database not available")
        now = daemon.clock()
        try:
            target = find_target(
                daemon.config, request.what, scope=IncidentScope.custom if request.custom else None
            )
        except TargetError as exc:
            raise _target_refused(exc) from exc
        async with self._lock:
            covered_by = await daemon.in_thread(find_coverage, store, target)
            if request.update and covered_by is None:
                raise RequestRefused(
                    422, "nothing to update", [f"update: no open incident covers {target.name}"]
                )
            try:
                plan = plan_manual(
                    daemon.config,
                    target,
                    message=request.message or "",
                    messages=request.messages,
                    now=now,
                    groups=request.groups,
                    hold=timedelta(seconds=request.hold_seconds or 0.0),
                    covered_by=covered_by,
                )
            except ConfigError as exc:
                # a well-formed request naming what does not exist: the caller's mistake
                raise RequestRefused(422, exc.message, [exc.key] if exc.key else ()) from exc
            if request.dry_run:
                action = (
                    TriggerAction.opened
                    if covered_by is None
                    else TriggerAction.updated
                    if request.update
                    else TriggerAction.attached
                )
                return {
                    "accepted": True,
                    "dry_run": True,
                    "action": action,
                    "covered_by": coverage_json(covered_by) if covered_by is not None else None,
                    "preview": plan_json(plan),
                }
            try:
                record = await daemon.in_thread(
                    record_trigger,
                    store,
                    plan,
                    update=request.update,
                    via="api",
                    now=now,
                    actor=actor,
                    awaiting_approval=daemon.config.manual.approval == "required",
                )
            except CoverageChangedError as exc:
                raise RequestRefused(409, str(exc)) from exc
            except ApprovalError as exc:
                raise RequestRefused(422, "approval required", [f"update: {exc}"]) from exc
        incident = record.incident
        awaiting = incident.approval is not None and record.action is TriggerAction.opened
        if record.notices and not awaiting:
            daemon.wake_pump()
        daemon.log.info(
            f"manual_incident_{record.action}",
            incident=incident.id,
            key=incident.key,
            scope=incident.scope.value,
            name=incident.name,
            notices=record.notices,
            hold_until=plan.hold_until.isoformat() if plan.hold_until and record.notices else None,
            via="api",
        )
        answer: dict[str, Any] = {
            "accepted": True,
            "dry_run": False,
            "action": record.action,
            "id": incident.id,
            "key": incident.key,
            "notices": record.notices,
            # awaiting approval, the hold starts when it is approved
            "hold_until": plan.hold_until if record.notices and not awaiting else None,
            "channels": dict(plan.channels) if record.notices else {},
            "approval": incident.approval.value if awaiting and incident.approval is not None else None,
        }
        if covered_by is not None:
            answer["covered_by"] = coverage_json(covered_by)
        if record.action is TriggerAction.attached:
            answer["attached_to"] = incident.id
        return answer

    async def resolve(self, incident_id: int) -> dict[str, Any] | None:
        daemon = self._daemon
        store = self._store
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
                resolve_incident, store, daemon.config, incident_id, now=daemon.clock(), actor=API_ACTOR
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

    async def note(self, incident_id: int, text: str) -> dict[str, Any] | None:
        daemon = self._daemon
        store = self._store
        try:
            action = await daemon.in_thread(
                note_incident, store, incident_id, text, actor=API_ACTOR, now=daemon.clock()
            )
        except IncidentNotFoundError:
            return None
        except ConfigError as exc:
            raise RequestRefused(422, "invalid request body", [f"text: {exc.message}"]) from exc
        daemon.log.info("incident_noted", incident=incident_id, via="api")
        return {"id": incident_id, "action": action_json(action)}

    async def approve(self, incident_id: int, actor: str) -> dict[str, Any] | None:
        daemon = self._daemon
        store = self._store
        try:
            outcome = await daemon.in_thread(
                approve_incident, store, incident_id, actor=actor, now=daemon.clock()
            )
        except IncidentNotFoundError:
            return None
        except OwnApprovalError as exc:
            raise RequestRefused(403, str(exc)) from exc
        except ApprovalError as exc:
            raise RequestRefused(409, str(exc)) from exc
        daemon.wake_pump()
        daemon.log.info(
            "manual_incident_approved",
            incident=incident_id,
            notices=outcome.released,
            hold_until=outcome.hold_until.isoformat() if outcome.hold_until else None,
            via="api",
        )
        return {
            "id": incident_id,
            "approved": True,
            "notices": outcome.released,
            "hold_until": outcome.hold_until,
            "incident": incident_json(outcome.incident),
        }

    async def reject(self, incident_id: int, reason: str, actor: str) -> dict[str, Any] | None:
        daemon = self._daemon
        store = self._store
        try:
            outcome = await daemon.in_thread(
                reject_incident, store, incident_id, actor=actor, reason=reason, now=daemon.clock()
            )
        except IncidentNotFoundError:
            return None
        except ApprovalError as exc:
            raise RequestRefused(409, str(exc)) from exc
        except ConfigError as exc:
            raise RequestRefused(422, "invalid request body", [f"reason: {exc.message}"]) from exc
        daemon.log.info(
            "manual_incident_rejected", incident=incident_id, withdrawn=outcome.withdrawn, via="api"
        )
        return {
            "id": incident_id,
            "rejected": True,
            "withdrawn": outcome.withdrawn,
            "incident": incident_json(outcome.incident),
        }

    async def retract(self, incident_id: int, request: RetractRequest, actor: str) -> dict[str, Any] | None:
        daemon = self._daemon
        store = self._store
        try:
            outcome = await daemon.in_thread(
                retract_incident,
                store,
                daemon.config,
                incident_id,
                actor=actor,
                reason=request.reason,
                message=request.message or "",
                messages=request.messages,
                now=daemon.clock(),
            )
        except IncidentNotFoundError:
            return None
        except AlreadyRetractedError as exc:
            raise RequestRefused(409, str(exc)) from exc
        except ConfigError as exc:
            raise RequestRefused(
                422, "invalid request body", [f"{exc.key or 'reason'}: {exc.message}"]
            ) from exc
        if outcome.corrections:
            daemon.wake_pump()
        daemon.log.info(
            "incident_retracted",
            incident=incident_id,
            withdrawn=outcome.withdrawn,
            corrections=outcome.corrections,
            posts_deleted=sum(1 for post in outcome.posts if post.deleted),
            posts_left=sum(1 for post in outcome.posts if not post.deleted),
            via="api",
        )
        return retraction_json(outcome)

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, Any]:
        daemon = self._daemon
        store = self._store
        opened: list[int | None] = []
        resolved: list[int | None] = []
        attached: list[int | None] = []
        ignored = 0
        async with self._lock:
            for alert in payload.alerts:
                target = self._alert_target(alert)
                if target is None:
                    ignored += 1
                    continue
                key = _alert_key(alert.fingerprint, alert.starts_at)
                existing = await daemon.in_thread(store.incident, key)
                if alert.status is AlertStatus.firing:
                    if existing is not None:
                        continue  # Alertmanager repeats itself; the incident is already open (or was)
                    fired = await self._fire(alert, target, key)
                    if fired is not None:
                        action, incident_id = fired
                        (opened if action is TriggerAction.opened else attached).append(incident_id)
                elif existing is not None and existing.is_open and existing.id is not None:
                    outcome = await daemon.in_thread(
                        resolve_incident,
                        store,
                        daemon.config,
                        existing.id,
                        now=daemon.clock(),
                        actor=ALERTMANAGER_ACTOR,
                    )
                    resolved.append(outcome.incident.id)
                    daemon.log.info("manual_incident_resolved", incident=existing.id, via="alertmanager")
                elif existing is None:
                    await self._note_resolution(alert)
        if opened or resolved:
            daemon.wake_pump()
        return {"opened": opened, "resolved": resolved, "attached": attached, "ignored": ignored}

    def _alert_target(self, alert: Alert) -> ManualTarget | None:
        """What a firing or resolved alert is about, or None: then the alert is ignored,
        logged (no label value: they are free text) and counted."""
        config = self._daemon.config
        named = alert.target
        reason = AlertIgnored.no_target
        if named is not None and named.valid:
            # a platform label naming a family (or the reverse), or a custom name that is a
            # configured platform: the alert is about what the name is
            for scope in dict.fromkeys((named.scope, None)):
                try:
                    return find_target(config, named.name, scope=scope)
                except TargetError:
                    continue
            reason = AlertIgnored.unknown_target
        elif named is not None:
            custom = named.scope is IncidentScope.custom
            reason = AlertIgnored.invalid_target if custom else AlertIgnored.unknown_target
        self._daemon.metrics.alert_ignored(reason)
        self._daemon.log.warning(
            "alert_ignored",
            reason=reason.value,
            label=named.label if named is not None else None,
            alertname=_alert_name(alert),
            fingerprint=alert.fingerprint,
            status=alert.status.value,
            configured=_configured(config),
        )
        return None

    async def _fire(self, alert: Alert, target: ManualTarget, key: str) -> tuple[TriggerAction, int] | None:
        """Open the alert's incident, or attach the alert to the open incident that covers
        its target (recorded in its journal, nothing sent): what was done, to which
        incident. None if the alert was attached before (Alertmanager repeats itself)."""
        daemon = self._daemon
        store = daemon.store
        assert store is not None
        reference = _alert_reference(alert)
        if await daemon.in_thread(_noted_in, store, reference, alert.starts_at) is not None:
            return None
        covered_by = await daemon.in_thread(find_coverage, store, target)
        if covered_by is not None:
            incident = covered_by.incident
            assert incident.id is not None
            await daemon.in_thread(store.note_incident, incident.id, f"{reference} attached: nothing sent")
            attached = IncidentAction(
                at=daemon.clock(), actor=ALERTMANAGER_ACTOR, kind=ActionKind.attached, text=reference
            )
            await daemon.in_thread(store.record_action, incident.id, attached)
            daemon.log.info(
                "alert_attached",
                incident=incident.id,
                key=incident.key,
                alertname=_alert_name(alert),
                fingerprint=alert.fingerprint,
                notified=covered_by.notified,
            )
            return TriggerAction.attached, incident.id
        now = daemon.clock()
        name = _alert_name(alert)
        message = alert.message or (f"Alertmanager: {name}" if name else "Alertmanager alert")
        try:
            plan = plan_manual(daemon.config, target, message=message, now=now, key=key)
        except ConfigError as exc:
            # e.g. personal data bound for a public channel: answering 500 would only make
            # Alertmanager send it again; the reason names no value
            daemon.metrics.alert_ignored(AlertIgnored.refused_message)
            daemon.log.warning(
                "alert_ignored",
                reason=AlertIgnored.refused_message.value,
                problem=exc.message,
                alertname=name,
                fingerprint=alert.fingerprint,
                status=alert.status.value,
            )
            return None
        opened = await daemon.in_thread(open_manual, store, plan, now=now, actor=ALERTMANAGER_ACTOR)
        assert opened.id is not None
        daemon.log.info(
            "manual_incident_opened", incident=opened.id, key=key, notices=plan.recipients, via="alertmanager"
        )
        return TriggerAction.opened, opened.id

    async def _note_resolution(self, alert: Alert) -> None:
        """A resolved alert that was attached to an incident still open: say so in its journal
        (the incident goes on: the judge, or whoever opened it, resolves it)."""
        daemon = self._daemon
        store = daemon.store
        assert store is not None
        reference = _alert_reference(alert)
        incident = await daemon.in_thread(_noted_in, store, reference, alert.starts_at)
        if incident is not None and incident.is_open and incident.id is not None:
            when = alert.ends_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            await daemon.in_thread(store.note_incident, incident.id, f"{reference} resolved at {when}")


async def serve_api(
    daemon: DaemonView, registry: CollectorRegistry, stack: contextlib.AsyncExitStack
) -> None:
    """Listen on ``daemon.listen`` (configured) for the HTTP surface until ``stack`` closes (bounded:
    a request still running is cut after 3 s). The API token is read at every request (a
    reloaded file). Raises :class:`ListenError` when the address cannot be bound."""
    listen = daemon.config.daemon.listen
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.listen(128)
        sock.setblocking(False)  # noqa: FBT003 - the socket API's own spelling
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
    app = create_app(
        DaemonBackend(daemon),
        token=lambda: daemon.config.daemon.api_token,
        tokens=lambda: daemon.config.daemon.api_tokens,
        metrics=exposition_app(registry),
        clock=daemon.clock,
        hosts=local_hosts(listen.host),
    )
    server = create_server(app, host=listen.host, port=listen.port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="failover-http")

    async def stop_http() -> None:
        server.should_exit = True
        try:
            async with asyncio.timeout(3.0):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            sock.close()

    stack.push_async_callback(stop_http)
    # uvicorn has no start-up event: it reports a failed start by ending the task
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if task.done():
        error = task.exception()
        raise ListenError(f"the HTTP surface on {listen} did not start: {error!r}")
    daemon.log.info("http_listening", address=str(listen))
