"""The delivery engine: claim due notices from the outbox, send each through the
first eligible channel of its contact, retry with exponential backoff and jitter,
fall over to the next channel, and record every attempt and every ending.

The outbox is a port (:class:`Outbox`) the store implements with a conditional
update (pending → sending), so a crash loses nothing and sends nothing twice; every
step is written back before the next is taken. A retry is not a sleep: the notice is
rescheduled and claimed again when due, so a slow channel never holds a slot.

Which channel an attempt uses follows from the notice's ``attempts``: each eligible
channel, in the contact's order of preference, gets ``max_attempts`` tries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from failover.domain import Channel, IncidentEvent, Visibility
from failover.notify._channels import channel_scheme, eligible_channels, ineligibility, redact_channel
from failover.notify._ratelimit import RateLimits
from failover.notify._render import RenderedNotice
from failover.notify._send import Sender, SendResult

__all__ = ["ClaimedNotice", "DispatchSummary", "Dispatcher", "Outbox"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimedNotice:
    """A notice the outbox handed over for delivery (now in state ``sending``).

    Channels are named by their secret-free ``ref``; the dispatcher resolves them
    against the configured channels, so the outbox never stores a channel URL.
    """

    id: int
    #: idempotency key: incident event + contact
    key: str
    incident_key: str
    event: IncidentEvent
    #: ``contacts[3]`` or ``channels.mastodon-public``: who this is for
    contact_ref: str
    #: in order of preference
    channel_refs: tuple[str, ...]
    visibility: Visibility
    notice: RenderedNotice
    #: delivery progress: eligible channel n owns attempts n*max_attempts to
    #: (n+1)*max_attempts-1; on fall-over the unused ones of a channel count as spent,
    #: so this can exceed the attempts made (those are the recorded deliveries)
    attempts: int = 0
    #: platforms known down when the notice was written (the incident's own)
    down_platforms: frozenset[str] = frozenset()
    last_error: str = ""


class Outbox(Protocol):
    """The notice outbox, as the dispatcher sees it. The store implements it over
    SQL; :class:`~failover.notify.MemoryOutbox` in memory."""

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        """Move up to ``limit`` due pending notices to ``sending`` and return them."""
        ...

    async def mark_sent(self, notice_id: int, channel_ref: str, now: datetime) -> None: ...

    async def mark_failed(self, notice_id: int, reason: str, now: datetime) -> None: ...

    async def mark_skipped(self, notice_id: int, reason: str, now: datetime) -> None: ...

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, attempts: int, last_error: str
    ) -> None:
        """Back to ``pending``, due at ``next_attempt_at``, with the attempts made so far."""
        ...

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None: ...


@dataclass(kw_only=True, slots=True)
class DispatchSummary:
    """What one :meth:`Dispatcher.dispatch_due` call did."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    rescheduled: int = 0
    #: claimed but handed back untouched because a drain began before they were sent
    released: int = 0
    attempts: int = 0
    #: attempts per scheme and outcome, e.g. ``("mailtos", True): 10``
    by_scheme: dict[tuple[str, bool], int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.sent + self.failed + self.skipped


def _nothing_down() -> Collection[str]:
    return ()


class Dispatcher:
    """Delivers claimed notices with bounded concurrency.

    ``jitter()`` returns a fraction in [0, 1): the n-th retry on a channel waits
    ``backoff_base_s * 2**(n-1) * (1 + jitter())``. ``channels`` maps a channel ``ref``
    to its configured :class:`Channel`; ``down_platforms()`` tells which platforms are
    down now (added to those the notice carries). In ``dry_run`` nothing is sent: each
    notice ends ``skipped`` with the channel it would have used.
    """

    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        rate_limits: RateLimits,
        *,
        channels: Mapping[str, Channel],
        concurrency: int = 32,
        max_attempts: int = 3,
        backoff_base_s: float = 5.0,
        jitter: Callable[[], float],
        clock: Callable[[], datetime],
        down_platforms: Callable[[], Collection[str]] = _nothing_down,
        dry_run: bool = False,
    ) -> None:
        if concurrency < 1 or max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        self._outbox = outbox
        self._sender = sender
        self._rate_limits = rate_limits
        self._channels = channels
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._jitter = jitter
        self._clock = clock
        self._down_platforms = down_platforms
        self._dry_run = dry_run
        self._draining = False
        self._drained = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self._draining

    def wake(self) -> None:
        """Tell :meth:`run` that new notices may be due."""
        self._wake.set()

    async def drain(self) -> None:
        """Claim nothing new and wait for the deliveries in flight to finish. Deliveries
        still waiting for their rate limit hand their notice back instead of sending."""
        self._draining = True
        self._drained.set()
        self._wake.set()
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    async def run(self, *, poll_interval_s: float = 1.0) -> None:
        """Deliver due notices until :meth:`drain` is called."""
        while not self._draining:
            await self.dispatch_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_interval_s)
            self._wake.clear()

    async def dispatch_due(self) -> DispatchSummary:
        """Claim and deliver notices until none is due (or draining); retries that
        come due meanwhile, such as a fall-over to the next channel, are included."""
        summary = DispatchSummary()
        mine: set[asyncio.Task[None]] = set()
        try:
            while not self._draining:
                free = self._concurrency - len(mine)
                if free > 0:
                    claimed = await self._outbox.claim(self._clock(), free)
                    for notice in claimed:
                        task = asyncio.create_task(self._deliver(notice, summary))
                        mine.add(task)
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
                    if claimed and len(claimed) == free:
                        continue
                if not mine:
                    break
                done, _ = await asyncio.wait(mine, return_when=asyncio.FIRST_COMPLETED)
                mine -= done
        finally:
            if mine:
                await asyncio.wait(mine)
        return summary

    async def _acquire_unless_draining(self, scheme: str) -> bool:
        """Wait for the scheme's rate limit; False if a drain begins first. A stop then
        waits only for messages really on the wire, not for a queue behind a slow limit."""
        if self._draining:
            return False
        acquiring = asyncio.ensure_future(self._rate_limits.acquire(scheme))
        drained = asyncio.ensure_future(self._drained.wait())
        try:
            await asyncio.wait({acquiring, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
        if acquiring.done():
            acquiring.result()
            return True
        acquiring.cancel()
        return False

    def _down(self, notice: ClaimedNotice) -> frozenset[str]:
        return notice.down_platforms | frozenset(self._down_platforms())

    def _resolve(self, notice: ClaimedNotice) -> tuple[list[Channel], list[str]]:
        known = [self._channels[ref] for ref in notice.channel_refs if ref in self._channels]
        reasons = [f"{ref} is not configured" for ref in notice.channel_refs if ref not in self._channels]
        down = self._down(notice)
        for channel in known:
            reason = ineligibility(channel, down_platforms=down, visibility_needed=notice.visibility)
            if reason is not None:
                reasons.append(reason)
        usable = eligible_channels(known, down_platforms=down, visibility_needed=notice.visibility)
        return usable, reasons

    async def _deliver(self, notice: ClaimedNotice, summary: DispatchSummary) -> None:
        usable, reasons = self._resolve(notice)
        position, tries_here = divmod(notice.attempts, self._max_attempts)
        if position >= len(usable):
            now = self._clock()
            if notice.attempts == 0:
                why = "; ".join(reasons) or "the contact has no channel"
                await self._outbox.mark_skipped(notice.id, f"no eligible channel: {why}", now)
                summary.skipped += 1
            else:
                last = notice.last_error or "; ".join(reasons)
                await self._outbox.mark_failed(notice.id, f"all channels failed; last: {last}", now)
                summary.failed += 1
            return
        channel = usable[position]
        if self._dry_run:
            why = f"dry run: would send via {channel.ref} ({redact_channel(channel.url)})"
            await self._outbox.mark_skipped(notice.id, why, self._clock())
            summary.skipped += 1
            return
        scheme = channel_scheme(channel.url)
        if not await self._acquire_unless_draining(scheme):
            # nothing was sent: back to pending as it was, for the next start to send
            await self._outbox.reschedule(notice.id, self._clock(), notice.attempts, notice.last_error or "")
            summary.released += 1
            return
        try:
            result = await self._sender.send(channel, notice.notice, visibility=notice.visibility)
        except Exception as exc:  # noqa: BLE001 - a sender bug is one failed attempt, not a lost notice
            result = SendResult(ok=False, error=f"{scheme}: {type(exc).__name__}")
        now = self._clock()
        await self._outbox.record_attempt(notice.id, channel.ref, result.ok, result.error, now)
        summary.attempts += 1
        summary.by_scheme[scheme, result.ok] = summary.by_scheme.get((scheme, result.ok), 0) + 1
        if result.ok:
            await self._outbox.mark_sent(notice.id, channel.ref, now)
            summary.sent += 1
            return
        error = f"{channel.ref}: {result.error}"
        if result.refused or tries_here + 1 >= self._max_attempts:
            # fall over: the next attempt is the first on the next channel, right away
            attempts = (position + 1) * self._max_attempts
            if position + 1 >= len(usable):
                await self._outbox.mark_failed(notice.id, f"all channels failed; last: {error}", now)
                summary.failed += 1
                return
            await self._outbox.reschedule(notice.id, now, attempts, error)
        else:
            delay_s = self._backoff_base_s * 2**tries_here * (1.0 + self._jitter())
            await self._outbox.reschedule(
                notice.id, now + timedelta(seconds=delay_s), notice.attempts + 1, error
            )
        summary.rescheduled += 1
