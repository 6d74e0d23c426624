"""notify's outbox port over the store (:class:`StoreOutbox`): what the dispatcher claims,
and every step of a delivery written back.

The outbox holds no text, no address and no URL: a notice names its contact by the
contact's id, its channel by a reference (``contacts[alice].channels[1]``,
``channels.mastodon-public``) and its template by name. It is rendered when it is claimed,
from the incident as stored and the configuration as loaded, in the contact's language and
time zone. A claim is a conditional update, so two dispatchers never share a notice, and
it names its dispatcher and lasts a lease that the dispatcher renews: a daemon starting
while ``failover trigger`` delivers leaves that command's notices alone. A process killed
mid-delivery leaves its notices in ``sending``; they are taken back at once by the next
dispatcher of the same host (their holder died), else when their lease runs out: the only
way a message can go out twice, at most once per delivery that was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from structlog.stdlib import BoundLogger

from failover.config import Config
from failover.domain import Channel, Incident, IncidentEvent, NoticeState
from failover.errors import StoreError
from failover.metrics import Metrics, NoticeOutcome
from failover.notify import ChannelCursor, ClaimedNotice, SetAside, SetAsideReason, channel_scheme
from failover.service._channels import ChannelDirectory
from failover.service._claimed import (
    CORRECTION_WAIT,
    SetAsideNotice,
    WaitForOriginal,
    correction_channel,
    event_time,
    may_be_superseded,
    prepare_notice,
)
from failover.service._maintenance import MaintenanceHold, maintenance_verdict
from failover.service._plan import SHARED_PREFIX
from failover.store import DeliveryOutcome, Notice, Store

__all__ = ["CLAIM_LEASE", "StoreOutbox"]

#: how long a claim on a notice lasts unless renewed: a dispatcher that dies (or loses the
#: database) for longer lets its notices go to another; a dispatcher renews its claims
#: every RENEW_EVERY_S while their deliveries go on (slow servers, rate limits)
CLAIM_LEASE = timedelta(seconds=60)
#: a step of a delivery the database refused (locked, restarting) is written again after
#: this long, then twice as long each time, up to WRITE_RETRY_MAX_S
WRITE_RETRY_FIRST_S = 0.1
WRITE_RETRY_MAX_S = 2.0
#: notices waiting on a server that answers again are brought forward at most this often
HASTEN_EVERY_S = 5.0

#: how each end state of a notice is counted in ``failover_notices_total``
_OUTCOME_OF_STATE = {
    NoticeState.sent: NoticeOutcome.sent,
    NoticeState.failed: NoticeOutcome.failed,
    NoticeState.skipped: NoticeOutcome.skipped,
    NoticeState.silenced: NoticeOutcome.silenced,
}


@dataclass(slots=True)
class _Tracked:
    """What the metrics need of a claimed notice until it ends."""

    #: when its incident event happened (see :func:`event_time`)
    since: datetime
    #: the scheme it is counted under: its first channel's, then the last one tried
    scheme: str


@dataclass(frozen=True, slots=True)
class _Attempt:
    """A delivery attempt to record: a write :class:`_GroupCommit` settles with the others
    of its group in one statement."""

    store: Store
    attempt: tuple[int, datetime, str, DeliveryOutcome, str | None]

    def __call__(self) -> None:
        self.store.record_deliveries([self.attempt])


@dataclass(frozen=True, slots=True)
class _Sent:
    """A delivery that went out: its attempt recorded and its notice marked sent, which a
    write :class:`_GroupCommit` settles with the others of its group, one statement of each
    kind for all of them. Returns whether the notice was still ``holder``'s."""

    store: Store
    holder: str
    attempt: tuple[int, datetime, str, DeliveryOutcome, str | None]
    public_ref: str | None

    @property
    def sent(self) -> tuple[int, datetime, str | None]:
        return (self.attempt[0], self.attempt[1], self.public_ref)

    def __call__(self) -> bool:
        with self.store.batch():
            self.store.record_deliveries([self.attempt])
            return self.store.mark_notices_sent([self.sent], holder=self.holder)[0]


