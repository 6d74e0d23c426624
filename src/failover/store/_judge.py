"""What the judge decides and remembers: a decision written in one transaction (incidents,
transitions, its state snapshot, connectivity events, notices, actions), and read back (the
snapshot, each platform's latest health, transitions, connectivity events)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from failover.domain import ConnectivityEvent, Health, Incident, IncidentEvent, Transition
from failover.errors import StoreError
from failover.store import _schema as t
from failover.store._incidents import IncidentRows, stored_incident
from failover.store._values import ConnectivityRecord, IncidentAction, NoticeDraft

__all__ = ["JudgeRows"]


class JudgeRows(IncidentRows):
    """The judge's decisions and state (mixed into :class:`~failover.store.Store`)."""

    # -- the judge's decisions -------------------------------------------------------------

    def record_decision(
        self,
        *,
        at: datetime,
        transitions: Sequence[Transition] = (),
        incident_events: Sequence[tuple[IncidentEvent, Incident]] = (),
        incident_updates: Sequence[Incident] = (),
        state: Mapping[str, Any] | None = None,
        connectivity_events: Sequence[ConnectivityRecord] = (),
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
            stored = {row.key: stored_incident(row._mapping) for row in rows}
            return tuple(stored[key] for key in ids)

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

    # -- reading the record ----------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        """The judge's last state snapshot, or ``None`` on a fresh database."""
        with self._translate("cannot read the judge's state"), self._engine.connect() as conn:
            snapshot = conn.execute(select(t.judge_state.c.snapshot).where(t.judge_state.c.id == 1)).scalar()
        return dict(snapshot) if snapshot is not None else None

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

    def connectivity_events(self, since: datetime | None = None) -> list[ConnectivityRecord]:
        """Our own connectivity's losses and recoveries, oldest first."""
        c = t.connectivity_events.c
        query = select(t.connectivity_events).order_by(c.at, c.id)
        if since is not None:
            query = query.where(c.at >= since)
        with self._translate("cannot read connectivity events"), self._engine.connect() as conn:
            return [
                ConnectivityRecord(kind=ConnectivityEvent(row.event), at=row.at, detail=row.detail)
                for row in conn.execute(query)
            ]
