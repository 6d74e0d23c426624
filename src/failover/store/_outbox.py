"""The notice outbox: drafts queued, claims (by conditional update, with leases that their
dispatcher renews or that run out), notices moved on, delivery attempts counted, and the
outbox's busiest statements, built once."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, case, exists, func, or_, select, text, update
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.selectable import Select

from failover.domain import Approval, IncidentEvent, NoticeState
from failover.errors import StoreError
from failover.store import _schema as t
from failover.store._engine import scrub
from failover.store._rows import Rows, in_chunks
from failover.store._values import Claims, DeliveryOutcome, Notice, NoticeDraft

__all__ = ["CLAIM_LEASE", "OutboxRows"]

#: how long a claim on a notice lasts unless its dispatcher renews it
CLAIM_LEASE = timedelta(seconds=60)

#: the partial index's predicate, spelled exactly so SQLite's planner recognises it
_UNFINISHED = text("notices.state IN ('pending', 'sending')")

#: from which states ``mark_notice`` may move a notice to each state
_MARK_FROM: Mapping[NoticeState, tuple[NoticeState, ...]] = {
    NoticeState.pending: (NoticeState.sending,),
    NoticeState.sent: (NoticeState.sending,),
    NoticeState.failed: (NoticeState.pending, NoticeState.sending),
    NoticeState.skipped: (NoticeState.pending, NoticeState.sending),
    NoticeState.silenced: (NoticeState.pending, NoticeState.sending),
    NoticeState.cancelled: (NoticeState.pending,),
}


class OutboxRows(Rows):
    """The notice outbox (mixed into :class:`~failover.store.Store`)."""

    # -- the outbox ------------------------------------------------------------------------

    def claim_notices(
        self, *, now: datetime, limit: int = 20, holder: str | None = None, lease: timedelta = CLAIM_LEASE
    ) -> list[Notice]:
        """Claim up to ``limit`` due notices for sending (``pending → sending``), oldest due
        first, for ``holder`` (a dispatcher's identity, its own: two claims of one holder
        must not run at once) until ``now + lease``. Each claim is a conditional update, so
        two dispatchers never get the same notice: the loser's update finds the state no
        longer ``pending``."""
        n = t.notices.c
        with self._translate("cannot claim notices"), self._write() as conn:
            due = conn.execute(_due_statement(), {"c_now": now, "c_limit": limit}).scalars().all()
            if not due:
                return []
            claim = {"c_ids": due, "c_now": now, "c_holder": holder, "c_until": now + lease}
            if holder is not None:
                # one statement for the batch; the notices it moved are those now held by
                # ``holder`` (a concurrent claim that won a row left it out of the update)
                conn.execute(_claim_statement(), claim)
                return [_notice(row) for row in conn.execute(_held_statement(), claim).mappings()]
            claimed: list[int] = []
            for notice_id in due:
                result = conn.execute(_claim_statement(), {**claim, "c_ids": [notice_id]})
                if result.rowcount == 1:
                    claimed.append(notice_id)
            return self._notices_where(conn, n.id.in_(claimed)) if claimed else []

    def mark_notice(
        self,
        notice_id: int,
        state: NoticeState,
        *,
        now: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
        attempts: int | None = None,
        holder: str | None = None,
        cursor: tuple[str | None, int] | None = None,
        public_ref: str | None = None,
    ) -> bool:
        """Move a notice on: ``sent``; back to ``pending`` until ``retry_at``; or ``failed``,
        ``skipped``, ``silenced``, ``cancelled``. Returns whether the notice was in a state
        it may leave that way (a cancelled notice is not then marked sent, for instance).
        ``error`` is stored short and without anything that looks like a URL. ``attempts``
        replaces the notice's count (a dispatcher that falls over to the next channel counts
        the unused tries of the last one as spent). With ``holder``, a notice in ``sending``
        moves only while that dispatcher holds its claim (one whose claim was taken back
        changes nothing). ``cursor`` (a channel reference and the tries made on it) is where
        delivery stands, kept with a notice put back to ``pending``. ``public_ref`` is what
        the channel named the post a ``sent`` notice made (a Mastodon status's id)."""
        allowed = _MARK_FROM.get(state)
        if allowed is None:
            raise ValueError(f"a notice is moved to {state} by claim_notices, not mark_notice")
        if state is NoticeState.pending and retry_at is None:
            raise ValueError("a notice put back to pending needs retry_at")
        values: dict[str, Any] = {"state": state.value, "lease_until": None}
        if state is NoticeState.pending:
            values |= {"next_attempt_at": retry_at, "claimed_at": None, "claimed_by": None}
            if cursor is not None:
                values |= {"cursor_ref": cursor[0], "cursor_tries": cursor[1]}
        if state is NoticeState.sent:
            values["sent_at"] = now
            if public_ref:
                values["public_ref"] = public_ref[:100]
        if error is not None:
            values["last_error"] = scrub(error, t.ERROR_MAX)
        if attempts is not None:
            values["attempts"] = attempts
        statement = _mark_statement(state, tuple(sorted(values)), holder=holder is not None)
        parameters = {f"m_{key}": value for key, value in values.items()}
        parameters["m_id"] = notice_id
        if holder is not None:
            parameters["m_holder"] = holder
        with self._translate("cannot update a notice"), self._write() as conn:
            result = conn.execute(statement, parameters)
            return bool(result.rowcount == 1)

    def mark_notices_sent(
        self, sent: Sequence[tuple[int, datetime, str | None]], *, holder: str
    ) -> list[bool]:
        """:meth:`mark_notice` to ``sent`` for several notices (id, time sent, ``public_ref``)
        that ``holder`` delivered, in one transaction and one statement: whether each was
        still held, and so marked (one whose claim was taken back changes nothing)."""
        if not sent:
            return []
        ids = [notice_id for notice_id, _, _ in sent]
        with self._translate("cannot update a notice"), self._write() as conn:
            # the held ones, locked until the commit (PostgreSQL; SQLite's write transaction
            # already keeps every other writer out), so that the update below finds them held
            held = {
                row.id
                for chunk in in_chunks(ids)
                for row in conn.execute(_held_ids_statement(), {"c_ids": chunk, "c_holder": holder})
            }
            rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
            for notice_id, at, public_ref in sent:
                if notice_id in held:
                    row = {"m_id": notice_id, "m_holder": holder, "m_sent_at": at, **_SENT_VALUES}
                    if public_ref:
                        row["m_public_ref"] = public_ref[:100]
                    rows[bool(public_ref)].append(row)
            for with_public_ref, shaped in rows.items():
                if shaped:
                    keys = (*_SENT_KEYS, "public_ref") if with_public_ref else _SENT_KEYS
                    conn.execute(_mark_statement(NoticeState.sent, tuple(sorted(keys)), holder=True), shaped)
        return [notice_id in held for notice_id in ids]

    def record_delivery(
        self,
        notice_id: int,
        *,
        at: datetime,
        channel_ref: str,
        outcome: DeliveryOutcome,
        error: str | None = None,
    ) -> None:
        """Log one delivery attempt and count it on its notice (with the channel used and
        the error, kept short and URL-free)."""
        self.record_deliveries([(notice_id, at, channel_ref, outcome, error)])

    def record_deliveries(
        self, attempts: Sequence[tuple[int, datetime, str, DeliveryOutcome, str | None]]
    ) -> None:
        """:meth:`record_delivery` for several attempts (notice id, time, channel reference,
        outcome, error), in one transaction and one statement of each kind."""
        deliveries: list[dict[str, Any]] = []
        counted: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for notice_id, at, channel_ref, outcome, error in attempts:
            if "://" in channel_ref:
                raise ValueError("channel_ref must be a stable reference, never a URL")
            short_error = scrub(error, t.ERROR_MAX)
            deliveries.append(
                {
                    "notice_id": notice_id,
                    "at": at,
                    "channel_ref": channel_ref,
                    "outcome": outcome.value,
                    "error": short_error,
                }
            )
            counted[short_error is not None].append(
                {"d_id": notice_id, "d_ref": channel_ref, "d_error": short_error}
            )
        if not deliveries:
            return
        with self._translate("cannot record a delivery"), self._write() as conn:
            conn.execute(_insert_delivery(), deliveries)
            for with_error, rows in counted.items():
                if rows:
                    conn.execute(_count_attempt(with_error=with_error), rows)

    def deliveries(self, notice_id: int) -> list[tuple[datetime, str, DeliveryOutcome, str | None]]:
        """A notice's delivery attempts: time, channel reference, outcome, error."""
        d = t.deliveries.c
        query = select(d.at, d.channel_ref, d.outcome, d.error).where(d.notice_id == notice_id).order_by(d.id)
        with self._translate("cannot read deliveries"), self._engine.connect() as conn:
            return [(at, ref, DeliveryOutcome(outcome), err) for at, ref, outcome, err in conn.execute(query)]

    def renew_claims(self, holder: str, notice_ids: Sequence[int], *, until: datetime) -> int:
        """Extend ``holder``'s claims on these notices to ``until`` (deliveries that take
        long: a slow server, a rate limit, a database that was away); returns how many it
        still held."""
        if not notice_ids:
            return 0
        n = t.notices.c
        renewed = 0
        with self._translate("cannot renew claims"), self._write() as conn:
            for chunk in in_chunks(notice_ids):
                result = conn.execute(
                    update(t.notices)
                    .where(n.id.in_(chunk), n.state == NoticeState.sending.value, n.claimed_by == holder)
                    .values(lease_until=until)
                )
                renewed += int(result.rowcount)
        return renewed

    def release_claims(
        self, holder: str | None, notice_ids: Sequence[int] | None = None, *, keep: Sequence[int] = ()
    ) -> int:
        """Hand back claims of ``holder`` (on these notices, or all of them but those in
        ``keep``) untouched: ``sending → pending``, due as they were. For a dispatcher that
        could not go on with what it claimed, or one that died (``holder`` None: claims
        without a holder). Returns how many."""
        n = t.notices.c
        owned = n.claimed_by.is_(None) if holder is None else n.claimed_by == holder
        released = 0
        values = {"state": NoticeState.pending.value, "claimed_at": None, "claimed_by": None}
        with self._translate("cannot release claims"), self._write() as conn:
            chunks: list[Sequence[int] | None] = [None] if notice_ids is None else list(in_chunks(notice_ids))
            for chunk in chunks:
                statement = update(t.notices).where(_UNFINISHED, n.state == NoticeState.sending.value, owned)
                if chunk is not None:
                    statement = statement.where(n.id.in_(chunk))
                if keep:
                    statement = statement.where(n.id.not_in(keep))
                result = conn.execute(statement.values(lease_until=None, **values))
                released += int(result.rowcount)
        return released

    def release_expired_claims(self, *, now: datetime, sparing: str | None = None) -> int:
        """Take back every claim whose lease ran out before ``now`` (its dispatcher stopped
        renewing it: it died, or lost the database for longer than a lease), and those
        without a lease (claimed by an older version), but those of ``sparing`` (the caller:
        it renews what it still delivers); returns how many."""
        n = t.notices.c
        statement = update(t.notices).where(
            _UNFINISHED,
            n.state == NoticeState.sending.value,
            or_(n.lease_until.is_(None), n.lease_until < now),
        )
        if sparing is not None:
            statement = statement.where(or_(n.claimed_by.is_(None), n.claimed_by != sparing))
        with self._translate("cannot release claims"), self._write() as conn:
            result = conn.execute(
                statement.values(
                    state=NoticeState.pending.value, claimed_at=None, claimed_by=None, lease_until=None
                )
            )
            return int(result.rowcount)

    def claims(self, *, now: datetime) -> list[Claims]:
        """Who holds notices in ``sending``: per holder, how many, and how many of those
        claims ran out by ``now``. A read: the upkeep of claims looks before it writes."""
        n = t.notices.c
        expired = or_(n.lease_until.is_(None), n.lease_until < now)
        query = (
            select(n.claimed_by, func.count(), func.sum(case((expired, 1), else_=0)))
            .where(_UNFINISHED, n.state == NoticeState.sending.value)
            .group_by(n.claimed_by)
            .order_by(n.claimed_by)
        )
        with self._translate("cannot read claims"), self._engine.connect() as conn:
            return [
                Claims(holder=holder, notices=int(count), expired=int(late or 0))
                for holder, count, late in conn.execute(query)
            ]

    def hasten_notices(self, cursor_refs: Sequence[str], *, now: datetime) -> int:
        """Make the notices waiting for a retry on one of these channels due at ``now``
        (their server answers again); returns how many."""
        n = t.notices.c
        hastened = 0
        with self._translate("cannot hasten notices"), self._write() as conn:
            for chunk in in_chunks(cursor_refs):
                result = conn.execute(
                    update(t.notices)
                    .where(
                        _UNFINISHED,
                        n.state == NoticeState.pending.value,
                        n.next_attempt_at > now,
                        n.cursor_ref.in_(chunk),
                    )
                    .values(next_attempt_at=now)
                )
                hastened += int(result.rowcount)
        return hastened

    def notice_recipients(self, incident_id: int, event: IncidentEvent) -> set[str]:
        """Who an incident's notices of ``event`` were queued for (their ``contact_ref``),
        whatever became of them."""
        n = t.notices.c
        query = select(n.contact_ref).where(n.incident_id == incident_id, n.event == event.value).distinct()
        with self._translate("cannot read notices"), self._engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def cancel_notices(self, incident_id: int) -> int:
        """Cancel an incident's notices still waiting (e.g. within a manual failover's hold)."""
        n = t.notices.c
        with self._translate("cannot cancel notices"), self._write() as conn:
            result = conn.execute(
                update(t.notices)
                .where(n.incident_id == incident_id, n.state == NoticeState.pending.value)
                .values(state=NoticeState.cancelled.value)
            )
            return int(result.rowcount)

    def notices(self, incident_id: int) -> list[Notice]:
        """An incident's notices, in the order they were queued."""
        with self._translate("cannot read notices"), self._engine.connect() as conn:
            return self._notices_where(conn, t.notices.c.incident_id == incident_id)

    def outbox_counts(self) -> dict[NoticeState, int]:
        """How many notices are in each state (every state present, zero included)."""
        n = t.notices.c
        with self._translate("cannot count notices"), self._engine.connect() as conn:
            rows = conn.execute(select(n.state, func.count()).group_by(n.state))
            found = {NoticeState(state): int(count) for state, count in rows}
        return {state: found.get(state, 0) for state in NoticeState}

    def _notices_where(self, conn: Connection, where: Any) -> list[Notice]:
        n = t.notices.c
        query = (
            select(t.notices, t.incidents.c.key.label("incident_key"))
            .join(t.incidents, t.incidents.c.id == n.incident_id)
            .where(where)
            .order_by(n.id)
        )
        return [_notice(row) for row in conn.execute(query).mappings()]

    def _queue_notices(
        self, conn: Connection, at: datetime, drafts: Sequence[NoticeDraft], ids: dict[str, int]
    ) -> None:
        unknown = {d.incident_key for d in drafts} - set(ids)
        if unknown:
            rows = conn.execute(
                select(t.incidents.c.key, t.incidents.c.id).where(t.incidents.c.key.in_(sorted(unknown)))
            )
            known = dict(rows.all())
            missing = unknown - set(known)
            if missing:
                raise StoreError(f"cannot queue notices: no incident with key {sorted(missing)[0]!r}")
            ids = {**ids, **known}
        rows_to_insert = [
            {
                "incident_id": ids[d.incident_key],
                "event": d.event.value,
                "event_key": d.event_key or f"{d.incident_key}/{d.event}",
                "contact_ref": d.contact_ref,
                "channel_ref": d.channel_ref,
                "template": d.template,
                "language": d.language,
                "state": NoticeState.silenced.value if d.silenced_by else NoticeState.pending.value,
                "last_error": scrub(d.silenced_by, t.ERROR_MAX),
                "message": d.message,
                "attempts": 0,
                "created_at": at,
                "not_before": d.not_before,
                "next_attempt_at": max(at, d.not_before) if d.not_before else at,
                "idempotency_key": d.idempotency_key,
            }
            for d in drafts
        ]
        conn.execute(
            self._insert(t.notices).on_conflict_do_nothing(index_elements=[t.notices.c.idempotency_key]),
            rows_to_insert,
        )


# The outbox's busiest statements, built once: a fan-out runs three of them per notice, and
# building one (its clauses, then its cache key) cost four times what executing it does.


@functools.cache
def _mark_statement(state: NoticeState, keys: tuple[str, ...], *, holder: bool) -> Update:
    """``mark_notice``'s UPDATE for one shape: the columns it sets (bound as ``m_<column>``),
    the notice (``m_id``) and, with ``holder``, the dispatcher that must hold its claim
    (``m_holder``)."""
    n = t.notices.c
    where = [n.id == bindparam("m_id"), n.state.in_([s.value for s in _MARK_FROM[state]])]
    if holder:
        where.append(or_(n.state != NoticeState.sending.value, n.claimed_by == bindparam("m_holder")))
    return update(t.notices).where(*where).values({key: bindparam(f"m_{key}") for key in keys})


#: what mark_notice sets on a notice it marks sent, bound as mark_notice binds it
_SENT_VALUES = {"m_state": NoticeState.sent.value, "m_lease_until": None}
_SENT_KEYS = ("lease_until", "sent_at", "state")


@functools.cache
def _held_ids_statement() -> Select[Any]:
    """The ids of the notices of ``c_ids`` that ``c_holder`` holds, locked for update."""
    n = t.notices.c
    return (
        select(n.id)
        .where(
            n.id.in_(bindparam("c_ids", expanding=True)),
            n.state == NoticeState.sending.value,
            n.claimed_by == bindparam("c_holder"),
        )
        .with_for_update()
    )


@functools.cache
def _due_statement() -> Select[Any]:
    """The due notices' ids, oldest due first (``c_now``, at most ``c_limit``); those of an
    incident awaiting a second operator's approval are never due. On PostgreSQL the rows
    are locked, and those another dispatcher is claiming skipped: two dispatchers claiming
    at once take different notices, where the second would find the first's taken and
    believe nothing more was due (SQLite lets one writer in at a time)."""
    n = t.notices.c
    awaiting = exists().where(
        t.incidents.c.id == n.incident_id, t.incidents.c.approval == Approval.awaiting.value
    )
    return (
        select(n.id)
        .where(
            _UNFINISHED,
            n.state == NoticeState.pending.value,
            n.next_attempt_at <= bindparam("c_now"),
            ~awaiting,
        )
        .order_by(n.next_attempt_at, n.id)
        .limit(bindparam("c_limit"))
        .with_for_update(of=t.notices, skip_locked=True)
    )


@functools.cache
def _claim_statement() -> Update:
    """The notices ``c_ids`` still pending, claimed by ``c_holder`` at ``c_now`` until ``c_until``."""
    n = t.notices.c
    return (
        update(t.notices)
        .where(n.id.in_(bindparam("c_ids", expanding=True)), n.state == NoticeState.pending.value)
        .values(
            state=NoticeState.sending.value,
            claimed_at=bindparam("c_now"),
            claimed_by=bindparam("c_holder"),
            lease_until=bindparam("c_until"),
        )
    )


@functools.cache
def _held_statement() -> Select[Any]:
    """The notices of ``c_ids`` that ``c_holder`` holds, with their incident's key."""
    n = t.notices.c
    return (
        select(t.notices, t.incidents.c.key.label("incident_key"))
        .join(t.incidents, t.incidents.c.id == n.incident_id)
        .where(
            n.id.in_(bindparam("c_ids", expanding=True)),
            n.state == NoticeState.sending.value,
            n.claimed_by == bindparam("c_holder"),
        )
        .order_by(n.id)
    )


@functools.cache
def _insert_delivery() -> Insert:
    return t.deliveries.insert()


@functools.cache
def _count_attempt(*, with_error: bool) -> Update:
    """A delivery attempt counted on its notice (``d_id``): the channel used (``d_ref``) and,
    ``with_error``, the error (``d_error``)."""
    n = t.notices.c
    values: dict[str, Any] = {"attempts": n.attempts + 1, "channel_ref": bindparam("d_ref")}
    if with_error:
        values["last_error"] = bindparam("d_error")
    return update(t.notices).where(n.id == bindparam("d_id")).values(values)


def _notice(row: RowMapping) -> Notice:
    return Notice(
        id=int(row["id"]),
        incident_id=int(row["incident_id"]),
        incident_key=row["incident_key"],
        event=IncidentEvent(row["event"]),
        event_key=row["event_key"],
        contact_ref=row["contact_ref"],
        channel_ref=row["channel_ref"],
        template=row["template"],
        language=row["language"],
        state=NoticeState(row["state"]),
        attempts=int(row["attempts"]),
        created_at=row["created_at"],
        not_before=row["not_before"],
        next_attempt_at=row["next_attempt_at"],
        claimed_at=row["claimed_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        idempotency_key=row["idempotency_key"],
        message=row["message"],
        claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
        cursor_ref=row["cursor_ref"],
        cursor_tries=int(row["cursor_tries"] or 0),
        public_ref=row["public_ref"],
    )
