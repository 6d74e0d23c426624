"""The delivery engine: claim due notices from the outbox, send each through the
first eligible channel of its contact, retry with exponential backoff and jitter,
fall over to the next channel, and record every attempt and every ending.

The outbox is a port (:class:`Outbox`) the store implements with a conditional
update (pending → sending), so a crash loses nothing and sends nothing twice; every
step is written back before the next is taken. A retry is not a sleep: the notice is
rescheduled and claimed again when due, so a slow channel never holds a slot.

A notice carries a :class:`ChannelCursor` over its recipient's channels, in order of
preference: the channel delivery has reached and the tries made on it. A channel that
cannot be used now (its platform is down, it is public and the notice private, it is no
longer configured) is passed over without an attempt; one that fails ``max_attempts``
times, or refuses the message for good (:attr:`SendResult.final`: an SMTP 5xx, an HTTP
4xx), is left for the next, right away. The cursor only moves on: a notice that fell over
comes back to the preferred channel only with the next event's notice.

Temporary failures outlast the outage: when no channel follows the one that keeps failing,
the notice stays on it and is tried again and again, each wait twice the last (from
``backoff_base_s``, stretched by up to as much again at random, never reaching
``backoff_max_s``), until it goes out or ``give_up_after_s`` has passed since it came due
(then it fails, :attr:`SetAsideReason.gave_up`). A notice fails at once only when the
last channel refuses it for good, or when every channel left cannot be used. Why a notice
ends unsent is a :class:`SetAside` with a typed :class:`SetAsideReason`, never prose to
parse back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from failover.domain import Channel, IncidentEvent, Visibility
from failover.notify._channels import channel_scheme, ineligibility
from failover.notify._ratelimit import RateLimits
from failover.notify._render import RenderedNotice
from failover.notify._send import Sender, SendResult

__all__ = [
    "ChannelCursor",
    "ClaimedNotice",
    "DispatchSummary",
    "Dispatcher",
    "Outbox",
    "SetAside",
    "SetAsideReason",
]


class SetAsideReason(enum.StrEnum):
    """Why a notice ends without being sent."""

    #: a dry run sends nothing (``SetAside.channel_ref``: the channel it would have used)
    dry_run = "dry_run"
    #: no channel of the recipient could be tried: platforms down, public, not configured
    no_channel = "no_channel"
    #: the last channel that could be tried refused the notice for good (or none was
    #: left that could be used): permanently failed
    channels_failed = "channels_failed"
    #: temporary failures went on for ``give_up_after``
    gave_up = "gave_up"
    #: (outbox) its incident resolved and the recipient's recovery notice replaces it
    superseded = "superseded"
    #: (outbox) the notice's incident is no longer recorded
    incident_gone = "incident_gone"
    #: (outbox) a reminder whose incident was resolved before it went out
    incident_resolved = "incident_resolved"
    #: (outbox) a silence in force holds the incident's notices
    silenced = "silenced"
    #: (outbox) the incident opened and resolved within a maintenance window
    maintenance = "maintenance"
    #: (outbox) the contact or shared channel is no longer configured
    recipient_gone = "recipient_gone"
    #: (outbox) the template does not render any more
    unrenderable = "unrenderable"
    #: (outbox) text bound for a public channel carries personal data
    personal_data = "personal_data"
    #: (outbox) its incident was retracted: only the corrections go out
    retracted = "retracted"
    #: (outbox) a correction for a recipient who never received a notice of the incident
    nothing_to_correct = "nothing_to_correct"


@dataclass(frozen=True, kw_only=True, slots=True)
class SetAside:
    """A notice that ends unsent: why, typed, and a short text for people (kept as the
    notice's last error: never a URL, an address or a number)."""

    reason: SetAsideReason
    detail: str
    #: the channel concerned (the one a dry run would have used), if any
    channel_ref: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelCursor:
    """How far delivery has gone down a recipient's channels: ``index`` into the
    notice's ``channel_refs`` and the ``tries`` already made on that channel."""

    index: int = 0
    tries: int = 0

    def tried(self) -> ChannelCursor:
        return replace(self, tries=self.tries + 1)

    def next_channel(self) -> ChannelCursor:
        return ChannelCursor(index=self.index + 1)


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
    #: delivery attempts made so far, on every channel (the recorded deliveries)
    attempts: int = 0
    #: the channel delivery has reached, and the tries made on it
    cursor: ChannelCursor = ChannelCursor()
    #: platforms known down when the notice was written (the incident's own)
    down_platforms: frozenset[str] = frozenset()
    last_error: str = ""
    #: when it first came due: ``give_up_after`` runs from here (None: never given up)
    due_since: datetime | None = None


class Outbox(Protocol):
    """The notice outbox, as the dispatcher sees it. The store implements it over
    SQL; :class:`~failover.notify.MemoryOutbox` in memory."""

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        """Move up to ``limit`` due pending notices to ``sending`` and return them."""
        ...

    async def mark_sent(
        self, notice_id: int, channel_ref: str, now: datetime, *, public_ref: str | None = None
    ) -> None:
        """Sent through ``channel_ref`` at ``now``: the attempt that sent it is recorded and
        counted (as :meth:`record_attempt` records one) and the notice is marked sent, in
        one step; ``public_ref`` names the post it made, if any."""
        ...

    async def mark_failed(self, notice_id: int, why: SetAside, now: datetime) -> None: ...

    async def mark_skipped(self, notice_id: int, why: SetAside, now: datetime) -> None: ...

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, cursor: ChannelCursor, last_error: str
    ) -> None:
        """Back to ``pending``, due at ``next_attempt_at``, delivery standing at ``cursor``
        (claimed again, the notice carries it)."""
        ...

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None:
        """One delivery attempt, counted in the notice's ``attempts`` (the one that sent a
        notice is recorded by :meth:`mark_sent`)."""
        ...


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


