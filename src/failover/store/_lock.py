"""The daemon lock: one daemon per database, held by heartbeats; a holder whose heartbeat
went stale, or one known to be gone, may be taken over."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, or_, select, update

from failover.errors import AlreadyRunningError
from failover.store import _schema as t
from failover.store._rows import Rows

__all__ = ["LockRows"]


class LockRows(Rows):
    """The daemon lock (mixed into :class:`~failover.store.Store`)."""

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
