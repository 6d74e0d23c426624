"""The notice pump (:class:`NoticePump`): delivers the outbox through notify's dispatcher,
with per-scheme rate limits and bounded concurrency; keeps its claims (renews those in
flight, takes back those whose lease ran out or whose holder died, hands back what it
abandons); and queues the reminders that came due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Collection, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Self

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.domain import Channel
from failover.errors import StoreError
from failover.logs import get_logger
from failover.metrics import Metrics
from failover.notify import (
    ApprisePlugins,
    Dispatcher,
    DispatchSummary,
    RateLimit,
    RateLimits,
    Sender,
    channel_scheme,
)
from failover.service._channels import notice_channels, written_channels
from failover.service._database import dispatcher_identity, holder_gone
from failover.service._outbox import CLAIM_LEASE, StoreOutbox
from failover.service._plan import reminder_drafts
from failover.service._runtime import utc_now
from failover.store import Claims, Store

__all__ = ["NoticePump", "mute_apprise"]

#: how often :meth:`NoticePump.run` looks for due notices when nobody wakes it
POLL_INTERVAL_S = 1.0
#: how often :meth:`NoticePump.run` queues the reminders that came due
REMINDER_CHECK_S = 30.0
#: how often a pump renews its claims in flight (they last :data:`CLAIM_LEASE`)
RENEW_EVERY_S = 15.0
#: how often a pump looks for claims to take back: leases that ran out, holders that died
SWEEP_EVERY_S = 5.0


def _rate_limits(config: Config) -> RateLimits:
    rates = dict(config.notify.rate_per_minute)
    default = rates.pop("default", None)

    def limit(per_minute: int) -> RateLimit:
        # a quarter of a minute's allowance may go at once, then the steady pace
        return RateLimit(per_minute=per_minute, burst=max(1, per_minute // 4))

    return RateLimits(
        {scheme: limit(n) for scheme, n in rates.items()},
        default=limit(default) if default else None,
    )


def _nothing_down() -> Collection[str]:
    return ()


def mute_apprise() -> None:
    """Keep apprise's log records, which name recipients, out of the process's logs."""
    # apprise logs recipients (addresses, numbers) at WARNING; our own line per delivery
    # says what happened, so its records stop at its own logger rather than trusting the
    # redactor. They still reach the handler apprise attaches there to capture a send's
    # outcome (the HTTP status of a failure), hence the level it captures at.
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.propagate = False
    apprise_logger.setLevel(logging.WARNING)


class NoticePump:
    """Delivers the outbox: claims due notices, renders them, sends each through the first
    eligible channel of its recipient with bounded concurrency, retries with backoff and
    jitter, falls over to the next channel, and records every attempt.

    Use as an async context manager; the apprise sender is owned unless ``sender`` is
    given. ``dry_run`` (default: the configuration's) renders and records everything and
    sends nothing. With ``metrics``, every notice's end is counted by channel scheme and
    outcome (a dry run's as ``silenced``), and a sent one's latency from its incident
    event is observed.

    Claims are this pump's (``holder``, by default :func:`dispatcher_identity`) for
    :data:`CLAIM_LEASE`, renewed while their deliveries go on, so another dispatcher on the
    same database (a ``failover trigger`` delivering from the command line while a daemon
    starts) never takes them. From entry to exit, every :data:`SWEEP_EVERY_S`, the pump
    takes back claims whose lease ran out and, at once, those of a dispatcher of this host
    whose process died (a daemon killed with SIGKILL): those notices are sent again, at
    most once per delivery that was in flight. On exit it hands back what it still holds
    (deliveries abandoned by a drain that ran out of time).
    """

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        down_platforms: Callable[[], Collection[str]] = _nothing_down,
        sender: Sender | None = None,
        log: BoundLogger | None = None,
        dry_run: bool | None = None,
        jitter: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
        holder: str | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._down_platforms = down_platforms
        self._sender = sender
        #: the sender this pump made (its threads follow ``[notify] concurrency``)
        self._own_sender: ApprisePlugins | None = None
        self._log = log or get_logger("failover.notices")
        self._dry_run = dry_run
        self.holder = holder or dispatcher_identity()
        self._jitter = jitter or random.SystemRandom().random
        self._channels: Mapping[str, Channel] = notice_channels(config)
        self._metrics = metrics
        self._init_channel_metrics()
        self._outbox = StoreOutbox(
            store=store,
            config=lambda: self._config,
            channels=lambda: self._channels,
            clock=clock,
            log=self._log,
            holder=self.holder,
            metrics=metrics,
            on_hastened=self.wake,
        )
        self._upkeep: asyncio.Task[None] | None = None
        self._stack: AsyncExitStack | None = None
        self._dispatcher: Dispatcher | None = None
        self._pass: asyncio.Task[DispatchSummary] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    @property
    def dry_run(self) -> bool:
        return self._config.notify.dry_run if self._dry_run is None else self._dry_run

    async def __aenter__(self) -> Self:
        mute_apprise()
        self._stack = AsyncExitStack()
        if self._sender is None:
            self._sender = self._own_sender = await self._stack.enter_async_context(
                ApprisePlugins(max_workers=self._config.notify.concurrency)
            )
        await self._take_back_claims()
        self._upkeep = asyncio.create_task(self._keep_claims(), name="failover-notice-claims")
        self._dispatcher = self._new_dispatcher()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._pass is not None and not self._pass.done() and not self._stopping:
            await self.drain(30.0)
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        await self._hand_back_abandoned()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def _take_back_claims(self) -> None:
        """Put back to ``pending`` the claims whose lease ran out and those of dispatchers
        of this host that died; a database that fails is tried again at the next sweep."""
        try:
            holders: list[Claims] = await asyncio.to_thread(self._store.claims, now=self._clock())
            if any(claims.expired for claims in holders if claims.holder != self.holder):
                released = await asyncio.to_thread(
                    self._store.release_expired_claims, now=self._clock(), sparing=self.holder
                )
                if released:
                    self._log.warning("notice_claims_released", notices=released, reason="lease_expired")
            for claims in holders:
                if claims.holder == self.holder and claims.notices > self._outbox.held:
                    await self._outbox.release_orphans()
                elif claims.holder != self.holder and holder_gone(claims.holder):
                    released = await asyncio.to_thread(self._store.release_claims, claims.holder)
                    if released:
                        self._log.warning(
                            "notice_claims_released",
                            notices=released,
                            reason="holder_gone",
                            holder=claims.holder,
                        )
        except StoreError as exc:
            self._log.warning("notice_claims_sweep_failed", error=str(exc))

    async def _keep_claims(self) -> None:
        """Renew this pump's claims in flight, hand back what it claimed and could not
        prepare, and take back the claims of others that ran out or whose holder died."""
        last_renewal = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if asyncio.get_running_loop().time() - last_renewal >= RENEW_EVERY_S:
                last_renewal = asyncio.get_running_loop().time()
                ids = self._outbox.in_flight_ids
                if ids:
                    try:
                        await asyncio.to_thread(
                            self._store.renew_claims, self.holder, ids, until=self._clock() + CLAIM_LEASE
                        )
                    except StoreError as exc:
                        self._log.warning("notice_claims_not_renewed", notices=len(ids), error=str(exc))
            await self._take_back_claims()

    async def _hand_back_abandoned(self) -> None:
        """Hand back the claims of deliveries a drain abandoned (their outcome unknown:
        each may go out again), so that the next dispatcher need not wait for the lease."""
        ids = self._outbox.in_flight_ids
        if not ids:
            return
        try:
            released = await asyncio.to_thread(self._store.release_claims, self.holder, ids)
        except StoreError as exc:
            self._log.warning("notice_claims_not_released", notices=len(ids), error=str(exc))
            return
        if released:
            self._log.warning("notice_claims_released", notices=released, reason="abandoned")

    def _new_dispatcher(self) -> Dispatcher:
        assert self._sender is not None
        notify = self._config.notify
        return Dispatcher(
            self._outbox,
            self._sender,
            _rate_limits(self._config),
            channels=self._channels,
            concurrency=notify.concurrency,
            max_attempts=notify.max_attempts,
            backoff_base_s=notify.backoff_base_s,
            backoff_max_s=notify.backoff_max_s,
            give_up_after_s=notify.give_up_after_s,
            jitter=self._jitter,
            clock=self._clock,
            down_platforms=self._down_platforms,
            dry_run=self.dry_run,
        )

    def _dispatching(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("use the NoticePump as an async context manager")
        return self._dispatcher

    def _init_channel_metrics(self) -> None:
        # every scheme's outcomes exist at zero, so that rate() sees a first failure
        if self._metrics is not None:
            # an imported contact's channels are on [notify]'s bases: their schemes are those
            config = self._config
            bases = (config.notify.smtp_url, config.notify.signal_url)
            schemes = {channel_scheme(c.url) for c in written_channels(config).values()}
            self._metrics.init_channels(schemes | {channel_scheme(url) for url in bases if url})

    def wake(self) -> None:
        """Notices were just queued: look for due ones now rather than at the next poll."""
        self._wake.set()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded configuration from the next pass on (deliveries in flight end
        with the channels they started with)."""
        self._config = config
        self._channels = notice_channels(config)
        self._init_channel_metrics()
        if self._own_sender is not None:
            self._own_sender.resize(config.notify.concurrency)
        if self._dispatcher is not None and not self._stopping:
            self._dispatcher = self._new_dispatcher()
        self._wake.set()

    async def deliver_due(self) -> DispatchSummary:
        """One pass: deliver every notice due now, retries that come due meanwhile included."""
        dispatcher = self._dispatching()
        self._pass = asyncio.ensure_future(dispatcher.dispatch_due())
        return await self._pass

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver due notices until ``stop`` is set, then let the deliveries in flight end
        and return. Looks again when woken, else every second; queues due reminders."""
        self._dispatching()
        stopped = asyncio.ensure_future(stop.wait())
        last_reminders: datetime | None = None
        try:
            while not stop.is_set() and not self._stopping:
                now = self._clock()
                try:
                    if any(r.reminder_every for r in self._config.routes) and (
                        last_reminders is None or (now - last_reminders).total_seconds() >= REMINDER_CHECK_S
                    ):
                        last_reminders = now
                        await self.queue_reminders()
                except StoreError as exc:
                    self._log.warning("notice_upkeep_failed", error=str(exc))
                self._wake.clear()
                self._pass = asyncio.ensure_future(self._dispatching().dispatch_due())
                await asyncio.wait({self._pass, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not self._pass.done():
                    break  # stop: the pass is drained below
                try:
                    self._pass.result()
                except (StoreError, OSError) as exc:
                    # the database is away for a moment, or the process is out of file
                    # descriptors: the next pass tries again (what this pass had claimed
                    # and not handed over is handed back; see StoreOutbox)
                    self._log.warning("notice_pass_failed", error=str(exc) or type(exc).__name__)
                woken = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait(
                    {woken, stopped}, timeout=POLL_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        except asyncio.CancelledError:
            # cancelled (a drain that ran out of time): the deliveries in flight are not
            # waited for; their claims are handed back on exit, or taken back by the next
            # start (their holder died) or once their lease runs out
            self._stopping = True
            stopped.cancel()
            raise
        stopped.cancel()
        await self._finish_pass(timeout_s=None)

    async def _finish_pass(self, timeout_s: float | None) -> None:
        current = self._pass
        if current is None or current.done():
            return
        self._stopping = True
        # claim nothing new; the deliveries in flight end and are recorded
        draining = asyncio.ensure_future(self._dispatching().drain())
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(draining, asyncio.shield(current))
        except TimeoutError:
            self._log.warning(
                "notice_drain_timed_out",
                in_flight=self._outbox.in_flight,
                timeout_s=timeout_s,
                detail="notices still in flight are handed back and sent again",
            )

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: claim nothing new, and wait up to ``timeout_s`` for the deliveries
        in flight to end. Whatever is still in flight then is handed back on exit."""
        self._stopping = True
        self._wake.set()
        if self._dispatcher is not None and (self._pass is None or self._pass.done()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._dispatcher.drain()
            return
        await self._finish_pass(timeout_s)

    async def queue_reminders(self) -> int:
        """Queue the reminders that came due for open incidents, on routes with
        ``reminder_every`` (private recipients only); returns how many were new."""
        return await asyncio.to_thread(self._queue_reminders)

    def _queue_reminders(self) -> int:
        config = self._config
        if not any(route.reminder_every for route in config.routes):
            return 0
        now = self._clock()
        incidents = self._store.open_incidents()
        drafts = reminder_drafts(config, incidents, now=now, silences=self._store.active_silences(now))
        if not drafts:
            return 0
        before = sum(self._store.outbox_counts().values())
        self._store.record_decision(at=now, notices=drafts)
        queued = sum(self._store.outbox_counts().values()) - before
        if queued:
            self._log.info("reminders_queued", notices=queued)
            self._wake.set()
        return queued
