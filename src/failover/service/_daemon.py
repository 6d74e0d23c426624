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
outbox gauge; the systemd watchdog. The daemon only schedules rounds: each one is run by
:class:`~failover.service._round.RoundRunner` (probe → judge → record → metrics → one log
line); the HTTP surface (:mod:`failover.service._http`) sees the daemon through a narrow view.

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
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry
from structlog.stdlib import BoundLogger

from failover import sdnotify
from failover.config import Config
from failover.detect import Decision, JudgeState, health_of
from failover.domain import Health, NoticeState
from failover.errors import AlreadyRunningError, ConfigError, StoreError
from failover.logs import Redactor, get_logger
from failover.metrics import Metrics
from failover.notify import Sender
from failover.probes import Prober
from failover.service._database import LOCK_STALE_AFTER, lock_holder, open_store, take_lock
from failover.service._http import ListenError, serve_api
from failover.service._pump import NoticePump
from failover.service._round import RoundRunner, Watcher, add_reprobe_jobs, add_round_jobs
from failover.service._runtime import utc_now
from failover.service._status import DaemonFacts
from failover.service._status_page import StatusPageListenError, StatusPagePublisher, start_status_page
from failover.store import Store

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
        self._prober: Prober | None = None
        self._scheduler: AsyncIOScheduler | None = None
        #: the database answered the last time it was asked
        self.database_ok = False
        self.stopping = False
        self._stop_requested = False
        self._reload_requested = False
        self._wakeup: asyncio.Event | None = None
        self._exit_code = 0
        self._maintenance_lock = asyncio.Lock()
        #: per platform (and control), the time between its last two scheduled rounds
        self.achieved_interval_s: dict[str, float] = {}
        self._last_tick = time.monotonic()
        self.rounds = 0
        self.last_round_at: datetime | None = None
        #: the public status site ([status_page]), when it is asked for
        self.status_page: StatusPagePublisher | None = None
        self._runner = RoundRunner(self)

    # ------------------------------------------------------------------ signals (flags only)

    def request_stop(self) -> None:
        self._stop_requested = True
        if self._wakeup is not None:
            self._wakeup.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        if self._wakeup is not None:
            self._wakeup.set()

    def stop_wanted(self) -> bool:
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

    def facts(self) -> DaemonFacts:
        """What only the running daemon knows (``GET /api/v1/status``)."""
        return DaemonFacts(
            started_at=self.started_at,
            rounds=self.rounds,
            last_round_at=self.last_round_at,
            achieved_interval_s=dict(self.achieved_interval_s),
        )

    def _judged_state(self) -> JudgeState | None:
        return self.watcher.state if self.watcher is not None else None

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
            await serve_api(self, self.registry, stack)
            if store is None:
                store = await self._connect_with_backoff()
                if store is None:  # asked to stop while waiting for the database
                    return self._exit_code
            stack.push_async_callback(self._close_store, store)
            self.store = store
            self.database_ok = True
            # imported contacts are read through the daemon's own connection
            self.config = self.config.with_address_book(store)

            self._prober = Prober(
                user_agent=self.config.probes.user_agent,
                concurrency=self.config.probes.concurrency,
                clock=self.clock,
                system_nameservers=self.config.probes.nameservers,
                lookup_timeout_s=self.config.probes.lookup_timeout_s,
            )
            await stack.enter_async_context(self._prober)
            self.watcher = Watcher(
                config=self.config, store=store, prober=self._prober, clock=self.clock, metrics=self.metrics
            )
            # status page: its own listener, published now, on every transition and on a timer
            try:
                self.status_page = await start_status_page(
                    stack,
                    config=lambda: self.config,
                    store=store,
                    state=self._judged_state,
                    clock=self.clock,
                )
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
        await self._runner.finish(self.timings.round_grace_s)
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
            if self.stop_wanted():
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
        assert self._scheduler is not None
        add_round_jobs(self._scheduler, self.config, self._runner.run, now=self.clock(), first=first)

    def schedule_reprobes(self, decision: Decision) -> None:
        """Re-probe the suspects of ``decision`` when it asks (the judge's confirmations)."""
        if self._scheduler is not None and not self.stopping:
            add_reprobe_jobs(self._scheduler, self.config, decision, self._runner.run, now=self.clock())

    # ------------------------------------------------------------------ jobs

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
