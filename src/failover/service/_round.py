"""The round: probe → judge → record → metrics → the round's one log line.

:class:`Watcher` is the one way through the house: the scheduler's rounds, the re-probes and
the manual paths all probe, judge and record through :meth:`Watcher.run_round`, which counts
every observation in the metrics and writes one ``round_judged`` line per decision.
:class:`RoundRunner` is the daemon's side of a round: it keeps the rounds in flight (so
shutdown can let them finish, then abandon them), the achieved interval between scheduled
rounds, the health, connectivity and incident metrics, the maintenance windows' end, and sets
going what a decision asks for (re-probes, the notice pump, the status page).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.detect import Decision, JudgeState, health_of, judge
from failover.domain import ConnectivityEvent, Incident, IncidentEvent, IncidentKind, Observation, Platform
from failover.errors import StoreError
from failover.logs import get_logger
from failover.metrics import Metrics
from failover.probes import Prober
from failover.service._maintenance import MaintenanceWatch
from failover.service._plan import plan_notices
from failover.service._runtime import utc_now
from failover.service._status_page import StatusPagePublisher
from failover.store import ConnectivityRecord, Store

__all__ = ["RoundHost", "RoundRunner", "Watcher", "add_reprobe_jobs", "add_round_jobs"]


def _connectivity_events(decision: Decision) -> list[ConnectivityRecord]:
    return [
        ConnectivityRecord(
            kind=change.event,
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
    """Runs rounds: probe → judge → record, and the round's one log line. The scheduler,
    the re-probes and the manual paths all go through :meth:`run_round`, so there is one
    way through the house.

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
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._prober = prober
        #: every observation is counted here on its way to the judge
        self._metrics = metrics
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
        if self._metrics is not None:
            self._metrics.observe_all(observations)
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
                if change.event is ConnectivityEvent.lost
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


class RoundHost(Protocol):
    """The daemon as its rounds see it: what a round reads, the facts it keeps up to date
    for ``GET /api/v1/status``, and what a decision sets going."""

    @property
    def config(self) -> Config: ...
    @property
    def watcher(self) -> Watcher | None: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def log(self) -> BoundLogger: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def status_page(self) -> StatusPagePublisher | None: ...
    @property
    def achieved_interval_s(self) -> dict[str, float]: ...

    #: the database answered the last time it was asked
    database_ok: bool
    #: rounds judged since the daemon started
    rounds: int
    last_round_at: datetime | None

    def stop_wanted(self) -> bool: ...
    def schedule_reprobes(self, decision: Decision) -> None: ...
    def wake_pump(self) -> None: ...


class RoundRunner:
    """The daemon's rounds, each through its watcher: probe → judge → record, then the
    metrics and what the decision asks for. The scheduler's rounds, the re-probes and manual
    runs all come to :meth:`run`; they run side by side, so a platform whose checks hang
    delays nobody else."""

    def __init__(self, host: RoundHost) -> None:
        self._host = host
        #: the rounds probing or deciding now; at shutdown they may finish, then are cancelled
        self._in_flight: set[asyncio.Task[Decision]] = set()
        #: per platform (and control), when its last scheduled round started (monotonic)
        self._scheduled_started: dict[str, float] = {}
        #: the platforms' health around each recurring maintenance window
        self._maintenance_watch = MaintenanceWatch()

    async def run(
        self,
        only: frozenset[str] | None,
        *,
        with_controls: bool = True,
        timeout_cap_s: float | None = None,
        scheduled: bool = False,
    ) -> Decision | None:
        """One round of ``only`` (None: every platform; empty: the controls alone); None
        when none was judged (stopping, or the round failed: logged, retried at the next tick)."""
        host = self._host
        watcher = host.watcher
        if host.stop_wanted() or watcher is None:
            return None
        started = time.monotonic()
        if scheduled:
            self._note_interval(only, started)
        task = asyncio.create_task(
            watcher.run_round(only, with_controls=with_controls, timeout_cap_s=timeout_cap_s),
            name=f"failover-round:{','.join(sorted(only)) if only is not None else 'all'}",
        )
        self._in_flight.add(task)
        try:
            decision = await task
        except asyncio.CancelledError:
            if task.cancelled() and host.stopping:
                return None  # abandoned at shutdown
            raise
        except StoreError as exc:
            host.database_ok = False
            host.log.warning("round_not_recorded", error=str(exc), only=sorted(only or ()))
            return None
        except Exception:
            host.log.exception("round_failed", only=sorted(only or ()))
            return None
        finally:
            self._in_flight.discard(task)
        host.database_ok = True
        host.rounds += 1
        host.last_round_at = host.clock()
        self._after(decision, time.monotonic() - started)
        return decision

    async def finish(self, grace_s: float) -> None:
        """Let the rounds in flight finish within ``grace_s`` (their observations and
        decision are recorded); those still waiting on silent servers or hung lookups then
        are abandoned."""
        rounds = set(self._in_flight)
        if not rounds:
            return
        _, pending = await asyncio.wait(rounds, timeout=grace_s)
        if pending:
            self._host.log.warning("round_abandoned_at_shutdown", rounds=len(pending), grace_s=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)

    def _note_interval(self, only: frozenset[str] | None, started: float) -> None:
        """A scheduled round of ``only`` (empty: the controls) starts: how long since the last?"""
        host = self._host
        names = list(only) if only else [control.name for control in host.config.controls]
        for name in names:
            last = self._scheduled_started.get(name)
            self._scheduled_started[name] = started
            if last is not None:
                host.achieved_interval_s[name] = started - last
                host.metrics.round_interval(name, started - last)

    def _after(self, decision: Decision, duration_s: float) -> None:
        host = self._host
        host.schedule_reprobes(decision)
        metrics = host.metrics
        for platform in host.config.platforms:
            status = health_of(decision.state, platform.name)
            if status.since is not None:
                metrics.platform_health(platform.name, status.health, status.flapping)
        metrics.connectivity(decision.connectivity.ok)
        for change in decision.incident_events:
            if change.event is IncidentEvent.confirmed:
                metrics.incident_opened(change.incident.scope, change.incident.kind)
        metrics.open_incidents(decision.open_incidents)
        metrics.round_completed(duration_s, time.time())
        self._watch_maintenance(decision)
        if decision.incident_events:
            host.wake_pump()
        # status page: a platform's state changed; publish it now
        if decision.transitions and host.status_page is not None:
            host.status_page.publish_soon()

    def _watch_maintenance(self, decision: Decision) -> None:
        """Export which windows are in force; at a window's end, log the platforms whose
        health is not what it was just before it (names and states only)."""
        host = self._host
        config, now = host.config, host.clock()
        if not config.maintenance:
            return
        host.metrics.maintenance_active(self._maintenance_watch.active(config, now))
        health = {p.name: health_of(decision.state, p.name).health for p in config.platforms}
        for ended in self._maintenance_watch.observe(config, now, health):
            host.log.info(
                "maintenance_ended",
                window=ended.window,
                started_at=ended.started_at.isoformat() if ended.started_at else None,
                platforms_not_back=ended.not_back,
                before={name: str(h) if h else None for name, h in ended.before.items()},
                after={name: str(h) for name, h in ended.after.items()},
            )


