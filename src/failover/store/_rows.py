"""What every part of the store stands on: the plumbing :class:`~failover.store.Store`
provides to the row mixins it is composed of (its engine, write transactions, error
translation, the dialect's INSERT), and the helpers they share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.sql.schema import Table

__all__ = ["NAIVE", "Rows", "in_chunks", "utc"]

#: values per ``IN (…)`` list: well under every backend's limit on bound parameters
_CHUNK = 500
_Item = TypeVar("_Item")

NAIVE = "naive datetime: the store only accepts timezone-aware UTC times"

if TYPE_CHECKING:
    # the PostgreSQL dialect is imported only by a store on PostgreSQL: a SQLite daemon
    # would carry its modules (about 2.5 MiB resident) for nothing
    from sqlalchemy.dialects import postgresql, sqlite

    #: what :meth:`Rows._insert` returns: an INSERT with ``ON CONFLICT`` in either dialect
    DialectInsert = sqlite.Insert | postgresql.Insert


class Rows:
    """The store's plumbing, as its row mixins see it (provided by
    :class:`~failover.store.Store`)."""

    _engine: Engine

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def backend(self) -> str:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _translate(self, action: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _insert(self, table: Table) -> DialectInsert:
        raise NotImplementedError


def in_chunks(items: Sequence[_Item]) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(NAIVE)
    return moment.astimezone(UTC)