def _failures(tasks: Collection[asyncio.Task[None]]) -> list[BaseException]:
    return [error for task in tasks if not task.cancelled() and (error := task.exception()) is not None]


#: no exponent beyond this (2**60 times any base is past every cap already)
_MAX_DOUBLINGS = 60


def _span(seconds: float) -> str:
    """``6 h``, ``90 min``, ``45 s``: how long, for a reason people read."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:g} s"


#: how long a free slot waits for others before it is claimed for alone
CLAIM_LINGER_S = 0.005


class Dispatcher:
    """Delivers claimed notices with bounded concurrency.

    ``jitter()`` returns a fraction in [0, 1): after the n-th failure in a row on a
    channel the notice waits ``(1 + jitter()) * min(backoff_base_s * 2**(n-1), ceiling)``,
    where ``ceiling`` is half ``backoff_max_s`` (or ``backoff_base_s`` if that is more), so
    waits stay under ``backoff_max_s`` and retries that reached it stay spread apart.
    ``give_up_after_s`` (None: never) ends a notice whose temporary failures went on that
    long since it came due; a ``one_shot`` dispatcher (``notify-test``) ends the notice
    once the last channel's ``max_attempts`` are spent. ``channels`` maps a channel ``ref``
    to its configured :class:`Channel`; ``down_platforms()`` tells which platforms are down
    now (added to those the notice carries). In ``dry_run`` nothing is sent: each notice
    ends ``skipped`` with the channel it would have used.
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
        backoff_max_s: float = 60.0,
        give_up_after_s: float | None = None,
        one_shot: bool = False,
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
        self._backoff_ceiling_s = max(backoff_max_s / 2, backoff_base_s)
        self._give_up_after_s = give_up_after_s
        self._one_shot = one_shot
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
        errors: list[BaseException] = []
        # While more notices are due than slots, a claim waits for a quarter of the slots
        # to free (one transaction for several notices, not one per slot), or for a slot
        # to stay free CLAIM_LINGER_S (slow channels keep their slots busy); once the
        # outbox had fewer due than asked, each slot that frees looks again.
        refill = max(1, self._concurrency // 4)
        more_due = True
        lingered = False
        try:
            while not self._draining:
                free = self._concurrency - len(mine)
                if free > 0 and (free >= refill or not mine or lingered or not more_due):
                    claimed = await self._outbox.claim(self._clock(), free)
                    for notice in claimed:
                        task = asyncio.create_task(self._deliver(notice, summary))
                        mine.add(task)
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
                    more_due = len(claimed) == free
                    lingered = False
                    if claimed and more_due:
                        continue
                if not mine:
                    break
                free = self._concurrency - len(mine)
                linger = CLAIM_LINGER_S if more_due and 0 < free < refill else None
                done, _ = await asyncio.wait(mine, timeout=linger, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    lingered = True
                    continue
                mine -= done
                errors += _failures(done)
        finally:
            if mine:
                await asyncio.wait(mine)
                errors += _failures(mine)
        if errors:
            # an outbox that failed to record a step (it retries what it can): the pass
            # says so; the notice's claim runs out and it is taken back
            raise errors[0]
        return summary

    async def _acquire_unless_draining(self, scheme: str) -> bool:
        """Wait for the scheme's rate limit; False if a drain begins first. A stop then
        waits only for messages really on the wire, not for a queue behind a slow limit."""
        if self._draining:
            return False
        if self._rate_limits.take_now(scheme):
            return True  # most messages of a fan-out: no wait, no task to wait in
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

    def _first_usable(self, notice: ClaimedNotice, cursor: ChannelCursor) -> tuple[ChannelCursor, list[str]]:
        """The cursor moved to the first channel, from ``cursor`` on, that may be tried now
        (past the last one if none may), and why each channel passed over was."""
        down = self._down(notice)
        passed: list[str] = []
        index = cursor.index
        while index < len(notice.channel_refs):
            ref = notice.channel_refs[index]
            channel = self._channels.get(ref)
            why = (
                f"{ref} is not configured"
                if channel is None
                else ineligibility(channel, down_platforms=down, visibility_needed=notice.visibility)
            )
            if why is None:
                return (cursor if index == cursor.index else ChannelCursor(index=index)), passed
            passed.append(why)
            index += 1
        return ChannelCursor(index=index), passed

    async def _end_unsent(
        self,
        notice: ClaimedNotice,
        summary: DispatchSummary,
        *,
        attempted: bool,
        last_error: str,
        passed: list[str],
    ) -> None:
        now = self._clock()
        if not attempted:
            detail = "no eligible channel: " + ("; ".join(passed) or "the contact has no channel")
            await self._outbox.mark_skipped(
                notice.id, SetAside(reason=SetAsideReason.no_channel, detail=detail), now
            )
            summary.skipped += 1
            return
        detail = "; ".join([f"all channels failed; last: {last_error or 'unknown'}", *passed])
        await self._outbox.mark_failed(
            notice.id, SetAside(reason=SetAsideReason.channels_failed, detail=detail), now
        )
        summary.failed += 1

    def _backoff_s(self, tries: int) -> float:
        """The wait after the ``tries``-th failure in a row on a channel."""
        doubled = self._backoff_base_s * 2.0 ** min(tries - 1, _MAX_DOUBLINGS)
        return (1.0 + self._jitter()) * min(doubled, self._backoff_ceiling_s)

    def _past_giving_up(self, notice: ClaimedNotice, now: datetime) -> bool:
        if self._give_up_after_s is None or notice.due_since is None:
            return False
        return (now - notice.due_since).total_seconds() >= self._give_up_after_s

    async def _give_up(self, notice: ClaimedNotice, summary: DispatchSummary, last_error: str) -> None:
        assert self._give_up_after_s is not None
        detail = f"gave up after {_span(self._give_up_after_s)} of temporary failures; last: {last_error}"
        await self._outbox.mark_failed(
            notice.id, SetAside(reason=SetAsideReason.gave_up, detail=detail), self._clock()
        )
        summary.failed += 1

    def _following(self, notice: ClaimedNotice, cursor: ChannelCursor) -> tuple[ChannelCursor, list[str]]:
        """The first channel after the cursor's that may be tried now (past the last one
        if none may), and why each channel passed over was."""
        return self._first_usable(notice, cursor.next_channel())

    async def _deliver(self, notice: ClaimedNotice, summary: DispatchSummary) -> None:
        cursor = notice.cursor
        attempted = notice.attempts > 0
        last_error = notice.last_error
        passed: list[str] = []
        if cursor.tries >= self._max_attempts:  # spent before the notice was handed back
            following, passed_now = self._following(notice, cursor)
            if following.index < len(notice.channel_refs):
                cursor, passed = following, passed_now
            # else: the last channel that may be tried keeps its place, and is tried again
        while True:
            cursor, passed_now = self._first_usable(notice, cursor)
            passed += passed_now
            if cursor.index >= len(notice.channel_refs):
                await self._end_unsent(
                    notice, summary, attempted=attempted, last_error=last_error, passed=passed
                )
                return
            channel = self._channels[notice.channel_refs[cursor.index]]
            scheme = channel_scheme(channel.url)
            if self._dry_run:
                why = SetAside(
                    reason=SetAsideReason.dry_run,
                    detail=f"dry run: would send via {channel.ref} ({scheme})",
                    channel_ref=channel.ref,
                )
                await self._outbox.mark_skipped(notice.id, why, self._clock())
                summary.skipped += 1
                return
            if not await self._acquire_unless_draining(scheme):
                # nothing was sent: back to pending where it stood, for the next start to send
                await self._outbox.reschedule(notice.id, self._clock(), cursor, last_error)
                summary.released += 1
                return
            try:
                result = await self._sender.send(channel, notice.notice, visibility=notice.visibility)
            except Exception as exc:  # noqa: BLE001 - a sender bug is one failed attempt, not a lost notice
                result = SendResult(ok=False, error=f"{scheme}: {type(exc).__name__}")
            now = self._clock()
            attempted = True
            summary.attempts += 1
            summary.by_scheme[scheme, result.ok] = summary.by_scheme.get((scheme, result.ok), 0) + 1
            if result.ok:
                # the attempt and the notice's end in one write: half the round trips
                await self._outbox.mark_sent(notice.id, channel.ref, now, public_ref=result.public_ref)
                summary.sent += 1
                return
            await self._outbox.record_attempt(notice.id, channel.ref, ok=False, error=result.error, now=now)
            last_error = f"{channel.ref}: {result.error}"
            cursor = cursor.tried()
            if result.final or cursor.tries >= self._max_attempts:
                following, passed_now = self._following(notice, cursor)
                if following.index < len(notice.channel_refs):
                    passed += passed_now
                    cursor = following  # fall over, right away
                    continue
                if result.final or self._one_shot:
                    passed += passed_now
                    await self._end_unsent(
                        notice, summary, attempted=True, last_error=last_error, passed=passed
                    )
                    return
                # no channel follows: this one keeps its place while its failures are temporary
            if self._past_giving_up(notice, now):
                await self._give_up(notice, summary, last_error)
                return
            retry_at = now + timedelta(seconds=self._backoff_s(cursor.tries))
            await self._outbox.reschedule(notice.id, retry_at, cursor, last_error)
            summary.rescheduled += 1
            return