class _GroupCommit:
    """Writes of the outbox settled many to a transaction: the first waits for nobody; those
    that come while a commit is under way go together in the next one. A fan-out of 32
    deliveries at a time thus commits once for many notices rather than twice for each.

    If one write of a group raises, the group's transaction is rolled back and each of its
    writes runs again on its own, so that each caller learns its own outcome."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: list[tuple[Callable[[], object], asyncio.Future[object]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[], object]) -> object:
        """``write()`` done, in a transaction with others; what it returned."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        self._waiting.append((write, done))
        if self._draining is None or self._draining.done():
            self._draining = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                outcomes = await asyncio.to_thread(self._commit, [write for write, _ in group])
            except asyncio.CancelledError:
                for _, done in group:
                    done.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 -- handed to every waiting writer
                outcomes = [exc] * len(group)
            for (_, done), outcome in zip(group, outcomes, strict=True):
                if done.done():
                    continue  # its writer was cancelled
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)

    # Runs in a worker thread.
    def _commit(self, writes: Sequence[Callable[[], object]]) -> list[object]:
        if len(writes) > 1:
            try:
                with self._store.batch():
                    return self._settle(writes)
            except Exception:  # noqa: BLE001,S110 -- each runs again alone, and says what went wrong
                pass
        outcomes: list[object] = []
        for write in writes:
            try:
                outcomes.append(write())
            except Exception as exc:  # noqa: BLE001 -- the writer's to handle
                outcomes.append(exc)
        return outcomes

    def _settle(self, writes: Sequence[Callable[[], object]]) -> list[object]:
        """A group's writes, inside its transaction: the attempts first, in one statement
        (a notice's failed attempt is always recorded before the notice is put back: they
        are never in one group), then the notices sent, one statement per holder, then the
        rest one by one."""
        self._store.record_deliveries(
            [write.attempt for write in writes if isinstance(write, _Attempt | _Sent)]
        )
        marked: dict[int, bool] = {}
        by_holder: dict[str, list[_Sent]] = {}
        for write in writes:
            if isinstance(write, _Sent):
                by_holder.setdefault(write.holder, []).append(write)
        for holder, sent in by_holder.items():
            held = self._store.mark_notices_sent([write.sent for write in sent], holder=holder)
            marked.update(zip((write.attempt[0] for write in sent), held, strict=True))
        outcomes: list[object] = []
        for write in writes:
            if isinstance(write, _Attempt):
                outcomes.append(None)
            elif isinstance(write, _Sent):
                outcomes.append(marked[write.attempt[0]])
            else:
                outcomes.append(write())
        return outcomes


