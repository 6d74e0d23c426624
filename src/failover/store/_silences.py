"""Silences: notices about a name held back until a time, recorded in the journal of the
incidents they cover."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select

from failover.store import _schema as t
from failover.store._incidents import IncidentRows
from failover.store._values import IncidentAction, Silence

__all__ = ["SilenceRows"]


class SilenceRows(IncidentRows):
    """Silences (mixed into :class:`~failover.store.Store`)."""

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
