"""Rounds that persist (probe → judge → record), and what the CLI reads back: status,
the journal, migrations and retention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.detect import Connectivity, Decision, JudgeState, PlatformStatus, health_of, judge
from failover.detect import ConnectivityEvent as DetectConnectivityEvent
from failover.domain import Incident, IncidentEvent, IncidentKind, Observation, Platform
from failover.logs import get_logger
from failover.probes import Prober
from failover.service._database import open_store
from failover.service._notices import plan_notices
from failover.service._runtime import utc_now
from failover.store import ConnectivityEvent as StoredConnectivityEvent
from failover.store import ConnectivityEventKind, JournalEntry, NoticeState, Store


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


def _connectivity_events(decision: Decision) -> list[StoredConnectivityEvent]:
    return [
        StoredConnectivityEvent(
            kind=ConnectivityEventKind.lost
            if change.event is DetectConnectivityEvent.lost
            else ConnectivityEventKind.restored,
            at=change.at,
            detail=f"{change.connectivity.passing} of {change.connectivity.total} controls answered",
        )
        for change in decision.connectivity_events
    ]


def _retrieve(future: asyncio.Future[Decision]) -> None:
    """A decision whose round was abandoned still ends; its error was logged by the caller
    that waited for it, or is of no one's concern once the round is gone."""
    if not future.cancelled():
        future.exception()


def _already_told(
    changes: Sequence[tuple[IncidentEvent, Incident]], open_incidents: Sequence[Incident]
) -> dict[str, Incident]:
    """The judge's new incidents whose platforms an open manual incident (an operator's
    trigger, an Alertmanager alert) already covers: its people were told, so the judge's
    confirmation sends nothing more (its recovery is still told). By incident key."""
    manual = [i for i in open_incidents if i.kind is IncidentKind.manual and i.platforms]
    told: dict[str, Incident] = {}
    for event, incident in changes:
        if event is not IncidentEvent.confirmed:
            continue
        for covering in manual:
            if set(incident.platforms) <= set(covering.platforms):
                told[incident.key] = covering
                break
    return told


class Watcher:
    """Runs rounds: probe → judge → record. The scheduler, the re-probes and the manual
    paths all go through :meth:`run_round`, so there is one way through the house.

    Rounds probe concurrently: a platform whose checks hang delays no other platform and no
    control. Only judging and recording are serialised (they take milliseconds), and a
    round's look at a target is judged only if no round that started later has already been
    judged for it: a slow look never overrides a fresher one (its observations are still
    recorded).
    """

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        prober: Prober,
        clock: Callable[[], datetime] = utc_now,
        log: BoundLogger | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._prober = prober
        self._clock = clock
        self._log = log or get_logger("failover.round")
        snapshot = store.load_state()
        self._state = JudgeState.from_json(snapshot) if snapshot is not None else JudgeState.initial()
        self._judged = snapshot is not None
        #: one decision at a time: judging and recording, never probing
        self.lock = asyncio.Lock()
        #: per target, when the newest round judged for it started
        self._judged_from: dict[str, datetime] = {}

    @property
    def state(self) -> JudgeState:
        return self._state

    @property
    def judged(self) -> bool:
        """A round was judged, by this watcher or before it (a persisted state)."""
        return self._judged

    async def reconfigure(self, config: Config) -> None:
        """Judge with ``config`` from the next decision on (a reloaded file)."""
        async with self.lock:
            self._config = config

    async def run_round(
        self,
        only: Collection[str] | None = None,
        *,
        with_controls: bool = True,
        timeout_cap_s: float | None = None,
    ) -> Decision:
        """Probe ``only`` these platforms (default: all), and the controls unless told not
        to, then judge and record. ``timeout_cap_s`` shortens every check's timeout (the
        re-probes that confirm an outage).

        A round without controls is judged against the last connectivity seen: the daemon's
        scheduled per-platform rounds leave the controls to their own job, while the
        re-probes that confirm an outage always check our own connectivity again.
        """
        config = self._config
        platforms = [p for p in config.platforms if only is None or p.name in only]
        controls = config.controls if with_controls else ()
        started = self._clock()
        observations = await self._prober.probe_platforms(
            [*platforms, *controls], timeout_cap_s=timeout_cap_s
        )
        # once probed, the decision is taken and recorded even if the round is abandoned
        decided = asyncio.ensure_future(self._decide(observations, platforms, started, only))
        return await asyncio.shield(decided)

    async def _decide(
        self,
        observations: Sequence[Observation],
        platforms: Sequence[Platform],
        started: datetime,
        only: Collection[str] | None,
    ) -> Decision:
        async with self.lock:
            config = self._config
            targets = {o.target for o in observations}
            fresh = {t for t in targets if self._judged_from.get(t, started) <= started}
            judged = [o for o in observations if o.target in fresh]
            now = self._clock()
            decision = judge(
                observations=judged,
                state=self._state,
                now=now,
                policy=config.detection,
                families={p.name: p.family for p in config.platforms},
                probed={p.name for p in platforms if p.name in fresh},
            )
            await asyncio.to_thread(self._record, config, observations, decision, now)
            self._state = decision.state
            self._judged = True
            for target in fresh:
                self._judged_from[target] = started
        for change in decision.connectivity_events:
            connectivity = change.connectivity
            self._log.warning(
                f"connectivity_{change.event.value}",
                controls_passing=connectivity.passing,
                controls_required=connectivity.required,
                controls_total=connectivity.total,
                detail="platform health is unknown until the controls answer again"
                if change.event is DetectConnectivityEvent.lost
                else "platforms are judged again",
            )
        self._log.info(
            "round_judged",
            platforms=len(platforms),
            only=sorted(p.name for p in platforms) if only is not None else None,
            checks=len(observations),
            failing=sum(1 for o in observations if not o.ok),
            stale=sorted(targets - fresh) or None,
            connectivity=decision.connectivity.ok,
            transitions=[f"{t.platform}:{t.previous}->{t.current}" for t in decision.transitions],
            incidents=[f"{c.event}:{c.incident.key}" for c in decision.incident_events],
            reprobe=[f"{r.platform}+{r.delay_s:g}s" for r in decision.reprobe],
            duration_s=round((now - started).total_seconds(), 3),
        )
        return decision

    def _record(
        self, config: Config, observations: Sequence[Observation], decision: Decision, now: datetime
    ) -> None:
        self._store.record_observations(observations)
        changes = [(change.event, change.incident) for change in decision.incident_events]
        told = _already_told(changes, self._store.open_incidents() if changes else [])
        # the notices enter the outbox in the decision's own transaction: all of it or nothing
        notices = (
            plan_notices(
                config,
                [change for change in changes if change[1].key not in told],
                now=now,
                silences=self._store.active_silences(now),
            )
            if changes
            else []
        )
        self._store.record_decision(
            at=now,
            transitions=decision.transitions,
            incident_events=changes,
            incident_updates=decision.incident_updates,
            state=decision.state.to_json(),
            connectivity_events=_connectivity_events(decision),
            notices=notices,
        )
        for key, manual in told.items():
            if manual.id is not None:
                self._store.note_incident(
                    manual.id,
                    f"the judge confirmed the outage at {now:%Y-%m-%d %H:%M:%S} UTC ({key}): nothing sent",
                )
