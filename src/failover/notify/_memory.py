"""An outbox in memory: the :class:`Outbox` port without a database, for tests,
benchmarks and ``--dry-run`` demos. It keeps the same promises as the store's:
a key is enqueued once, a notice is claimed by one dispatcher at a time."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from failover.domain import IncidentEvent, NoticeState, Visibility
from failover.notify._dispatch import ChannelCursor, ClaimedNotice, SetAside
from failover.notify._render import RenderedNotice

__all__ = ["DeliveryAttempt", "MemoryOutbox", "NoticeRecord"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryAttempt:
    notice_id: int
    channel_ref: str
    ok: bool
    error: str
    at: datetime


@dataclass(kw_only=True, slots=True)
class NoticeRecord:
    """A notice as the memory outbox holds it."""

    notice: ClaimedNotice
    state: NoticeState
    next_attempt_at: datetime
    channel_ref: str | None = None
    #: what the channel named the post it made (a Mastodon status's id), if sent
    public_ref: str | None = None
    #: why it ended unsent, if it did
    why: SetAside | None = None
    finished_at: datetime | None = None
    deliveries: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """Why it ended unsent, for people (``""`` if sent or not ended)."""
        return self.why.detail if self.why is not None else ""


class MemoryOutbox:
    """The outbox port in memory (not shared between processes, lost on exit)."""

    def __init__(self) -> None:
        self._records: dict[int, NoticeRecord] = {}
        self._by_key: dict[str, int] = {}
        self._due: list[tuple[datetime, int, int]] = []  # (due, sequence, id)
        self._ids = itertools.count(1)
        self._sequence = itertools.count()

    def enqueue(
        self,
        *,
        key: str,
        incident_key: str,
        event: IncidentEvent,
        contact_ref: str,
        channel_refs: Iterable[str],
        visibility: Visibility,
        notice: RenderedNotice,
        now: datetime,
        down_platforms: Iterable[str] = (),
    ) -> int:
        """Add a pending notice due at ``now``; a key already present is not added twice."""
        existing = self._by_key.get(key)
        if existing is not None:
            return existing
        notice_id = next(self._ids)
        claimed = ClaimedNotice(
            id=notice_id,
            key=key,
            incident_key=incident_key,
            event=event,
            contact_ref=contact_ref,
            channel_refs=tuple(channel_refs),
            visibility=visibility,
            notice=notice,
            down_platforms=frozenset(down_platforms),
            due_since=now,
        )
        self._records[notice_id] = NoticeRecord(
            notice=claimed, state=NoticeState.pending, next_attempt_at=now
        )
        self._by_key[key] = notice_id
        heapq.heappush(self._due, (now, next(self._sequence), notice_id))
        return notice_id

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[NoticeRecord]:
        return iter(self._records.values())

    def get(self, notice_id: int) -> NoticeRecord:
        return self._records[notice_id]

    def in_state(self, state: NoticeState) -> list[NoticeRecord]:
        return [record for record in self._records.values() if record.state is state]

    async def claim(self, now: datetime, limit: int) -> list[ClaimedNotice]:
        claimed: list[ClaimedNotice] = []
        while self._due and len(claimed) < limit and self._due[0][0] <= now:
            due, _, notice_id = heapq.heappop(self._due)
            record = self._records[notice_id]
            if record.state is not NoticeState.pending or record.next_attempt_at != due:
                continue  # a stale entry: finished or rescheduled since
            record.state = NoticeState.sending
            claimed.append(record.notice)
        return claimed

    def _finish(
        self, notice_id: int, state: NoticeState, why: SetAside | None, now: datetime
    ) -> NoticeRecord:
        record = self._records[notice_id]
        if record.state is not NoticeState.sending:
            raise ValueError(f"notice {notice_id} is {record.state}, not sending")
        record.state = state
        record.why = why
        record.finished_at = now
        return record

    async def mark_sent(
        self, notice_id: int, channel_ref: str, now: datetime, *, public_ref: str | None = None
    ) -> None:
        record = self._finish(notice_id, NoticeState.sent, None, now)
        await self.record_attempt(notice_id, channel_ref, ok=True, error="", now=now)
        record.channel_ref = channel_ref
        record.public_ref = public_ref

    async def mark_failed(self, notice_id: int, why: SetAside, now: datetime) -> None:
        self._finish(notice_id, NoticeState.failed, why, now)

    async def mark_skipped(self, notice_id: int, why: SetAside, now: datetime) -> None:
        self._finish(notice_id, NoticeState.skipped, why, now)

    async def reschedule(
        self, notice_id: int, next_attempt_at: datetime, cursor: ChannelCursor, last_error: str
    ) -> None:
        record = self._records[notice_id]
        if record.state is not NoticeState.sending:
            raise ValueError(f"notice {notice_id} is {record.state}, not sending")
        record.state = NoticeState.pending
        record.next_attempt_at = next_attempt_at
        record.notice = replace(record.notice, cursor=cursor, last_error=last_error)
        heapq.heappush(self._due, (next_attempt_at, next(self._sequence), notice_id))

    async def record_attempt(
        self, notice_id: int, channel_ref: str, ok: bool, error: str, now: datetime
    ) -> None:
        record = self._records[notice_id]
        record.deliveries.append(
            DeliveryAttempt(notice_id=notice_id, channel_ref=channel_ref, ok=ok, error=error, at=now)
        )
        record.notice = replace(record.notice, attempts=record.notice.attempts + 1)
