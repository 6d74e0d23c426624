"""The store: every read and write of failover's database, composed of one row mixin per
concept; this module holds what they share: the engine, write transactions (one at a time
per store on SQLite; those of a thread's batch share one), error translation and the
schema's upgrade."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Connection, Engine, inspect, make_url
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.schema import Table

from failover.errors import StoreError
from failover.store import _schema as t
from failover.store._contacts import ContactRows
from failover.store._engine import SQLITE_BUSY_TIMEOUT_MS, WRITE, connect, translate_errors
from failover.store._incidents import IncidentRows
from failover.store._judge import JudgeRows
from failover.store._lock import LockRows
from failover.store._migrate import upgrade_to_head
from failover.store._observations import ObservationRows
from failover.store._outbox import OutboxRows
from failover.store._silences import SilenceRows

if TYPE_CHECKING:
    from failover.store._rows import DialectInsert

__all__ = ["Store"]


# a mixin that builds on another (the judge's on the incidents', the incidents' on the
# outbox's) is listed before it, as Python's method resolution order requires
class Store(JudgeRows, SilenceRows, IncidentRows, OutboxRows, ObservationRows, LockRows, ContactRows):
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

    # -- helpers ---------------------------------------------------------------------------

    def _insert(self, table: Table) -> DialectInsert:
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
