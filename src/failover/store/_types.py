"""Column types shared by the schema and the migrations' sense of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Id", "Json", "UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC text (whose lexical order is its time order) and made aware again on the way out.
    A naive datetime is refused on the way in: guessing its zone would corrupt the journal.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: the store only accepts timezone-aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 -- SQLAlchemy's signature; the same on every backend
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _Json(TypeDecorator[Any]):
    """JSON documents: ``jsonb`` on PostgreSQL, text on SQLite.

    Not ``JSON().with_variant(JSONB(), "postgresql")``: that imports the PostgreSQL dialect
    with all its drivers (about 2.5 MiB resident) into every process, SQLite daemons
    included. This asks for ``jsonb`` only when it meets PostgreSQL.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


Json: TypeEngine[Any] = _Json()

#: Surrogate keys of the big tables: 64 bits on PostgreSQL; on SQLite an ``INTEGER PRIMARY KEY``
#: is the rowid (already 64 bits) and only that spelling autoincrements.
Id: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
