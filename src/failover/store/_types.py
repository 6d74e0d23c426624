"""Column types shared by the schema and the migrations' sense of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
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


#: JSON documents: ``jsonb`` on PostgreSQL, text on SQLite.
Json: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

#: Surrogate keys of the big tables: 64 bits on PostgreSQL; on SQLite an ``INTEGER PRIMARY KEY``
#: is the rowid (already 64 bits) and only that spelling autoincrements.
Id: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
