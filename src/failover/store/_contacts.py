"""The imported address book's table: streamed in import order, read by id, written by
an import in one transaction.

Rows are read in pages by key (``seq``), each page its own short read, so a fan-out over
100,000 contacts never holds a read transaction open on SQLite (which would keep the WAL
from being checkpointed) nor a whole result in memory.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update

from failover.domain import StoredContact
from failover.store import _schema as t

__all__ = ["PAGE", "ContactRows"]

#: rows read at a time when the address book is streamed
PAGE = 2000
#: ids asked for in one ``IN (…)`` (SQLite allows 32,766 parameters; PostgreSQL 65,535)
_IDS_AT_ONCE = 500

_c = t.contacts.c
_COLUMNS = (_c.seq, _c.id, _c.name, _c.language, _c.timezone, _c.groups, _c.channels)
#: built once: a fan-out runs it for every batch it claims
_BY_IDS = select(*_COLUMNS).where(_c.id.in_(bindparam("ids", expanding=True)))


def _stored(row: Sequence[Any]) -> StoredContact:
    return StoredContact(
        id=row[1],
        name=row[2],
        language=row[3],
        timezone=row[4],
        groups=tuple(json.loads(row[5])),
        channels=tuple(json.loads(row[6])),
    )


def _values(contact: StoredContact, now: datetime) -> dict[str, Any]:
    return {
        "c_id": contact.id,
        "c_name": contact.name,
        "c_language": contact.language,
        "c_timezone": contact.timezone,
        "c_groups": json.dumps(list(contact.groups), ensure_ascii=False),
        "c_channels": json.dumps([dict(c) for c in contact.channels], ensure_ascii=False),
        "c_updated_at": now,
    }


class ContactRows:
    """The store's address book (mixed into :class:`~failover.store.Store`)."""

    _engine: Engine

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _translate(self, action: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def contact_count(self) -> int:
        """How many contacts were imported."""
        with self._translate("cannot read the address book"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.contacts)).scalar_one())

    def stored_contacts(self, *, groups: Collection[str] | None = None) -> Iterator[StoredContact]:
        """Every imported contact in import order (of ``groups`` only, when given), read a
        page at a time."""
        wanted = None if groups is None else set(groups)
        after = 0
        while True:
            with self._translate("cannot read the address book"), self._engine.connect() as conn:
                rows = conn.execute(
                    select(*_COLUMNS).where(_c.seq > after).order_by(_c.seq).limit(PAGE)
                ).all()
            for row in rows:
                contact = _stored(row)
                if wanted is None or wanted.intersection(contact.groups):
                    yield contact
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def contact_names(self) -> Iterator[tuple[str, str]]:
        """Every imported contact's id and name, in import order, a page at a time."""
        after = 0
        while True:
            with self._translate("cannot read the address book"), self._engine.connect() as conn:
                rows = conn.execute(
                    select(_c.seq, _c.id, _c.name).where(_c.seq > after).order_by(_c.seq).limit(PAGE)
                ).all()
            for row in rows:
                yield row[1], row[2]
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def stored_contacts_by_id(self, ids: Collection[str]) -> dict[str, StoredContact]:
        """The imported contacts of these ids (those that exist)."""
        wanted = sorted(set(ids))
        found: dict[str, StoredContact] = {}
        with self._translate("cannot read the address book"), self._engine.connect() as conn:
            for start in range(0, len(wanted), _IDS_AT_ONCE):
                chunk = wanted[start : start + _IDS_AT_ONCE]
                for row in conn.execute(_BY_IDS, {"ids": chunk}):
                    found[row[1]] = _stored(row)
        return found

    def save_contacts(
        self,
        *,
        added: Sequence[StoredContact] = (),
        changed: Sequence[StoredContact] = (),
        removed: Collection[str] = (),
        now: datetime,
    ) -> None:
        """One import, in one transaction: ``added`` appended in order, ``changed`` rewritten
        in place (by id, keeping their order), ``removed`` deleted. All or nothing."""
        with self._translate("cannot write the address book"), self._write() as conn:
            if removed:
                ids = sorted(set(removed))
                for start in range(0, len(ids), _IDS_AT_ONCE):
                    conn.execute(delete(t.contacts).where(_c.id.in_(ids[start : start + _IDS_AT_ONCE])))
            if changed:
                # a renamed contact may take a name another one gives up in the same import:
                # names are parked on the id first, which no other name can equal
                conn.execute(
                    update(t.contacts).where(_c.id == bindparam("c_id")).values(name=bindparam("c_park")),
                    [{"c_id": contact.id, "c_park": "\x1f" + contact.id} for contact in changed],
                )
                conn.execute(
                    update(t.contacts)
                    .where(_c.id == bindparam("c_id"))
                    .values(
                        name=bindparam("c_name"),
                        language=bindparam("c_language"),
                        timezone=bindparam("c_timezone"),
                        groups=bindparam("c_groups"),
                        channels=bindparam("c_channels"),
                        updated_at=bindparam("c_updated_at"),
                    ),
                    [_values(contact, now) for contact in changed],
                )
            if added:
                conn.execute(
                    t.contacts.insert().values(
                        id=bindparam("c_id"),
                        name=bindparam("c_name"),
                        language=bindparam("c_language"),
                        timezone=bindparam("c_timezone"),
                        groups=bindparam("c_groups"),
                        channels=bindparam("c_channels"),
                        updated_at=bindparam("c_updated_at"),
                    ),
                    [_values(contact, now) for contact in added],
                )
