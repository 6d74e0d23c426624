"""Incidents and their journal of actions: upserted by key (keeping the notes and the
history a rewrite must not lose), read one by one, open or as the journal, approved,
rejected or retracted with their notices in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, RowMapping, case, func, null, or_, select, update

from failover.domain import Approval, Incident, IncidentKind, IncidentScope, NoticeState
from failover.store import _schema as t
from failover.store._outbox import OutboxRows
from failover.store._rows import in_chunks, utc
from failover.store._values import ActionKind, IncidentAction, JournalEntry, Notice, NoticeDraft

__all__ = ["NOTE_PREFIX", "IncidentRows", "stored_incident"]

#: incidents.id is an INTEGER, 32 bits in PostgreSQL: no incident has a larger number
_MAX_INCIDENT_ID = 2**31 - 1

#: Evidence lines that start with this are notes added by :meth:`Store.note_incident` (an
#: alert or an operator's trigger attached to the incident): history, which a later rewrite
#: of the incident's evidence (the judge's) keeps.
NOTE_PREFIX = "note: "


class IncidentRows(OutboxRows):
    """Incidents and their journal of actions (mixed into :class:`~failover.store.Store`);
    approving, rejecting and retracting one moves its notices in the outbox."""

    # -- incidents -------------------------------------------------------------------------

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
            for chunk in in_chunks(sorted(set(incident_ids))):
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
                    "at": utc(action.at),
                    "actor": action.actor[:200],
                    "kind": action.kind.value,
                    "text": action.text,
                }
                for action in actions
            ],
        )

    # -- reading incidents -----------------------------------------------------------------

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved, oldest first."""
        c = t.incidents.c
        query = select(t.incidents).where(c.resolved_at.is_(None)).order_by(c.opened_at, c.id)
        with self._translate("cannot read incidents"), self._engine.connect() as conn:
            return [stored_incident(row._mapping) for row in conn.execute(query)]

    def incident(self, id_or_key: int | str) -> Incident | None:
        """One incident by its number or its key."""
        if isinstance(id_or_key, int) and not 0 < id_or_key <= _MAX_INCIDENT_ID:
            return None  # PostgreSQL refuses to compare the column with a larger number
        c = t.incidents.c
        where = c.key == id_or_key if isinstance(id_or_key, str) else c.id == id_or_key
        with self._translate("cannot read an incident"), self._engine.connect() as conn:
            row = conn.execute(select(t.incidents).where(where)).first()
        return stored_incident(row._mapping) if row is not None else None

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
            incident = stored_incident(row)
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

    # -- approval and retraction -----------------------------------------------------------

    def approve_incident(
        self, incident_id: int, action: IncidentAction, *, hold: timedelta | None = None
    ) -> int | None:
        """Let the notices of an incident awaiting approval go out, in one transaction with
        ``action`` (who approved it, when): each is held from ``action.at`` for ``hold``,
        or, when None, for as long as its trigger held it. Returns how many notices were
        released; None when the incident is not awaiting approval (never was, or was
        approved or rejected meanwhile: nothing changes)."""
        c, n = t.incidents.c, t.notices.c
        now = utc(action.at)
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
                .values(approval=Approval.rejected.value, resolved_at=utc(action.at), cause=cause)
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
        now = utc(action.at)
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


def stored_incident(row: RowMapping) -> Incident:
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
