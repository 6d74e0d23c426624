"""The store: every read and write of failover's database."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    String,
    and_,
    bindparam,
    case,
    column,
    delete,
    exists,
    func,
    inspect,
    make_url,
    null,
    or_,
    select,
    text,
    true,
    update,
    values,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.schema import Table
from sqlalchemy.sql.selectable import Select

from failover.domain import (
    Approval,
    CheckKind,
    CheckRole,
    Health,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Observation,
    Outcome,
    Platform,
    Transition,
)
from failover.errors import AlreadyRunningError, StoreError
from failover.store import _schema as t
from failover.store._contacts import ContactRows
from failover.store._engine import SQLITE_BUSY_TIMEOUT_MS, WRITE, connect, scrub, translate_errors
from failover.store._migrate import upgrade_to_head
from failover.store._rollup import HOUR, aggregate, floor_hour
from failover.store._types import UTCDateTime
from failover.store._values import (
    ActionKind,
    Claims,
    ConnectivityEvent,
    ConnectivityEventKind,
    DeliveryOutcome,
    HourlyRollup,
    IncidentAction,
    JournalEntry,
    Notice,
    NoticeDraft,
    NoticeState,
    PruneReport,
    Silence,
)

__all__ = ["CLAIM_LEASE", "NOTE_PREFIX", "Store"]

#: how long a claim on a notice lasts unless its dispatcher renews it
CLAIM_LEASE = timedelta(seconds=60)
#: values per ``IN (…)`` list: well under every backend's limit on bound parameters
_CHUNK = 500
#: incidents.id is an INTEGER, 32 bits in PostgreSQL: no incident has a larger number
_MAX_INCIDENT_ID = 2**31 - 1
_Item = TypeVar("_Item")

#: Evidence lines that start with this are notes added by :meth:`Store.note_incident` (an
#: alert or an operator's trigger attached to the incident): history, which a later rewrite
#: of the incident's evidence (the judge's) keeps.
NOTE_PREFIX = "note: "

_OBSERVATION_COLUMNS = (
    "at",
    "target",
    "check_name",
    "kind",
    "role",
    "outcome",
    "latency_s",
    "detail",
    "is_control",
)
_NAIVE = "naive datetime: the store only accepts timezone-aware UTC times"


def _insert_observations(placeholder: str) -> str:
    columns = ", ".join(_OBSERVATION_COLUMNS)
    values = ", ".join([placeholder] * len(_OBSERVATION_COLUMNS))
    return f"INSERT INTO observations ({columns}) VALUES ({values})"  # noqa: S608 -- constant names only


if TYPE_CHECKING:
    # the PostgreSQL dialect is imported only by a store on PostgreSQL: a SQLite daemon
    # would carry its modules (about 2.5 MiB resident) for nothing
    from sqlalchemy.dialects import postgresql

    _Insert = sqlite.Insert | postgresql.Insert

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


class Store(ContactRows):
    """failover's database: SQLite (WAL) or PostgreSQL, schema managed by Alembic.

    Build it with :meth:`open` (which owns and finally disposes the engine) or pass an engine
    configured alike. Every method is one transaction; every time is timezone-aware UTC and
    the store never reads the clock: callers pass ``now``/``at``. Library errors surface as
    :class:`~failover.errors.StoreError`, whose message never carries the URL's password.
    """

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        # SQLite lets one writer in at a time, and a second one waits in SQLite's busy
        # handler, which sleeps 1, 2, 5 … 100 ms between tries: the threads of a fan-out,
        # writing each delivery as it ends, spent most of their time asleep there. Threads
        # of this process queue on a lock instead, woken as soon as the writer before them
        # commits; other processes still meet the busy timeout.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        #: the transaction of this thread's :meth:`batch`, if one is open
        self._batch = threading.local()
        self._owns_engine = owns_engine
        self._password = engine.url.password if isinstance(engine.url.password, str) else None
        self._closed = False
        if engine.dialect.name == "postgresql":
            t.declare_postgresql_options()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes this thread makes inside, in one transaction: committed together at
        the end, or none of them if one raises. A fan-out settles the deliveries that ended
        meanwhile this way, one commit for many (nested, it is the outer one's)."""
        if getattr(self._batch, "conn", None) is not None:
            yield
            return
        with self._translate("cannot write"), self._write() as conn:
            self._batch.conn = conn
            try:
                yield
            finally:
                self._batch.conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), one at a time per store on
        SQLite; waiting for the lock is bounded as SQLite's own wait is (the busy timeout).
        Inside :meth:`batch`, the batch's."""
        batched: Connection | None = getattr(self._batch, "conn", None)
        if batched is not None:
            yield batched
            return
        lock = self._write_lock
        if lock is None:
            with self._writer.begin() as conn:
                yield conn
            return
        if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            waited = SQLITE_BUSY_TIMEOUT_MS // 1000
            raise StoreError(f"database is locked (waited {waited} s behind another write of this process)")
        try:
            with self._writer.begin() as conn:
                yield conn
        finally:
            lock.release()

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

        SQLite gets WAL, a 5 s busy timeout, foreign keys and incremental auto-vacuum, and
        the file's directory is created. The schema is not touched: call :meth:`upgrade`.
        """
        return cls(connect(url).engine, owns_engine=True)

    @staticmethod
    def shown_url(url: str) -> str:
        """``url`` as the store shows it (password hidden)."""
        try:
            return make_url(url).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            return "an invalid database URL"

    @classmethod
    def open_existing(cls, url: str, *, table: str) -> Store | None:
        """The database at ``url`` if it exists and holds ``table``; else None, and nothing
        is created (a SQLite file, its directory)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                return None
            if not Path(database).is_file():
                return None
        store = cls.open(url)
        try:
            with store._translate("cannot read the database"):
                present = inspect(store._engine).has_table(table)
        except BaseException:
            store.close()
            raise
        if not present:
            store.close()
            return None
        return store

    @property
    def url(self) -> str:
        """Where the store points, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision; does nothing when it is current."""
        with self._translate("cannot migrate the database"), self._write() as conn:
            upgrade_to_head(conn)

    def close(self) -> None:
        if not self._closed and self._owns_engine:
            self._engine.dispose()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- probes' results -------------------------------------------------------------------

    def record_platforms(self, platforms: Sequence[Platform], *, now: datetime) -> None:
        """Remember the configured platforms (names, families, display names); the first
        time one is seen is kept."""
        if not platforms:
            return
        rows = [
            {"name": p.name, "family": p.family, "display_name": p.display_name, "first_seen": now}
            for p in platforms
        ]
        with self._translate("cannot record platforms"), self._write() as conn:
            stmt = self._insert(t.platforms)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.platforms.c.name],
                set_={"family": stmt.excluded.family, "display_name": stmt.excluded.display_name},
            )
            conn.execute(stmt, rows)

    def platforms(self) -> dict[str, datetime]:
        """Every platform ever recorded, with the time it was first seen."""
        with self._translate("cannot read platforms"), self._engine.connect() as conn:
            rows = conn.execute(select(t.platforms.c.name, t.platforms.c.first_seen))
            return dict(rows.all())

    def record_observations(self, observations: Sequence[Observation]) -> None:
        """Append raw observations in one batched statement. ``detail`` is cut to its bound;
        per-phase timings and certificate days are not kept (metrics carry them)."""
        if not observations:
            return
        sqlite_times = self.backend == "sqlite"
        times: dict[datetime, object] = {}  # a round shares a handful of timestamps
        rows = []
        for o in observations:
            at = times.get(o.at)
            if at is None:
                if o.at.tzinfo is None or o.at.utcoffset() is None:
                    raise StoreError(f"cannot record observations: {_NAIVE}")
                utc = o.at.astimezone(UTC)
                # UTCDateTime's SQLite storage format, exactly as SQLAlchemy writes it
                at = times[o.at] = (
                    utc.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite_times else utc
                )
            rows.append(
                (
                    at,
                    o.target,
                    o.check,
                    o.kind.value,
                    o.role.value,
                    o.outcome.value,
                    o.latency_s,
                    o.detail[: t.DETAIL_MAX],
                    o.is_control,
                )
            )
        # The hot path (one batch per probe round) goes straight to the driver's executemany:
        # SQLAlchemy's per-row parameter processing would cost twice the insert itself.
        statement = _insert_observations("?" if self._engine.dialect.paramstyle == "qmark" else "%s")
        with self._translate("cannot record observations"), self._write() as conn:
            conn.exec_driver_sql(statement, rows)

    def observations(
        self, *, since: datetime, until: datetime | None = None, target: str | None = None
    ) -> list[Observation]:
        """Raw observations in ``[since, until)``, oldest first."""
        o = t.observations.c
        query = select(t.observations).where(o.at >= since).order_by(o.at, o.id)
        if until is not None:
            query = query.where(o.at < until)
        if target is not None:
            query = query.where(o.target == target)
        with self._translate("cannot read observations"), self._engine.connect() as conn:
            return [
                Observation(
                    target=row.target,
                    check=row.check_name,
                    kind=CheckKind(row.kind),
                    role=CheckRole(row.role),
                    outcome=Outcome(row.outcome),
                    at=row.at,
                    latency_s=row.latency_s,
                    detail=row.detail,
                    is_control=row.is_control,
                )
                for row in conn.execute(query)
            ]

    # -- the judge's decisions -------------------------------------------------------------

    def record_decision(
        self,
        *,
        at: datetime,
        transitions: Sequence[Transition] = (),
        incident_events: Sequence[tuple[IncidentEvent, Incident]] = (),
        incident_updates: Sequence[Incident] = (),
        state: Mapping[str, Any] | None = None,
        connectivity_events: Sequence[ConnectivityEvent] = (),
        notices: Sequence[NoticeDraft] = (),
        actions: Mapping[str, Sequence[IncidentAction]] | None = None,
    ) -> tuple[Incident, ...]:
        """Write one decision of the judge in one transaction: all of it or nothing.

        Incidents, those of events and ``incident_updates`` (changes that tell nobody: a
        kind escalated, a platform incident folded into a family one), are upserted by key:
        new ones inserted; known ones get the newer kind, platforms, evidence (keeping the
        notes of :meth:`note_incident`) and non-empty cause and message, the earlier opening
        time, and keep a confirmation or resolution time once set;
        transitions and connectivity events are written once; the judge's state snapshot
        (JSON-serialisable) replaces the last; notices enter the outbox unless their
        idempotency key is already there (``pending``, or ``silenced`` when the draft
        says so). Replaying a decision therefore changes nothing.
        Returns the decision's incidents as stored, with ids, once each in order of first
        mention. ``at`` is the decision's time: the snapshot's and the notices' creation time.
        ``actions`` (by incident key) enter the incidents' journal of actions.
        """
        for draft in notices:
            if draft.channel_ref is not None and "://" in draft.channel_ref:
                raise ValueError("channel_ref must be a stable reference, never a URL")
        if state is not None:
            # checked up front: each driver reports an unserialisable document differently
            try:
                json.dumps(state)
            except (TypeError, ValueError) as exc:
                raise StoreError(
                    f"cannot record the decision: the judge's state is not JSON ({exc})"
                ) from exc
        with self._translate("cannot record the decision"), self._write() as conn:
            ids: dict[str, int] = {}
            for incident in [incident for _event, incident in incident_events] + list(incident_updates):
                ids[incident.key] = self._upsert_incident(conn, incident)
            if transitions:
                self._insert_transitions(conn, transitions)
            if state is not None:
                stmt = self._insert(t.judge_state).values(id=1, snapshot=dict(state), updated_at=at)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.judge_state.c.id],
                        set_={"snapshot": stmt.excluded.snapshot, "updated_at": stmt.excluded.updated_at},
                    )
                )
            if connectivity_events:
                conn.execute(
                    self._insert(t.connectivity_events).on_conflict_do_nothing(
                        index_elements=[t.connectivity_events.c.at, t.connectivity_events.c.event]
                    ),
                    [
                        {"at": e.at, "event": e.kind.value, "detail": e.detail[: t.DETAIL_MAX]}
                        for e in connectivity_events
                    ],
                )
            if notices:
                self._queue_notices(conn, at, notices, ids)
            for key, done in (actions or {}).items():
                incident_id = ids.get(key)
                if incident_id is None:
                    incident_id = conn.execute(
                        select(t.incidents.c.id).where(t.incidents.c.key == key)
                    ).scalar()
                if incident_id is None:
                    raise StoreError(f"cannot record actions: no incident with key {key!r}")
                self._insert_actions(conn, incident_id, done)
            if not ids:
                return ()
            rows = conn.execute(select(t.incidents).where(t.incidents.c.key.in_(list(ids))))
            stored = {row.key: _incident(row._mapping) for row in rows}
            return tuple(stored[key] for key in ids)

    def _upsert_incident(self, conn: Connection, incident: Incident) -> int:
        c = t.incidents.c
        evidence = list(incident.evidence)
        stored = conn.execute(
            select(c.evidence, c.messages).where(c.key == incident.key).with_for_update()
        ).one_or_none()
        if stored is not None and stored.evidence:
            evidence += [
                line for line in stored.evidence if line.startswith(NOTE_PREFIX) and line not in evidence
            ]
        # the operator's texts per language stay once written (the judge's rewrites carry none)
        messages = dict(incident.messages) or (stored.messages if stored is not None else None)
        stmt = self._insert(t.incidents).values(
            key=incident.key,
            scope=incident.scope.value,
            kind=incident.kind.value,
            name=incident.name,
            platforms=list(incident.platforms),
            opened_at=incident.opened_at,
            confirmed_at=incident.confirmed_at,
            resolved_at=incident.resolved_at,
            evidence=evidence,
            cause=incident.cause,
            message=incident.message,
            messages=messages or null(),
            approval=incident.approval.value if incident.approval is not None else null(),
            retracted_at=incident.retracted_at,
        )
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.key],
            set_={
                "kind": new.kind,
                "opened_at": case((new.opened_at < c.opened_at, new.opened_at), else_=c.opened_at),
                "platforms": new.platforms,
                "evidence": new.evidence,
                # the first confirmation and the first resolution are history: keep them
                "confirmed_at": func.coalesce(c.confirmed_at, new.confirmed_at),
                "resolved_at": func.coalesce(c.resolved_at, new.resolved_at),
                "cause": case((new.cause != "", new.cause), else_=c.cause),
                "message": case((new.message != "", new.message), else_=c.message),
                "messages": new.messages,
                # only approve_incident and reject_incident move an approval on
                "approval": func.coalesce(c.approval, new.approval),
            },
        )
        return int(conn.execute(stmt.returning(c.id)).scalar_one())

    def note_incident(self, incident_id: int, note: str) -> bool:
        """Add ``note: <note>`` to an incident's evidence, where the journal shows it, unless
        the incident already carries that very line. The note stays when the incident is
        rewritten later. False when the line was there already or there is no such incident."""
        c = t.incidents.c
        line = NOTE_PREFIX + note
        with self._translate("cannot note an incident"), self._write() as conn:
            evidence = conn.execute(select(c.evidence).where(c.id == incident_id).with_for_update()).scalar()
            if evidence is None or line in evidence:
                return False
            conn.execute(update(t.incidents).where(c.id == incident_id).values(evidence=[*evidence, line]))
        return True

    # -- the journal of actions -------------------------------------------------------------

    def record_action(self, incident_id: int, action: IncidentAction) -> bool:
        """Add ``action`` to an incident's journal of actions; False when there is no such
        incident."""
        if not 0 < incident_id <= _MAX_INCIDENT_ID:
            return False
        with self._translate("cannot record an action"), self._write() as conn:
            found = conn.execute(select(t.incidents.c.id).where(t.incidents.c.id == incident_id)).scalar()
            if found is None:
                return False
            self._insert_actions(conn, incident_id, [action])
        return True

    def actions(self, incident_ids: Sequence[int]) -> dict[int, tuple[IncidentAction, ...]]:
        """The journal of actions of each incident, oldest first (by time, then as written);
        incidents without any are left out."""
        a = t.incident_actions.c
        found: dict[int, list[IncidentAction]] = {}
        with self._translate("cannot read the journal of actions"), self._engine.connect() as conn:
            for chunk in _chunks(sorted(set(incident_ids))):
                query = (
                    select(a.incident_id, a.at, a.actor, a.kind, a.text)
                    .where(a.incident_id.in_(list(chunk)))
                    .order_by(a.incident_id, a.at, a.id)
                )
                for row in conn.execute(query):
                    found.setdefault(int(row.incident_id), []).append(
                        IncidentAction(at=row.at, actor=row.actor, kind=ActionKind(row.kind), text=row.text)
                    )
        return {incident_id: tuple(done) for incident_id, done in found.items()}

    def _insert_actions(self, conn: Connection, incident_id: int, actions: Sequence[IncidentAction]) -> None:
        if not actions:
            return
        conn.execute(
            t.incident_actions.insert(),
            [
                {
                    "incident_id": incident_id,
                    "at": _utc(action.at),
                    "actor": action.actor[:200],
                    "kind": action.kind.value,
                    "text": action.text,
                }
                for action in actions
            ],
        )

    def _insert_transitions(self, conn: Connection, transitions: Sequence[Transition]) -> None:
        c = t.transitions.c
        conn.execute(
            self._insert(t.transitions).on_conflict_do_nothing(index_elements=[c.platform, c.at, c.current]),
            [
                {
                    "platform": tr.platform,
                    "previous": tr.previous.value,
                    "current": tr.current.value,
                    "at": tr.at,
                    "reason": tr.reason[:500],
                    "flapping": tr.flapping,
                }
                for tr in transitions
            ],
        )

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

    # -- reading the record ----------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        """The judge's last state snapshot, or ``None`` on a fresh database."""
        with self._translate("cannot read the judge's state"), self._engine.connect() as conn:
            snapshot = conn.execute(select(t.judge_state.c.snapshot).where(t.judge_state.c.id == 1)).scalar()
        return dict(snapshot) if snapshot is not None else None

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved, oldest first."""
        c = t.incidents.c
        query = select(t.incidents).where(c.resolved_at.is_(None)).order_by(c.opened_at, c.id)
        with self._translate("cannot read incidents"), self._engine.connect() as conn:
            return [_incident(row._mapping) for row in conn.execute(query)]

    def incident(self, id_or_key: int | str) -> Incident | None:
        """One incident by its number or its key."""
        if isinstance(id_or_key, int) and not 0 < id_or_key <= _MAX_INCIDENT_ID:
            return None  # PostgreSQL refuses to compare the column with a larger number
        c = t.incidents.c
        where = c.key == id_or_key if isinstance(id_or_key, str) else c.id == id_or_key
        with self._translate("cannot read an incident"), self._engine.connect() as conn:
            row = conn.execute(select(t.incidents).where(where)).first()
        return _incident(row._mapping) if row is not None else None

    def incidents(self, *, since: datetime | None = None, platform: str | None = None) -> list[JournalEntry]:
        """The journal: incidents open at any time since ``since`` (opened later, resolved
        later or still open), optionally only those touching ``platform``, oldest first,
        with what became of their notices."""
        n = t.notices.c
        counts = (
            select(
                n.incident_id,
                *(
                    func.sum(case((n.state == state.value, 1), else_=0)).label(state.value)
                    for state in NoticeState
                ),
            )
            .group_by(n.incident_id)
            .subquery()
        )
        c = t.incidents.c
        query = (
            select(t.incidents, *(counts.c[state.value] for state in NoticeState))
            .outerjoin(counts, counts.c.incident_id == c.id)
            .order_by(c.opened_at, c.id)
        )
        if since is not None:
            query = query.where(or_(c.resolved_at.is_(None), c.resolved_at >= since))
        with self._translate("cannot read the journal"), self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        actions = self.actions([int(row["id"]) for row in rows])
        entries: list[JournalEntry] = []
        for row in rows:
            incident = _incident(row)
            # platforms is a JSON list; filtering here keeps one query for both backends
            if platform is not None and platform not in incident.platforms and incident.name != platform:
                continue
            entries.append(
                JournalEntry(
                    incident=incident,
                    notices_sent=int(row["sent"] or 0),
                    notices_failed=int(row["failed"] or 0),
                    notices_skipped=int(row["skipped"] or 0)
                    + int(row["silenced"] or 0)
                    + int(row["cancelled"] or 0),
                    notices_pending=int(row["pending"] or 0) + int(row["sending"] or 0),
                    actions=actions.get(int(row["id"]), ()),
                )
            )
        return entries

    def latest_health(self) -> dict[str, tuple[Health, datetime]]:
        """Each platform's health after its latest transition, and when that happened."""
        c = t.transitions.c
        ranked = select(
            c.platform,
            c.current,
            c.at,
            func.row_number()
            .over(partition_by=c.platform, order_by=(c.at.desc(), c.id.desc()))
            .label("rank"),
        ).subquery()
        query = select(ranked.c.platform, ranked.c.current, ranked.c.at).where(ranked.c.rank == 1)
        with self._translate("cannot read transitions"), self._engine.connect() as conn:
            return {platform: (Health(current), at) for platform, current, at in conn.execute(query)}

    def transitions(self, *, since: datetime, platform: str | None = None) -> list[Transition]:
        """Transitions at or after ``since``, oldest first."""
        c = t.transitions.c
        query = select(t.transitions).where(c.at >= since).order_by(c.at, c.id)
        if platform is not None:
            query = query.where(c.platform == platform)
        with self._translate("cannot read transitions"), self._engine.connect() as conn:
            return [
                Transition(
                    platform=row.platform,
                    previous=Health(row.previous),
                    current=Health(row.current),
                    at=row.at,
                    reason=row.reason,
                    flapping=row.flapping,
                )
                for row in conn.execute(query)
            ]

    def connectivity_events(self, since: datetime | None = None) -> list[ConnectivityEvent]:
        """Our own connectivity's losses and recoveries, oldest first."""
        c = t.connectivity_events.c
        query = select(t.connectivity_events).order_by(c.at, c.id)
        if since is not None:
            query = query.where(c.at >= since)
        with self._translate("cannot read connectivity events"), self._engine.connect() as conn:
            return [
                ConnectivityEvent(kind=ConnectivityEventKind(row.event), at=row.at, detail=row.detail)
                for row in conn.execute(query)
            ]

    # -- retention -------------------------------------------------------------------------

    def roll_up(self, now: datetime) -> int:
        """Aggregate every complete hour not yet rolled up into ``rollups``; returns the rows
        written. Hours already rolled up are never counted again, so this is idempotent;
        raw observations that arrive for such an hour later are left out of it."""
        end = floor_hour(_utc(now))
        o = t.observations.c
        written = 0
        with self._translate("cannot roll up observations"), self._write() as conn:
            watermark = conn.execute(select(func.max(t.rollups.c.hour))).scalar()
            cursor: datetime | None = watermark + HOUR if watermark is not None else None
            while cursor is None or cursor < end:
                query = select(func.min(o.at)).where(o.at < end)
                if cursor is not None:
                    query = query.where(o.at >= cursor)
                first = conn.execute(query).scalar()
                if first is None:
                    break
                hour = floor_hour(first)
                rows = conn.execute(
                    select(o.target, o.check_name, o.is_control, o.outcome, o.latency_s).where(
                        o.at >= hour, o.at < hour + HOUR
                    )
                )
                groups = aggregate(rows)
                conn.execute(
                    self._insert(t.rollups).on_conflict_do_nothing(
                        index_elements=[t.rollups.c.hour, t.rollups.c.target, t.rollups.c.check_name]
                    ),
                    [
                        {"hour": hour, "target": target, "check_name": check, **group.row()}
                        for (target, check), group in groups.items()
                    ],
                )
                written += len(groups)
                cursor = hour + HOUR
        return written

    def rollups(self, *, since: datetime, target: str | None = None) -> list[HourlyRollup]:
        """Hourly rollups from ``since`` on, oldest first."""
        c = t.rollups.c
        query = select(t.rollups).where(c.hour >= since).order_by(c.hour, c.target, c.check_name)
        if target is not None:
            query = query.where(c.target == target)
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            return [
                HourlyRollup(
                    hour=row["hour"],
                    target=row["target"],
                    check=row["check_name"],
                    is_control=row["is_control"],
                    count=row["count"],
                    failures=row["failures"],
                    latency_p50=row["latency_p50"],
                    latency_p95=row["latency_p95"],
                    latency_max=row["latency_max"],
                    outcomes={Outcome(k): int(v) for k, v in row["outcomes"].items()},
                )
                for row in conn.execute(query).mappings()
            ]

    def watched_hours(self, *, since: datetime) -> dict[str, set[datetime]]:
        """Per target, the hours from ``since`` on that were rolled up with at least one
        observation: what the status page's history calls watched. One row per target and
        hour, none of the figures, so that a daemon's first build does not read 90 days of
        rollups in full (status page)."""
        c = t.rollups.c
        query = select(c.target, c.hour).where(c.hour >= since, c.count > 0).distinct()
        hours: dict[str, set[datetime]] = {}
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            for target, hour in conn.execute(query):
                hours.setdefault(target, set()).add(hour)
        return hours

    def watched_spans(self, targets: Collection[str], *, edges: Sequence[datetime]) -> dict[str, set[int]]:
        """Per target of ``targets``, the spans ``i`` (from ``edges[i]`` up to ``edges[i + 1]``,
        ``edges`` in time order) holding an hour rolled up with at least one observation:
        :meth:`watched_hours` cut into days (status page). One row per target and span,
        answered from the ``(target, hour)`` index, so that a daemon's first build does not
        read a row per hour of its 90 days."""
        if len(edges) < 2 or not targets:
            return {}
        c = t.rollups.c
        spans = (
            values(column("i", Integer()), column("start", UTCDateTime()), column("stop", UTCDateTime()))
            .data([(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)])
            .cte("spans")
        )
        names = values(column("target", String())).data([(name,) for name in sorted(targets)]).cte("names")
        query = (
            select(names.c.target, spans.c.i)
            .select_from(names.join(spans, true()))
            .where(
                exists().where(
                    c.target == names.c.target, c.hour >= spans.c.start, c.hour < spans.c.stop, c.count > 0
                )
            )
        )
        found: dict[str, set[int]] = {}
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            for target, index in conn.execute(query):
                found.setdefault(target, set()).add(index)
        return found

    def newest_watched_hour(self, *, since: datetime) -> datetime | None:
        """The newest hour from ``since`` on rolled up with at least one observation, if any."""
        c = t.rollups.c
        query = select(c.hour).where(c.hour >= since, c.count > 0).order_by(c.hour.desc()).limit(1)
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            newest: datetime | None = conn.execute(query).scalar()
        return newest

    def prune(self, *, now: datetime, keep: timedelta) -> PruneReport:
        """Roll up, then delete raw observations older than ``keep`` (never any not yet
        rolled up). Rollups, transitions, incidents and the outbox are kept. On SQLite the
        freed pages are handed back to the file system, so the file does not keep growing."""
        written = self.roll_up(now)
        cutoff = min(_utc(now) - keep, floor_hour(_utc(now)))
        with self._translate("cannot prune observations"), self._write() as conn:
            deleted = conn.execute(delete(t.observations).where(t.observations.c.at < cutoff)).rowcount
        pages = self._give_back_space() if self.backend == "sqlite" else 0
        return PruneReport(
            cutoff=cutoff, rollups_written=written, observations_deleted=deleted, pages_freed=pages
        )

    def _give_back_space(self) -> int:
        with self._translate("cannot vacuum the database"):
            raw = self._engine.raw_connection()
            try:
                driver: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
                before = driver.execute("PRAGMA freelist_count").fetchone()[0]
                # execute() steps a statement once, and this pragma frees one page per step;
                # executescript() runs it to completion
                driver.executescript("PRAGMA incremental_vacuum;")
                after = driver.execute("PRAGMA freelist_count").fetchone()[0]
                # the big delete also inflated the write-ahead log: fold it in and truncate it
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.close()
        return int(before) - int(after)

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
            for chunk in _chunks(notice_ids):
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
            chunks: list[Sequence[int] | None] = [None] if notice_ids is None else list(_chunks(notice_ids))
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
            for chunk in _chunks(cursor_refs):
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

    def approve_incident(
        self, incident_id: int, action: IncidentAction, *, hold: timedelta | None = None
    ) -> int | None:
        """Let the notices of an incident awaiting approval go out, in one transaction with
        ``action`` (who approved it, when): each is held from ``action.at`` for ``hold``,
        or, when None, for as long as its trigger held it. Returns how many notices were
        released; None when the incident is not awaiting approval (never was, or was
        approved or rejected meanwhile: nothing changes)."""
        c, n = t.incidents.c, t.notices.c
        now = _utc(action.at)
        if not 0 < incident_id <= _MAX_INCIDENT_ID:
            return None
        with self._translate("cannot approve an incident"), self._write() as conn:
            moved = conn.execute(
                update(t.incidents)
                .where(c.id == incident_id, c.approval == Approval.awaiting.value)
                .values(approval=Approval.approved.value)
            )
            if moved.rowcount != 1:
                return None
            waiting = conn.execute(
                select(n.id, n.created_at, n.not_before).where(
                    n.incident_id == incident_id, n.state == NoticeState.pending.value
                )
            ).all()
            for notice_id, created_at, not_before in waiting:
                held = hold if hold is not None else (not_before - created_at if not_before else None)
                until = now + held if held is not None and held > timedelta(0) else None
                conn.execute(
                    update(t.notices)
                    .where(n.id == notice_id)
                    .values(not_before=until, next_attempt_at=until or now)
                )
            self._insert_actions(conn, incident_id, [action])
            return len(waiting)

    def reject_incident(self, incident_id: int, action: IncidentAction, *, cause: str) -> int | None:
        """Withdraw the notices of an incident awaiting approval and close it as rejected
        (resolved at ``action.at``, with ``cause``), in one transaction with ``action`` (who
        rejected it and why). Returns how many notices were withdrawn; None when the
        incident is not awaiting approval (nothing changes)."""
        c, n = t.incidents.c, t.notices.c
        if not 0 < incident_id <= _MAX_INCIDENT_ID:
            return None
        with self._translate("cannot reject an incident"), self._write() as conn:
            moved = conn.execute(
                update(t.incidents)
                .where(c.id == incident_id, c.approval == Approval.awaiting.value)
                .values(approval=Approval.rejected.value, resolved_at=_utc(action.at), cause=cause)
            )
            if moved.rowcount != 1:
                return None
            withdrawn = conn.execute(
                update(t.notices)
                .where(n.incident_id == incident_id, n.state == NoticeState.pending.value)
                .values(state=NoticeState.cancelled.value)
            )
            self._insert_actions(conn, incident_id, [action])
            return int(withdrawn.rowcount)

    def retract_incident(
        self,
        incident_id: int,
        action: IncidentAction,
        *,
        cause: str,
        corrections: Callable[[Sequence[Notice]], Sequence[NoticeDraft]],
    ) -> int | None:
        """Retract an incident in one transaction with ``action`` (who retracted it, why):
        mark it retracted and closed (resolved at ``action.at`` unless it was already, with
        ``cause``), withdraw its notices still waiting (``cancelled``: never sent), and
        queue the notices ``corrections`` plans from its notices as they stand once those
        are withdrawn (none can be claimed meanwhile). Returns how many were withdrawn;
        None when the incident is unknown or was retracted already (nothing changes)."""
        c, n = t.incidents.c, t.notices.c
        now = _utc(action.at)
        if not 0 < incident_id <= _MAX_INCIDENT_ID:
            return None
        with self._translate("cannot retract an incident"), self._write() as conn:
            moved = conn.execute(
                update(t.incidents)
                .where(c.id == incident_id, c.retracted_at.is_(None))
                .values(retracted_at=now, resolved_at=func.coalesce(c.resolved_at, now), cause=cause)
            )
            if moved.rowcount != 1:
                return None
            withdrawn = conn.execute(
                update(t.notices)
                .where(n.incident_id == incident_id, n.state == NoticeState.pending.value)
                .values(state=NoticeState.cancelled.value)
            )
            drafts = corrections(self._notices_where(conn, n.incident_id == incident_id))
            if drafts:
                key = conn.execute(select(c.key).where(c.id == incident_id)).scalar_one()
                self._queue_notices(conn, now, drafts, {key: incident_id})
            self._insert_actions(conn, incident_id, [action])
            return int(withdrawn.rowcount)

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

    # -- silences --------------------------------------------------------------------------

    def add_silence(
        self,
        *,
        name: str,
        until: datetime,
        reason: str,
        now: datetime,
        created_by: str | None = None,
        actions: Mapping[int, IncidentAction] | None = None,
    ) -> Silence:
        """Hold back notices about ``name`` until ``until``; ``created_by`` says who asked.
        ``actions`` (by incident id) record the silence in the journal of the incidents it
        covers, in the same transaction."""
        by = created_by[:200] if created_by is not None else None
        with self._translate("cannot add a silence"), self._write() as conn:
            silence_id = conn.execute(
                t.silences.insert()
                .values(name=name, created_at=now, until=until, reason=reason[:500], created_by=by)
                .returning(t.silences.c.id)
            ).scalar_one()
            for incident_id, action in (actions or {}).items():
                self._insert_actions(conn, incident_id, [action])
        return Silence(
            id=int(silence_id), name=name, created_at=now, until=until, reason=reason[:500], created_by=by
        )

    def active_silences(self, now: datetime) -> list[Silence]:
        """Silences still in force at ``now``."""
        s = t.silences.c
        query = select(t.silences).where(s.created_at <= now, s.until > now).order_by(s.until, s.id)
        with self._translate("cannot read silences"), self._engine.connect() as conn:
            return [
                Silence(
                    id=row.id,
                    name=row.name,
                    created_at=row.created_at,
                    until=row.until,
                    reason=row.reason,
                    created_by=row.created_by,
                )
                for row in conn.execute(query)
            ]

    def remove_silence(self, silence_id: int) -> bool:
        with self._translate("cannot remove a silence"), self._write() as conn:
            return bool(conn.execute(delete(t.silences).where(t.silences.c.id == silence_id)).rowcount == 1)

    # -- one daemon per database -----------------------------------------------------------

    def acquire_lock(
        self, holder: str, *, now: datetime, stale_after: timedelta, take_from: str | None = None
    ) -> None:
        """Become the database's one daemon, or raise ``AlreadyRunningError`` if another
        holder's heartbeat is younger than ``stale_after``. Re-acquiring one's own lock is fine,
        and so is taking it from ``take_from`` (a holder known to be gone), whatever its age."""
        c = t.daemon_lock.c
        takeable = [c.holder == holder, c.heartbeat_at < now - stale_after]
        if take_from is not None:
            takeable.append(c.holder == take_from)
        with self._translate("cannot take the daemon lock"), self._write() as conn:
            conn.execute(
                self._insert(t.daemon_lock)
                .values(id=1, holder=holder, acquired_at=now, heartbeat_at=now)
                .on_conflict_do_nothing(index_elements=[c.id])
            )
            taken = conn.execute(
                update(t.daemon_lock)
                .where(c.id == 1, or_(*takeable))
                .values(
                    holder=holder,
                    heartbeat_at=now,
                    acquired_at=case((c.holder == holder, c.acquired_at), else_=now),
                )
            )
            if taken.rowcount != 1:
                other = conn.execute(select(c.holder, c.heartbeat_at).where(c.id == 1)).one()
                raise AlreadyRunningError(
                    f"another daemon ({other.holder}) holds {self.url}; "
                    f"its last heartbeat was at {other.heartbeat_at.isoformat()}"
                )

    def lock(self) -> tuple[str, datetime] | None:
        """Who holds the daemon lock and their last heartbeat; None when nobody does."""
        c = t.daemon_lock.c
        with self._translate("cannot read the daemon lock"), self._engine.connect() as conn:
            row = conn.execute(select(c.holder, c.heartbeat_at).where(c.id == 1)).one_or_none()
        return None if row is None else (row.holder, row.heartbeat_at)

    def heartbeat(self, holder: str, *, now: datetime) -> None:
        """Renew the lock; raises ``AlreadyRunningError`` if it was taken over meanwhile."""
        c = t.daemon_lock.c
        with self._translate("cannot renew the daemon lock"), self._write() as conn:
            result = conn.execute(
                update(t.daemon_lock).where(c.id == 1, c.holder == holder).values(heartbeat_at=now)
            )
            if result.rowcount != 1:
                raise AlreadyRunningError(f"the daemon lock on {self.url} is no longer held by {holder}")

    def release_lock(self, holder: str) -> None:
        c = t.daemon_lock.c
        with self._translate("cannot release the daemon lock"), self._write() as conn:
            conn.execute(delete(t.daemon_lock).where(and_(c.id == 1, c.holder == holder)))

    # -- helpers ---------------------------------------------------------------------------

    def _insert(self, table: Table) -> _Insert:
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        return sqlite.insert(table)

    def _translate(self, action: str) -> AbstractContextManager[None]:
        return _translating(action, self._password)