#: what a scheduled job runs: :meth:`RoundRunner.run`
RunRound = Callable[..., Awaitable[Decision | None]]


def _jitter_s(interval_s: float) -> float:
    # spreads rounds of platforms sharing an interval; small, since each second added here
    # is half a second added to the median detection time
    return min(interval_s * 0.05, 1.0)


def add_round_jobs(scheduler: Any, config: Config, run: RunRound, *, now: datetime, first: bool) -> None:
    """Replace the round jobs on ``scheduler`` (APScheduler 3): one per platform at its
    interval, one for the controls alone. Start-up (``first``) runs one full round at once,
    then spreads the platforms sharing an interval over it."""
    for job in scheduler.get_jobs():
        if job.id.startswith("round:"):
            job.remove()
    if first:
        scheduler.add_job(run, "date", run_date=now, args=(None,), id="round:all", misfire_grace_time=60)
    by_interval: dict[float, list[Platform]] = {}
    for platform in config.platforms:
        by_interval.setdefault(platform.interval_s, []).append(platform)
    for interval, platforms in by_interval.items():
        for index, platform in enumerate(platforms):
            offset = interval * (index + 1) / len(platforms)
            scheduler.add_job(
                run,
                "interval",
                seconds=interval,
                jitter=_jitter_s(interval),
                args=(frozenset({platform.name}),),
                # connectivity comes from the controls' own job; a suspect's re-probes
                # check it again before anything is confirmed
                kwargs={"with_controls": False, "scheduled": True},
                id=f"round:{platform.name}",
                name=f"round of {platform.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=now + timedelta(seconds=offset),
            )
    if config.controls:
        interval = min(control.interval_s for control in config.controls)
        scheduler.add_job(
            run,
            "interval",
            seconds=interval,
            jitter=_jitter_s(interval),
            args=(frozenset(),),
            kwargs={"scheduled": True},
            id="round:_controls",
            name="round of the controls",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
            next_run_time=now + timedelta(seconds=interval / 2),
        )


def add_reprobe_jobs(
    scheduler: Any, config: Config, decision: Decision, run: RunRound, *, now: datetime
) -> None:
    """The one-off re-probes ``decision`` asks for, which check the controls again and give
    each check at most ``detection.confirm_timeout``."""
    for reprobe in decision.reprobe:
        scheduler.add_job(
            run,
            "date",
            run_date=now + timedelta(seconds=reprobe.delay_s),
            args=(frozenset({reprobe.platform}),),
            # a door that let the first look's full timeout pass is not waited for as long
            kwargs={"timeout_cap_s": config.detection.confirm_timeout_s},
            id=f"reprobe:{reprobe.platform}:{reprobe.delay_s:g}",
            name=f"re-probe of {reprobe.platform} after {reprobe.delay_s:g} s",
            replace_existing=True,
            misfire_grace_time=30,
        )
