"""``failover run``: one asyncio process that probes on a schedule, judges, records, and
delivers the outbox, with the HTTP surface beside it.

One :class:`contextlib.AsyncExitStack` owns every lifecycle: the store (and the daemon
lock), the prober, the notice pump, the HTTP server and the scheduler. Signal handlers
only set flags and wake the main coroutine, which does the work:

* SIGTERM / SIGINT: no new round starts; the round in flight finishes (bounded), the
  pump stops claiming and the deliveries in flight end (bounded), the lock is released;
  the process exits 0 well within 10 s.
* SIGHUP: the configuration file is read again; an invalid one is logged and the running
  configuration kept. The database and the listening address need a restart.

Jobs (APScheduler 3, ``AsyncIOScheduler``): one round per platform at its interval, with
jitter, at most one instance, coalesced, misfire grace of one interval, judged against the
connectivity last seen; one round of the controls alone, which keeps that fresh; one-off
re-probes the judge asks for (``Decision.reprobe``), which check the controls again and give
each check at most ``detection.confirm_timeout``; the lock's heartbeat; retention; the
outbox gauge; the systemd watchdog. Every round goes through :meth:`Watcher.run_round`;
rounds probe side by side (a platform whose checks hang delays no other platform and no
control), and only their decisions are serialised. The time between two scheduled rounds of
a platform is exported (``failover_round_interval_seconds``), so a late round shows.

The daemon starts and keeps working when a platform, the database or every channel fails:
a database that cannot be reached at start is retried with backoff (``/readyz`` answers
503 meanwhile), a round that cannot be recorded is logged and retried at the next tick,
and losing our own network makes verdicts *unknown* (the judge's rule), never *down*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry
from structlog.stdlib import BoundLogger

from failover import sdnotify
from failover.api import create_app, create_server, local_hosts
from failover.config import Config
from failover.detect import Decision, health_of
from failover.domain import Health, IncidentEvent, Observation, Platform
from failover.errors import AlreadyRunningError, ConfigError, StoreError
from failover.logs import Redactor, get_logger
from failover.metrics import Metrics, exposition_app
from failover.notify import Sender
from failover.probes import Prober
from failover.service._backend import DaemonBackend
from failover.service._database import LOCK_STALE_AFTER, lock_holder, open_store, take_lock
from failover.service._maintenance import MaintenanceWatch
from failover.service._notices import NoticePump
from failover.service._record import Watcher
from failover.service._runtime import utc_now
from failover.service._status_page import StatusPageListenError, StatusPagePublisher, start_status_page
from failover.store import NoticeState, Store

__all__ = ["Daemon", "DaemonTimings", "ListenError"]

#: Libraries that log every job run or request (and, for the scheduler, every run skipped
#: while the previous round waits for its turn): one line per round is ours to write.
_CHATTY_LOGGERS = {
    "apscheduler": logging.ERROR,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    # one line per Alembic plugin set up before a migration; the migrations themselves still log
    "alembic.runtime.plugins": logging.WARNING,
}


class ListenError(OSError):
    """The HTTP surface cannot bind its address (in use, not ours)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DaemonTimings:
    """How long shutdown steps may take and how often the housekeeping runs. The defaults
    keep a SIGTERM under 10 s; tests and the demo shorten the periodic ones."""

    #: the round in flight may finish within this long, then it is cancelled
    round_grace_s: float = 4.0
    #: deliveries in flight may end within this long
    drain_timeout_s: float = 3.0
    heartbeat_every_s: float = LOCK_STALE_AFTER.total_seconds() / 3
    retention_every_s: float = 3600.0
    outbox_gauge_every_s: float = 15.0
    #: a database that is down at start is retried after 1 s, 2 s, … up to this long
    reconnect_max_s: float = 30.0
    #: /healthz says stalled when the scheduler has not ticked for this long
    stalled_after_s: float = 30.0


def _jitter_s(interval_s: float) -> float:
    # spreads rounds of platforms sharing an interval; small, since each second added here
    # is half a second added to the median detection time
    return min(interval_s * 0.05, 1.0)