@contextmanager
def _translating(action: str, password: str | None) -> Iterator[None]:
    try:
        with translate_errors(action, password=password):
            yield
    except sqlite3.Error as exc:  # raised by raw connections, outside SQLAlchemy
        raise StoreError(f"{action}: {type(exc).__name__}") from exc


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


@functools.cache
def _due_statement() -> Select[Any]:
    """The due notices' ids, oldest due first (``c_now``, at most ``c_limit``); those of an
    incident awaiting a second operator's approval are never due."""
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


def _chunks(items: Sequence[_Item]) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(_NAIVE)
    return moment.astimezone(UTC)


def _incident(row: RowMapping) -> Incident:
    return Incident(
        id=int(row["id"]),
        key=row["key"],
        scope=IncidentScope(row["scope"]),
        kind=IncidentKind(row["kind"]),
        name=row["name"],
        platforms=tuple(row["platforms"]),
        opened_at=row["opened_at"],
        confirmed_at=row["confirmed_at"],
        resolved_at=row["resolved_at"],
        evidence=tuple(row["evidence"]),
        cause=row["cause"],
        message=row["message"],
        messages=tuple(sorted((row["messages"] or {}).items())),
        approval=Approval(row["approval"]) if row["approval"] else None,
        retracted_at=row["retracted_at"],
    )


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
