"""``contacts import``: an address book into the database, in one transaction
(:meth:`failover.store.Store.save_contacts`): all of it or, on any error, nothing.

Reading, checking and merging the file are :mod:`failover.contacts`'s, as are ``contacts
export`` and ``contacts list``; here the address book is read from the configured database
and what the import changes is written back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from failover.config import Config
from failover.contacts import (
    Change,
    ContactFormat,
    ParsedContacts,
    check_importable,
    parse_address_book,
    plan_import,
    read_address_book,
)
from failover.logs import get_logger
from failover.service._database import open_store
from failover.service._runtime import utc_now
from failover.store import Store

__all__ = ["ImportReport", "import_contacts"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    #: the database the address book is in (password hidden)
    where: str
    added: int
    updated: int
    #: contacts of the address book this import did not touch
    kept: int
    #: phone numbers not imported because no ``[notify] signal_url`` is configured
    phones_left_out: int
    written: bool
    #: imported contacts already in the address book as they are
    unchanged: int = 0
    replaced: int = 0
    changes: tuple[Change, ...] = ()
    parsed: ParsedContacts | None = None


def import_contacts(
    config: Config,
    source: Path,
    *,
    fmt: ContactFormat | None = None,
    dry_run: bool = False,
    prefer: Literal["signal", "email"] = "signal",
    replace: bool = False,
    strict: bool = False,
    region: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    groups: Sequence[str] = (),
    encoding: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read contacts from a CSV or vCard file and merge them into the address book in the
    configured database, in one transaction. Raises :class:`ContactImportError` (then
    nothing was written) or :class:`~failover.errors.StoreError`.
    ``progress(done, total)`` is called as the file is read."""
    book = read_address_book(source, fmt=fmt, encoding=encoding, progress=progress)
    parsed = parse_address_book(
        book, config, strict=strict, region=region, language=language, timezone=timezone, groups=groups
    )
    check_importable(parsed, config)
    # a dry run creates no database to find out that it holds nothing
    store = (
        Store.open_existing(config.daemon.database_url, table="contacts") if dry_run else open_store(config)
    )
    try:
        where = store.url if store is not None else Store.shown_url(config.daemon.database_url)
        stored = store.stored_contacts() if store is not None else ()
        plan = plan_import(parsed.contacts, stored, config, prefer=prefer, replace=replace)
        counts = Counter(change.kind for change in plan.changes)
        if not dry_run and store is not None and plan.changes:
            store.save_contacts(added=plan.added, changed=plan.changed, now=utc_now())
            get_logger("failover.contacts").info(
                "contacts_imported",
                layout=parsed.layout,
                added=counts["added"],
                updated=counts["updated"],
                replaced=counts["replaced"],
                skipped=parsed.skipped,
                warnings=len(parsed.warnings),
            )
    finally:
        if store is not None:
            store.close()
    touched = counts["updated"] + counts["replaced"]
    unchanged = len(parsed.contacts) - len(plan.changes)
    return ImportReport(
        where=where,
        added=counts["added"],
        updated=counts["updated"],
        replaced=counts["replaced"],
        unchanged=unchanged,
        kept=plan.stored - touched - unchanged,
        phones_left_out=parsed.phones_left_out,
        written=not dry_run and bool(plan.changes),
        changes=plan.changes,
        parsed=parsed,
    )