class StoreOutbox:
    """notify's ``Outbox`` port over the store: claims are rendered here, and every step
    is written back (in a worker thread: the store is synchronous) and logged.

    Claims are ``holder``'s, for ``lease``: :class:`NoticePump` renews those in flight
    (:attr:`in_flight_ids`). A step that cannot be written (SQLite locked, PostgreSQL
    restarting) is written again and again, a little later each time, until it is: the
    delivery it records happened, and its notice must neither stay claimed nor be sent
    again. Notices claimed and never handed over (the database failed while they were
    being prepared, or committed a claim whose answer was lost) are handed back at once,
    else by :meth:`release_orphans` at the pump's next sweep.
    """

    def __init__(
        self,
        *,
        store: Store,
        config: Callable[[], Config],
        channels: Callable[[], Mapping[str, Channel]],
        clock: Callable[[], datetime],
        log: BoundLogger,
        holder: str,
        lease: timedelta = CLAIM_LEASE,
        metrics: Metrics | None = None,
        on_hastened: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._config = config
        self._channels = channels
        self._clock = clock
        self._log = log
        self._holder = holder
        self._lease = lease
        self._metrics = metrics
        self._claimed: dict[int, ClaimedNotice] = {}
        self._tracked: dict[int, _Tracked] = {}
        #: claimed, and being prepared (rendered, or set aside) in a worker thread
        self._preparing: set[int] = set()
        #: a claim and the registration of what it claimed are one step for release_orphans
        self._claim_lock = asyncio.Lock()
        #: servers whose last attempt failed, and when notices waiting on each were last hastened
        #: the deliveries' writes, settled many to a transaction
        self._commits = _GroupCommit(store)
        self._failing: set[_Server] = set()
        #: the channels that failed on each of those servers since it was last hastened
        self._failing_refs: dict[_Server, set[str]] = {}
        self._hastened_at: dict[_Server, float] = {}
        #: when the failed attempt of a notice about to be put back was made, and when (by
        #: the attempt that found it back) each server was last found answering again
        self._failed_at: dict[int, datetime] = {}
        self._hastened_when: dict[_Server, datetime] = {}
        self._servers: dict[str, _Server] = {}
        self._on_hastened = on_hastened

    @property
    def in_flight(self) -> int:
        return len(self._claimed)

    @property
    def in_flight_ids(self) -> list[int]:
        return list(self._claimed)

    @property
    def held(self) -> int:
        """Claims this dispatcher knows it holds: in flight or being prepared."""
        return len(self._claimed) + len(self._preparing)

    async def _write(self, step: str, notice_id: int, write: Callable[[], object]) -> None:
        """Run one store write in a worker thread until it goes through."""
        delay_s = WRITE_RETRY_FIRST_S
        failures = 0
        while True:
            try:
                written = await self._commits.run(write)
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    self._log.warning("notice_write_failed", notice_id=notice_id, step=step, error=str(exc))
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, WRITE_RETRY_MAX_S)
                continue
            if failures:
                self._log.info("notice_write_recovered", notice_id=notice_id, step=step, failures=failures)
            if written is False:
                # no longer ours to settle: its claim was taken back (it ran out while the
                # database was away) or the notice was cancelled meanwhile
                self._log.warning("notice_no_longer_held", notice_id=notice_id, step=step)
            return

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        async with self._claim_lock:
            notices = await asyncio.to_thread(
                self._store.claim_notices, now=now, limit=limit, holder=self._holder, lease=self._lease
            )
            ids = [notice.id for notice in notices]
            self._preparing.update(ids)
        if not notices:
            return []
        ended: set[int] = set()
        try:
            ready = await asyncio.to_thread(self._prepare_claimed, notices, now, ended)
        except StoreError:
            # claimed, never handed over: hand them back now rather than when the lease runs out
            for notice_id in ids:
                self._preparing.discard(notice_id)
                self._claimed.pop(notice_id, None)
                self._tracked.pop(notice_id, None)
            await self.release_orphans()
            raise
        self._preparing.difference_update(ids)
        return ready

    async def release_orphans(self) -> int:
        """Hand back this dispatcher's claims that none of its deliveries holds; a database
        that still refuses leaves them for the next sweep. Returns how many went back."""
        async with self._claim_lock:
            keep = sorted({*self._claimed, *self._preparing})
            try:
                released = await asyncio.to_thread(self._store.release_claims, self._holder, keep=keep)
            except StoreError as exc:
                self._log.warning("notice_claims_not_released", error=str(exc))
                return 0
        if released:
            self._log.warning("notice_claims_released", notices=released, reason="not_handed_over")
        return released

    def _prepare_claimed(
        self, notices: Sequence[Notice], now: datetime, ended: set[int]
    ) -> list[ClaimedNotice]:
        config = self._config()
        silences = self._store.active_silences(now)
        # the batch's recipients in one read of the address book, kept where the
        # dispatcher looks their channels up
        contacts = config.contacts_by_id(
            {n.contact_ref for n in notices if not n.contact_ref.startswith(SHARED_PREFIX)}
        )
        channels = self._channels()
        if isinstance(channels, ChannelDirectory):
            channels.remember(contacts.values())
        incidents: dict[int, Incident | None] = {}
        recovered: dict[int, set[str]] = {}
        told: dict[int, list[Notice]] = {}
        ready: list[ClaimedNotice] = []
        for notice in notices:
            if notice.incident_id not in incidents:
                incidents[notice.incident_id] = self._store.incident(notice.incident_id)
            incident = incidents[notice.incident_id]
            verdict = maintenance_verdict(config, incident, notice.event, now) if incident else None
            if isinstance(verdict, MaintenanceHold):
                self._hold(notice, verdict, now)
                ended.add(notice.id)
                continue
            correct_via: str | None = None
            if notice.event is IncidentEvent.retracted:
                if notice.incident_id not in told:
                    told[notice.incident_id] = self._store.notices(notice.incident_id)
                found = correction_channel(told[notice.incident_id], notice.contact_ref)
                if isinstance(found, WaitForOriginal):
                    self._wait_for_original(notice, now)
                    ended.add(notice.id)
                    continue
                correct_via = found
            if may_be_superseded(notice, incident) and notice.incident_id not in recovered:
                recovered[notice.incident_id] = self._store.notice_recipients(
                    notice.incident_id, IncidentEvent.resolved
                )
            prepared = prepare_notice(
                config,
                notice,
                incident,
                silences,
                now,
                recovered=recovered.get(notice.incident_id, set()),
                quiet=verdict,
                correct_via=correct_via,
                contacts=contacts,
            )
            scheme = self._first_scheme(notice, prepared)
            if isinstance(prepared, SetAsideNotice):
                self._store.mark_notice(
                    notice.id, prepared.state, now=now, error=prepared.why.detail, holder=self._holder
                )
                ended.add(notice.id)
                self._count(scheme, _OUTCOME_OF_STATE[prepared.state])
                self._log.info(
                    f"notice_{prepared.state}",
                    notice_id=notice.id,
                    contact=notice.contact_ref,
                    incident_event=str(notice.event),
                    reason=str(prepared.why.reason),
                    detail=prepared.why.detail,
                )
                continue
            self._claimed[notice.id] = prepared
            if self._metrics is not None:
                since = event_time(notice, incident)
                if incident is not None:
                    # a maintenance hold is deliberate, no latency: the clock starts at its end
                    held = maintenance_verdict(config, incident, notice.event, since)
                    if isinstance(held, MaintenanceHold):
                        since = max(since, held.occurrence.end)
                self._tracked[notice.id] = _Tracked(since=since, scheme=scheme)
            ready.append(prepared)
        return ready

    def _wait_for_original(self, notice: Notice, now: datetime) -> None:
        """Put a claimed correction back for a moment: its recipient's notice of the
        retracted incident is still in flight, and may yet go out (not an attempt)."""
        self._store.mark_notice(
            notice.id, NoticeState.pending, now=now, retry_at=now + CORRECTION_WAIT, holder=self._holder
        )
        self._log.info(
            "notice_held",
            notice_id=notice.id,
            contact=notice.contact_ref,
            incident_event=str(notice.event),
            reason="original_in_flight",
        )

    def _hold(self, notice: Notice, hold: MaintenanceHold, now: datetime) -> None:
        """Put a claimed notice back until its maintenance window ends (not an attempt)."""
        until = hold.occurrence.end
        self._store.mark_notice(
            notice.id,
            NoticeState.pending,
            now=now,
            retry_at=until,
            holder=self._holder,
        )
        self._log.info(
            "notice_held",
            notice_id=notice.id,
            contact=notice.contact_ref,
            incident_event=str(notice.event),
            reason="maintenance",
            window=hold.occurrence.window,
            until=until.isoformat(),
        )

    def _scheme_of(self, channel_ref: str | None) -> str:
        channel = self._channels().get(channel_ref) if channel_ref is not None else None
        return channel_scheme(channel.url) if channel is not None else ""

    def _first_scheme(self, notice: Notice, prepared: ClaimedNotice | SetAsideNotice) -> str:
        """The scheme a notice is counted under before any attempt: its shared channel's,
        else its recipient's first channel's (``""``, counted as ``other``, when unknown)."""
        if self._metrics is None:
            return ""
        if isinstance(prepared, ClaimedNotice):
            return self._scheme_of(prepared.channel_refs[0] if prepared.channel_refs else None)
        if notice.channel_ref is not None:
            return self._scheme_of(notice.channel_ref)
        contact = self._config().contact(notice.contact_ref)
        return self._scheme_of(contact.channels[0].ref if contact and contact.channels else None)

    def _count(self, scheme: str, outcome: NoticeOutcome) -> None:
        if self._metrics is not None:
            self._metrics.notice(scheme, outcome)

    def _end(
        self,
        notice_id: int,
        outcome: NoticeOutcome,
        *,
        scheme: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Count a claimed notice's end; a sent one's latency (to ``now``) too."""
        self._failed_at.pop(notice_id, None)
        tracked = self._tracked.pop(notice_id, None)
        if self._metrics is None:
            return
        self._metrics.notice(scheme or (tracked.scheme if tracked else ""), outcome)
        if now is not None and tracked is not None:
            self._metrics.notice_latency(max((now - tracked.since).total_seconds(), 0.0))

    def _log_end(self, notice_id: int, outcome: str, **fields: object) -> None:
        claimed = self._claimed.pop(notice_id, None)
        self._log.info(
            f"notice_{outcome}",
            notice_id=notice_id,
            contact=claimed.contact_ref if claimed else None,
            incident_event=str(claimed.event) if claimed else None,
            **fields,
        )

    def _mark(self, notice_id: int, state: NoticeState, now: datetime, **values: Any) -> Callable[[], object]:
        return partial(self._store.mark_notice, notice_id, state, now=now, holder=self._holder, **values)

    async def mark_sent(
        self, notice_id: int, channel_ref: str, now: datetime, *, public_ref: str | None = None
    ) -> None:
        attempt = (notice_id, now, channel_ref, DeliveryOutcome.sent, None)
        await self._write("mark_sent", notice_id, _Sent(self._store, self._holder, attempt, public_ref))
        channel = self._attempted(notice_id, channel_ref, ok=True, error="")
        self._claimed.pop(notice_id, None)  # the attempt's line said it all
        if channel is not None and self._failing:  # one of its servers may be back: see _note_server
            await self._note_server(notice_id, channel, ok=True, attempted_at=now)
        self._end(notice_id, NoticeOutcome.sent, scheme=self._scheme_of(channel_ref), now=now)

    async def mark_failed(self, notice_id: int, why: SetAside, now: datetime) -> None:
        await self._write(
            "mark_failed", notice_id, self._mark(notice_id, NoticeState.failed, now, error=why.detail)
        )
        self._log_end(notice_id, "failed", reason=str(why.reason), detail=why.detail)
        self._end(notice_id, NoticeOutcome.failed)

    async def mark_skipped(self, notice_id: int, why: SetAside, now: datetime) -> None:
        await self._write(
            "mark_skipped", notice_id, self._mark(notice_id, NoticeState.skipped, now, error=why.detail)
        )
        self._log_end(notice_id, "skipped", reason=str(why.reason), detail=why.detail)
        # a dry run is a deliberate silence; otherwise no channel was eligible
        if why.reason is SetAsideReason.dry_run:
            self._end(notice_id, NoticeOutcome.silenced, scheme=self._scheme_of(why.channel_ref) or None)
        else:
            self._end(notice_id, NoticeOutcome.skipped)

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, cursor: ChannelCursor, last_error: str
    ) -> None:
        claimed = self._claimed.get(notice_id)
        refs = claimed.channel_refs if claimed is not None else ()
        at = refs[cursor.index] if cursor.index < len(refs) else None
        failed_at = self._failed_at.pop(notice_id, None)
        channel = self._channels().get(at) if at is not None else None
        server = self._server_of(channel) if channel is not None else None
        back_already = self._back_since(server, failed_at)
        if back_already:
            # its server came back while this failure was being recorded: the notices
            # waiting on it were brought forward, and this one is too
            next_attempt_at = min(next_attempt_at, self._clock())
        mark = self._mark(
            notice_id,
            NoticeState.pending,
            self._clock(),
            error=last_error,
            retry_at=next_attempt_at,
            cursor=(at, cursor.tries),
        )
        await self._write("reschedule", notice_id, mark)
        self._claimed.pop(notice_id, None)
        if at is not None and not back_already and self._back_since(server, failed_at):
            # ... or came back while it was being written, after the others were brought forward
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self._store.hasten_notices, [at], now=self._clock())
        self._tracked.pop(notice_id, None)  # claimed again when due, and tracked afresh

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None:
        outcome = DeliveryOutcome.sent if ok else DeliveryOutcome.failed
        record = _Attempt(self._store, (notice_id, now, channel_ref, outcome, error or None))
        await self._write("record_attempt", notice_id, record)
        channel = self._attempted(notice_id, channel_ref, ok=ok, error=error)
        claimed = self._claimed.get(notice_id)
        if claimed is not None:  # a fall-over makes several attempts in one claim
            self._claimed[notice_id] = replace(claimed, attempts=claimed.attempts + 1)
        if channel is not None and (not ok or self._failing):
            await self._note_server(notice_id, channel, ok, now)

    def _attempted(self, notice_id: int, channel_ref: str, *, ok: bool, error: str) -> Channel | None:
        """A recorded attempt, as the metrics and the log see it: one line per attempt,
        never the URL, the address or the text. Returns its channel."""
        claimed = self._claimed.get(notice_id)
        channel = self._channels().get(channel_ref)
        scheme = channel_scheme(channel.url) if channel is not None else ""
        tracked = self._tracked.get(notice_id)
        if tracked is not None and channel is not None:
            tracked.scheme = scheme  # a failure counts against the last one tried
        self._log.info(
            "notice_delivery",
            notice_id=notice_id,
            contact=claimed.contact_ref if claimed else None,
            incident_event=str(claimed.event) if claimed else None,
            channel=channel_ref,
            scheme=scheme,
            outcome="sent" if ok else "failed",
            attempt=(claimed.attempts + 1) if claimed else None,
            error=error or None,
        )
        return channel

    def _server_of(self, channel: Channel) -> _Server:
        server = self._servers.get(channel.url)
        if server is None:
            if len(self._servers) >= _SERVERS_KEPT:
                self._servers.clear()  # an address book's URLs are many, their servers few
            server = self._servers[channel.url] = _server(channel)
        return server

    def _back_since(self, server: _Server | None, failed_at: datetime | None) -> bool:
        """Whether ``server`` was found answering again by an attempt made after ``failed_at``."""
        if server is None or failed_at is None:
            return False
        found_back = self._hastened_when.get(server)
        return found_back is not None and found_back >= failed_at

    async def _note_server(self, notice_id: int, channel: Channel, ok: bool, attempted_at: datetime) -> None:
        """A server that failed and now takes a message again: the notices waiting for a
        retry on its channels need not wait out their backoff (a fan-out drains as soon
        as a mail server is back, not a backoff later)."""
        server = self._server_of(channel)
        if not ok:
            self._failing.add(server)
            self._failing_refs.setdefault(server, set()).add(channel.ref)
            self._failed_at[notice_id] = attempted_at
            return
        if server not in self._failing:
            return
        moment = asyncio.get_running_loop().time()
        if moment - self._hastened_at.get(server, -HASTEN_EVERY_S) < HASTEN_EVERY_S:
            return  # it flaps: the next success after the pause hastens them
        self._failing.discard(server)
        self._hastened_at[server] = moment
        self._hastened_when[server] = attempted_at
        # the channels that failed on this server: the notices waiting on them
        refs = sorted(self._failing_refs.pop(server, ()))
        try:
            hastened = await asyncio.to_thread(self._store.hasten_notices, refs, now=self._clock())
        except StoreError as exc:
            self._log.warning("notices_not_hastened", scheme=server[0], error=str(exc))
            return
        if hastened:
            self._log.info("notices_hastened", scheme=server[0], notices=hastened)
            self._on_hastened()


#: a channel's server, as far as its URL tells: scheme, host, port (kept in memory only)
_Server = tuple[str, str, int | None]
#: channel URLs whose server is remembered at once
_SERVERS_KEPT = 4096


def _server(channel: Channel) -> _Server:
    parts = urlsplit(channel.url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (channel_scheme(channel.url), (parts.hostname or "").lower(), port)
