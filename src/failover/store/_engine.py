"""Opening a database: URL checks, SQLite pragmas, and the one place library errors
become ``StoreError`` with a message that never carries the URL's password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from failover.errors import StoreError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "WRITE", "Database", "connect", "describe", "scrub", "translate_errors"]

SQLITE_BUSY_TIMEOUT_MS = 5000
#: execution option: the SQLite transaction takes the write lock at BEGIN
WRITE = "failover_write"

_MESSAGE_MAX = 240
_URL_PATTERN = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Database:
    """An engine and what may be said about where it points."""

    engine: Engine
    #: the URL with its password replaced by ``***``
    shown_url: str
    password: str | None


def connect(url: str) -> Database:
    """An engine for ``url`` (SQLite or PostgreSQL), checked by one round trip."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # the library's message repeats the whole URL, password included
        raise StoreError("invalid database URL") from exc
    shown = parsed.render_as_string(hide_password=True)
    password = parsed.password if isinstance(parsed.password, str) else None
    backend = parsed.get_backend_name()
    with translate_errors(f"cannot open database {shown}", password=password):
        if backend == "sqlite":
            engine = _sqlite_engine(parsed, shown)
        elif backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_pre_ping=True)
        else:
            raise StoreError(f"unsupported database {shown}: use sqlite:/// or postgresql+psycopg://")
        try:
            with engine.connect():
                pass
        except BaseException:
            engine.dispose()
            raise
    return Database(engine=engine, shown_url=shown, password=password)


def _sqlite_engine(url: URL, shown: str) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of {shown}: {exc.strerror}") from exc
    extra: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **extra)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling starts transactions late and never for SELECT;
    # we switch it off and say BEGIN ourselves (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # only what a new file lacks is set: setting either on a file that has it already
        # would wait for the write lock, and a reader must not wait for a writer
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            # must precede the first table, or the file can never give space back without a VACUUM
            cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # WAL commits are durable at the next checkpoint; losing the last instant on power
        # loss is acceptable for a monitor, and it is the difference between 1 and 10 fsyncs
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # A writer takes the write lock up front: a deferred transaction that reads first and
    # writes later fails with SQLITE_BUSY (no wait) if another writer committed in between.
    if connection.get_execution_options().get(WRITE):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@contextmanager
def translate_errors(action: str, *, password: str | None) -> Iterator[None]:
    """Turn library errors into ``StoreError("<action>: <cause>")``.

    The cause is the driver's first line only: SQLAlchemy appends the statement and its
    parameters (personal data), and nothing that looks like a URL or the password survives.
    """
    try:
        yield
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"{action}: {describe(exc, password=password)}") from exc


def describe(exc: BaseException, *, password: str | None) -> str:
    cause: BaseException = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else ""
    first = first.split("[SQL:", 1)[0].split("(Background on", 1)[0].strip()
    first = _URL_PATTERN.sub("<url>", first)
    if password:
        first = first.replace(password, "***")
    if len(first) > _MESSAGE_MAX:
        first = first[: _MESSAGE_MAX - 1] + "…"
    name = type(cause).__name__
    return f"{name}: {first}" if first else name


def scrub(text: str | None, limit: int) -> str | None:
    """A short, URL-free version of a free-text error for storage."""
    if text is None:
        return None
    text = _URL_PATTERN.sub("<url>", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