class _MeteredProber(Prober):
    """The prober, counting every observation in the metrics on the way out."""

    metrics: Metrics | None = None

    async def probe_platforms(
        self, platforms: Any, *, timeout_cap_s: float | None = None
    ) -> list[Observation]:
        observations = await super().probe_platforms(platforms, timeout_cap_s=timeout_cap_s)
        if self.metrics is not None:
            self.metrics.observe_all(observations)
        return observations


class Daemon:
    """The daemon's one owner of lifecycles. ``reload`` reads the configuration again (for
    SIGHUP); ``env`` is the process environment (systemd's notify socket and watchdog)."""

    def __init__(
        self,
        config: Config,
        *,
        reload: Callable[[], Config],
        env: Mapping[str, str],
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] = utc_now,
        timings: DaemonTimings | None = None,
        sender: Sender | None = None,
        registry: CollectorRegistry | None = None,
        log: BoundLogger | None = None,
    ) -> None:
        self.config = config
        self._reload_config = reload
        self._env = env
        self._redactor = redactor
        self.clock = clock
        self.timings = timings or DaemonTimings()
        self._sender = sender
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.log = log or get_logger("failover.daemon")
        self.holder = lock_holder()
        self.started_at: datetime | None = None

        self.store: Store | None = None
        self.watcher: Watcher | None = None
        self.pump: NoticePump | None = None
        self._prober: _MeteredProber | None = None
        self._scheduler: AsyncIOScheduler | None = None
        #: the database answered the last time it was asked
        self.database_ok = False
        self.stopping = False
        self._stop_requested = False
        self._reload_requested = False
        self._wakeup: asyncio.Event | None = None
        self._exit_code = 0
        #: the rounds probing or deciding now; at shutdown they may finish, then are cancelled
        self._rounds: set[asyncio.Task[Decision]] = set()
        self._maintenance_lock = asyncio.Lock()
        #: per platform (and control), when its last scheduled round started (monotonic)
        self._scheduled_started: dict[str, float] = {}
        #: per platform (and control), the time between its last two scheduled rounds
        self.achieved_interval_s: dict[str, float] = {}
        self._last_tick = time.monotonic()
        self.rounds = 0
        self.last_round_at: datetime | None = None
        #: the public status site ([status_page]), when it is asked for
        self.status_page: StatusPagePublisher | None = None
        #: the platforms' health around each recurring maintenance window
        self._maintenance_watch = MaintenanceWatch()

    # ------------------------------------------------------------------ signals (flags only)

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._wakeup is not None:
            self._wakeup.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _stop_wanted(self) -> bool:
        # a method, not the attribute: a signal may set it while a coroutine awaits
        return self._stop_requested or self.stopping

    def _fatal(self, reason: str) -> None:
        self.log.error("daemon_stopping_on_error", reason=reason)
        self._exit_code = 1
        self.request_stop()

    # ------------------------------------------------------------------ what the API asks

    @property
    def alive(self) -> bool:
        """The loop runs (the caller proves it) and the scheduler ticked recently."""
        if self._scheduler is None:
            return True  # still starting (e.g. waiting for the database): not stalled
        return time.monotonic() - self._last_tick < self.timings.stalled_after_s

    def not_ready_because(self) -> list[str]:
        reasons = []
        if self.stopping:
            reasons.append("shutting down")
        if self.store is None:
            reasons.append("database not connected yet")
        elif not self.database_ok:
            reasons.append("database not answering")
        if self._scheduler is None or not self._scheduler.running:
            reasons.append("scheduler not running")
        return reasons

    def down_platforms(self) -> Collection[str]:
        watcher = self.watcher
        if watcher is None:
            return ()
        state = watcher.state
        return [p.name for p in self.config.platforms if health_of(state, p.name).health is Health.down]

    def wake_pump(self) -> None:
        if self.pump is not None:
            self.pump.wake()
        # status page: notices mean an incident opened, changed or ended; publish it now
        if self.status_page is not None:
            self.status_page.publish_soon()

    async def in_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store call off the loop, noting whether the database answered."""
        try:
            result = await asyncio.to_thread(function, *args, **kwargs)
        except AlreadyRunningError:
            raise
        except StoreError:
            self.database_ok = False
            raise
        self.database_ok = True
        return result

    # ------------------------------------------------------------------ the main coroutine

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; the exit code. Raises ``AlreadyRunningError`` when
        another daemon holds the database and :class:`ListenError` when the HTTP address
        cannot be bound."""
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        handlers = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self.request_reload,
        }
        async with contextlib.AsyncExitStack() as stack:
            for signum, handler in handlers.items():
                loop.add_signal_handler(signum, handler)
                stack.callback(loop.remove_signal_handler, signum)
            self.started_at = self.clock()
            for name, level in _CHATTY_LOGGERS.items():
                logging.getLogger(name).setLevel(level)
            self.log.info(
                "daemon_starting",
                config=self.config.source,
                platforms=len(self.config.platforms),
                controls=len(self.config.controls),
                listen=str(self.config.daemon.listen),
                dry_run=self.config.daemon.dry_run,
            )
            self.metrics.init_platforms([*self.config.platforms, *self.config.controls])
            store = await self._connect_once()
            await self._serve_http(stack)
            if store is None:
                store = await self._connect_with_backoff()
                if store is None:  # asked to stop while waiting for the database
                    return self._exit_code
            stack.push_async_callback(self._close_store, store)
            self.store = store
            self.database_ok = True
            # imported contacts are read through the daemon's own connection
            self.config = self.config.with_address_book(store)

            self._prober = _MeteredProber(
                user_agent=self.config.probes.user_agent,
                concurrency=self.config.probes.concurrency,
                clock=self.clock,
                system_nameservers=self.config.probes.nameservers,
                lookup_timeout_s=self.config.probes.lookup_timeout_s,
            )
            self._prober.metrics = self.metrics
            await stack.enter_async_context(self._prober)
            self.watcher = Watcher(config=self.config, store=store, prober=self._prober, clock=self.clock)
            # status page: its own listener, published now, on every transition and on a timer
            try:
                self.status_page = await start_status_page(self, stack)
            except StatusPageListenError as exc:
                raise ListenError(str(exc)) from exc
            pump = NoticePump(
                config=self.config,
                store=store,
                clock=self.clock,
                down_platforms=self.down_platforms,
                sender=self._sender,
                log=get_logger("failover.notices"),
                metrics=self.metrics,
            )
            await pump.__aenter__()
            stack.push_async_callback(self._close_pump, pump)
            self.pump = pump
            pump_stop = asyncio.Event()
            pump_task = asyncio.create_task(pump.run(pump_stop), name="failover-notice-pump")
            pump_task.add_done_callback(self._pump_ended)
            self._start_scheduler(stack)

            sdnotify.notify(sdnotify.READY, env=self._env)
            self._notify_status()
            self.log.info("daemon_started", holder=self.holder, database=store.url)

            while not self._stop_requested:
                await self._wakeup.wait()
                self._wakeup.clear()
                if self._reload_requested and not self._stop_requested:
                    self._reload_requested = False
                    await self._reload()

            await self._shutdown(pump_stop, pump_task)
        self.log.info("daemon_stopped", exit_code=self._exit_code)
        return self._exit_code

    async def _shutdown(self, pump_stop: asyncio.Event, pump_task: asyncio.Task[None]) -> None:
        self.stopping = True
        sdnotify.notify(sdnotify.STOPPING, env=self._env)
        self.log.info("daemon_stopping")
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()
        # the rounds in flight may finish (their observations and decision are recorded);
        # those still waiting on silent servers or hung lookups then are abandoned
        rounds = set(self._rounds)
        if rounds:
            _, pending = await asyncio.wait(rounds, timeout=self.timings.round_grace_s)
            if pending:
                self.log.warning(
                    "round_abandoned_at_shutdown", rounds=len(pending), grace_s=self.timings.round_grace_s
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=1.0)
        try:
            async with asyncio.timeout(self.timings.round_grace_s):
                async with self._maintenance_lock:
                    if self.watcher is not None:
                        async with self.watcher.lock:  # a decision being recorded ends first
                            pass
        except TimeoutError:
            self.log.warning("decision_abandoned_at_shutdown", grace_s=self.timings.round_grace_s)
        pump_stop.set()
        if self.pump is not None:
            try:
                await self.pump.drain(self.timings.drain_timeout_s)
            except Exception:
                self.log.exception("notice_drain_failed")
        await self._end_task(pump_task, grace_s=1.0)

    async def _end_task(self, task: asyncio.Task[None], *, grace_s: float) -> None:
        """Let ``task`` end within ``grace_s``, then cancel it, again if it awaits in a
        ``finally``: the exit within 10 s comes first."""
        await asyncio.wait({task}, timeout=grace_s)
        for _ in range(3):
            if task.done():
                return
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if not task.done():
            self.log.warning("task_abandoned_at_shutdown", task=task.get_name())

    async def _close_pump(self, pump: NoticePump) -> None:
        # bounded: deliveries still in flight stay `sending`, and the next start puts them
        # back to `pending` (the loop's runner cancels what is left when it closes)
        try:
            async with asyncio.timeout(1.5):
                await pump.__aexit__(None, None, None)
        except TimeoutError:
            self.log.warning("notice_deliveries_abandoned_at_shutdown", retried="at the next start")

    def _pump_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.stopping:
            return
        error = task.exception()
        if error is not None:
            self.log.error("notice_pump_crashed", error=repr(error))
            self._fatal("the notice pump stopped")

    # ------------------------------------------------------------------ the database

    async def _connect_once(self) -> Store | None:
        """Open, migrate and lock the database; None when it cannot be reached (yet)."""
        try:
            store = await asyncio.to_thread(open_store, self.config)
        except StoreError as exc:
            self.log.warning("database_unavailable", error=str(exc))
            return None
        try:
            await asyncio.to_thread(take_lock, store, self.holder, now=self.clock())
        except AlreadyRunningError:
            store.close()
            raise
        except StoreError as exc:
            store.close()
            self.log.warning("database_unavailable", error=str(exc))
            return None
        return store

    async def _connect_with_backoff(self) -> Store | None:
        delay = 1.0
        while not self._stop_requested:
            self.log.info("database_retry", in_s=delay)
            assert self._wakeup is not None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if self._stop_wanted():
                break
            self._reload_requested = False  # nothing to reload into yet; the file is read at start
            store = await self._connect_once()
            if store is not None:
                return store
            delay = min(delay * 2, self.timings.reconnect_max_s)
        return None

    async def _close_store(self, store: Store) -> None:
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(store.release_lock, self.holder)
        await asyncio.to_thread(store.close)
        self.store = None

    # ------------------------------------------------------------------ HTTP

    async def _serve_http(self, stack: contextlib.AsyncExitStack) -> None:
        listen = self.config.daemon.listen
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
            DaemonBackend(self),
            token=lambda: self.config.daemon.api_token,
            tokens=lambda: self.config.daemon.api_tokens,
            metrics=exposition_app(self.registry),
            clock=self.clock,
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
        self.log.info("http_listening", address=str(listen))

    # ------------------------------------------------------------------ the scheduler

    def _start_scheduler(self, stack: contextlib.AsyncExitStack) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC", event_loop=asyncio.get_running_loop())
        self._scheduler = scheduler
        t = self.timings
        scheduler.add_job(self._tick, "interval", seconds=1, id="tick", max_instances=1, coalesce=True)
        scheduler.add_job(
            self._heartbeat,
            "interval",
            seconds=t.heartbeat_every_s,
            id="heartbeat",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._prune,
            "interval",
            seconds=t.retention_every_s,
            id="retention",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self._outbox_gauge,
            "interval",
            seconds=t.outbox_gauge_every_s,
            id="outbox-gauge",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock(),
        )
        watchdog = sdnotify.watchdog_interval(self._env)
        if watchdog is not None:
            scheduler.add_job(
                self._watchdog, "interval", seconds=max(watchdog / 2, 0.5), id="watchdog", coalesce=True
            )
        self._schedule_rounds(first=True)
        scheduler.start()
        stack.callback(self._stop_scheduler)

    def _stop_scheduler(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _schedule_rounds(self, *, first: bool) -> None:
        """One job per platform at its interval; one for the controls alone. Start-up runs
        one full round at once, then spreads the platforms sharing an interval over it."""
        scheduler = self._scheduler
        assert scheduler is not None
        for job in scheduler.get_jobs():
            if job.id.startswith("round:"):
                job.remove()
        now = self.clock()
        if first:
            scheduler.add_job(
                self._round, "date", run_date=now, args=(None,), id="round:all", misfire_grace_time=60
            )
        by_interval: dict[float, list[Platform]] = {}
        for platform in self.config.platforms:
            by_interval.setdefault(platform.interval_s, []).append(platform)
        for interval, platforms in by_interval.items():
            for index, platform in enumerate(platforms):
                offset = interval * (index + 1) / len(platforms)
                scheduler.add_job(
                    self._round,
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
        if self.config.controls:
            interval = min(control.interval_s for control in self.config.controls)
            scheduler.add_job(
                self._round,
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

    def _schedule_reprobes(self, decision: Decision) -> None:
        scheduler = self._scheduler
        if scheduler is None or self.stopping:
            return
        now = self.clock()
        for reprobe in decision.reprobe:
            scheduler.add_job(
                self._round,
                "date",
                run_date=now + timedelta(seconds=reprobe.delay_s),
                args=(frozenset({reprobe.platform}),),
                # a door that let the first look's full timeout pass is not waited for as long
                kwargs={"timeout_cap_s": self.config.detection.confirm_timeout_s},
                id=f"reprobe:{reprobe.platform}:{reprobe.delay_s:g}",
                name=f"re-probe of {reprobe.platform} after {reprobe.delay_s:g} s",
                replace_existing=True,
                misfire_grace_time=30,
            )

    # ------------------------------------------------------------------ jobs

    async def _round(
        self,
        only: frozenset[str] | None,
        *,
        with_controls: bool = True,
        timeout_cap_s: float | None = None,
        scheduled: bool = False,
    ) -> Decision | None:
        """One round through the watcher: probe → judge → record (and enqueue). The
        scheduler's rounds, the re-probes and manual runs all come here; they run side by
        side, so a platform whose checks hang delays nobody else."""
        watcher = self.watcher
        if self._stop_wanted() or watcher is None:
            return None
        started = time.monotonic()
        if scheduled:
            self._note_interval(only, started)
        task = asyncio.create_task(
            watcher.run_round(only, with_controls=with_controls, timeout_cap_s=timeout_cap_s),
            name=f"failover-round:{','.join(sorted(only)) if only is not None else 'all'}",
        )
        self._rounds.add(task)
        try:
            decision = await task
        except asyncio.CancelledError:
            if task.cancelled() and self.stopping:
                return None  # abandoned at shutdown
            raise
        except StoreError as exc:
            self.database_ok = False
            self.log.warning("round_not_recorded", error=str(exc), only=sorted(only or ()))
            return None
        except Exception:
            self.log.exception("round_failed", only=sorted(only or ()))
            return None
        finally:
            self._rounds.discard(task)
        self.database_ok = True
        self.rounds += 1
        self.last_round_at = self.clock()
        self._after_round(decision, time.monotonic() - started)
        return decision

    def _note_interval(self, only: frozenset[str] | None, started: float) -> None:
        """A scheduled round of ``only`` (empty: the controls) starts: how long since the last?"""
        names = list(only) if only else [control.name for control in self.config.controls]
        for name in names:
            last = self._scheduled_started.get(name)
            self._scheduled_started[name] = started
            if last is not None:
                self.achieved_interval_s[name] = started - last
                self.metrics.round_interval(name, started - last)

    def _after_round(self, decision: Decision, duration_s: float) -> None:
        self._schedule_reprobes(decision)
        metrics = self.metrics
        for platform in self.config.platforms:
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
            self.wake_pump()
        # status page: a platform's state changed; publish it now
        if decision.transitions and self.status_page is not None:
            self.status_page.publish_soon()

    def _watch_maintenance(self, decision: Decision) -> None:
        """Export which windows are in force; at a window's end, log the platforms whose
        health is not what it was just before it (names and states only)."""
        config, now = self.config, self.clock()
        if not config.maintenance:
            return
        self.metrics.maintenance_active(self._maintenance_watch.active(config, now))
        health = {p.name: health_of(decision.state, p.name).health for p in config.platforms}
        for ended in self._maintenance_watch.observe(config, now, health):
            self.log.info(
                "maintenance_ended",
                window=ended.window,
                started_at=ended.started_at.isoformat() if ended.started_at else None,
                platforms_not_back=ended.not_back,
                before={name: str(h) if h else None for name, h in ended.before.items()},
                after={name: str(h) for name, h in ended.after.items()},
            )

    async def _tick(self) -> None:
        self._last_tick = time.monotonic()

    async def _heartbeat(self) -> None:
        store = self.store
        if store is None or self.stopping:
            return
        try:
            await self.in_thread(store.heartbeat, self.holder, now=self.clock())
        except AlreadyRunningError:
            # Nobody may hold it any more (its row released while the database was away):
            # take it back. Only another daemon holding it now ends this one.
            try:
                await self.in_thread(take_lock, store, self.holder, now=self.clock())
            except AlreadyRunningError as exc:
                self._fatal(str(exc))
            except StoreError as exc:
                self.log.warning("heartbeat_failed", error=str(exc))
        except StoreError as exc:
            self.log.warning("heartbeat_failed", error=str(exc))
            # the database may have come back after a gap longer than the stale limit
            with contextlib.suppress(StoreError):
                await self.in_thread(take_lock, store, self.holder, now=self.clock())

    async def _prune(self) -> None:
        store = self.store
        if store is None or self.stopping:
            return
        async with self._maintenance_lock:
            try:
                report = await self.in_thread(
                    store.prune, now=self.clock(), keep=self.config.daemon.retention
                )
            except StoreError as exc:
                self.log.warning("retention_failed", error=str(exc))
                return
        self.log.info(
            "retention_applied",
            cutoff=report.cutoff.isoformat(),
            rollups_written=report.rollups_written,
            observations_deleted=report.observations_deleted,
        )

    async def _outbox_gauge(self) -> None:
        store = self.store
        if store is None or self.stopping:
            return
        try:
            counts = await self.in_thread(store.outbox_counts)
        except StoreError:
            return
        self.metrics.outbox_pending(counts[NoticeState.pending] + counts[NoticeState.sending])

    async def _watchdog(self) -> None:
        sdnotify.notify(sdnotify.WATCHDOG, env=self._env)

    def _notify_status(self) -> None:
        text = f"watching {len(self.config.platforms)} platforms with {len(self.config.controls)} controls"
        sdnotify.notify(sdnotify.status_message(text), env=self._env)

    # ------------------------------------------------------------------ reload

    async def _reload(self) -> None:
        sdnotify.notify(sdnotify.RELOADING, env=self._env)
        try:
            try:
                config = await asyncio.to_thread(self._reload_config)
            except (ConfigError, OSError) as exc:
                # the reason is the message; a traceback would only repeat the file's problem
                self.log.error(  # noqa: TRY400
                    "config_reload_failed", error=str(exc), keeping=self.config.source
                )
                return
            await self._apply(config)
        finally:
            sdnotify.notify(sdnotify.READY, env=self._env)

    async def _apply(self, config: Config) -> None:
        old = self.config
        if config.daemon.database_url != old.daemon.database_url:
            self.log.warning("config_reload_partial", ignored="daemon.database_url", why="needs a restart")
        if config.daemon.listen != old.daemon.listen:
            self.log.warning("config_reload_partial", ignored="daemon.listen", why="needs a restart")
        if config.probes != old.probes:
            self.log.warning("config_reload_partial", ignored="probes", why="needs a restart")
        if self._redactor is not None:
            self._redactor.add_secrets(config.secrets)
        if self.store is not None:
            config = config.with_address_book(self.store)
        self.config = config
        if self.watcher is not None:
            await self.watcher.reconfigure(config)
        if self.pump is not None:
            self.pump.reconfigure(config)
        self.metrics.init_platforms([*config.platforms, *config.controls])
        self._schedule_rounds(first=False)
        self._notify_status()
        self.log.info(
            "config_reloaded",
            config=config.source,
            platforms=len(config.platforms),
            controls=len(config.controls),
            contacts=config.contact_count(),
        )
