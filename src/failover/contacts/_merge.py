"""What an import changes in the address book: the contacts read, merged with those
imported before (handed in; this module opens no database), checked against the
configuration. Writing the result, in one transaction, is the caller's.

An imported contact is matched with one already imported by its id when the file gives
one (``id``, ``X-FAILOVER-ID``), else by its name. A match is updated with what the file
says, and keeps what the file does not say (a language or time zone that would only be a
default, its groups when the file gives none, its channels other than e-mail and Signal).
A match by name that shares no e-mail address or phone number with the contact is another
person of the same name, or the same person with every address changed: failover cannot
tell, and refuses unless ``replace`` (the contact is then replaced whole).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from failover.config import Config, contact_id, stored_entry_problems
from failover.contacts._check import ERRORS_SHOWN, ImportedContact, ParsedContacts
from failover.contacts._export import url_recipients
from failover.domain import StoredContact
from failover.errors import ContactImportError

__all__ = ["Change", "ImportPlan", "check_importable", "plan_import"]

#: how the address book is named in what an import says
BOOK = "the address book"


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One contact of the address book that an import adds, changes or replaces."""

    id: str
    where: str
    kind: Literal["added", "updated", "replaced"]
    #: the fields that change (for "updated")
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportPlan:
    """What importing a file changes in the address book, checked and ready to write."""

    #: one per contact of the file that the address book does not hold as it is
    changes: tuple[Change, ...]
    #: the contacts to add, and the contacts held before as they become
    added: tuple[StoredContact, ...]
    changed: tuple[StoredContact, ...]
    #: how many contacts the address book held before
    stored: int


def entry_id(entry: Mapping[str, Any]) -> str:
    """An entry's id: written, or derived from its name as the configuration does."""
    return str(entry.get("id") or contact_id(str(entry.get("name", ""))))


def _entry_of(stored: StoredContact) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": stored.id, "name": stored.name, "language": stored.language}
    if stored.timezone is not None:
        entry["timezone"] = stored.timezone
    entry["groups"] = list(stored.groups)
    entry["channels"] = [dict(channel) for channel in stored.channels]
    return entry


def _stored_of(entry: Mapping[str, Any]) -> StoredContact:
    timezone = entry.get("timezone")
    return StoredContact(
        id=entry_id(entry),
        name=str(entry["name"]),
        language=str(entry.get("language", "en")),
        timezone=None if timezone is None else str(timezone),
        groups=tuple(str(group) for group in entry.get("groups", [])),
        channels=tuple(dict(channel) for channel in entry.get("channels", [])),
    )


class _Book:
    """The imported address book as an import changes it: read once, changed in memory,
    and what changed written back in one transaction."""

    def __init__(self, stored: Iterable[StoredContact]) -> None:
        self.entries: list[dict[str, Any]] = [_entry_of(contact) for contact in stored]
        self.stored = len(self.entries)
        self.changed: set[int] = set()

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def replace(self, index: int, entry: dict[str, Any]) -> None:
        self.entries[index] = entry
        if index < self.stored:
            self.changed.add(index)

    def result(self) -> list[dict[str, Any]]:
        return self.entries

    def added(self) -> list[dict[str, Any]]:
        return self.entries[self.stored :]

    def updated(self) -> list[dict[str, Any]]:
        return [self.entries[index] for index in sorted(self.changed)]


def _channels(contact: ImportedContact, prefer: Literal["signal", "email"]) -> list[dict[str, str]]:
    channels = [{"signal": contact.phone}] if contact.phone else []
    if contact.email:
        channels.insert(0 if prefer == "email" else len(channels), {"email": contact.email})
    return channels


def _entry(
    contact: ImportedContact, *, prefer: Literal["signal", "email"], id_: str | None = None
) -> dict[str, Any]:
    return {
        "id": id_ or contact.id,
        "name": contact.name,
        "language": contact.language,
        "timezone": contact.timezone,
        "groups": list(contact.groups),
        "channels": _channels(contact, prefer),
    }


def _kind(channel: Any) -> str | None:
    if isinstance(channel, Mapping):
        return next((k for k in ("email", "signal") if k in channel), None)
    return None


def _merged(
    entry: Mapping[str, Any], contact: ImportedContact, *, prefer: Literal["signal", "email"]
) -> dict[str, Any]:
    """``entry`` updated with what the file says of it: values the file did not give
    (defaults, no groups, no phone) leave the entry's as they were; channels other than
    ``email`` and ``signal`` are kept where they were."""
    new = dict(entry)
    new["name"] = contact.name
    for key, value in (("language", contact.language), ("timezone", contact.timezone)):
        if key not in contact.defaulted:
            new[key] = value
    old_groups = [str(g) for g in entry.get("groups", [])]
    groups = (
        list(contact.groups) if contact.has_groups else list(dict.fromkeys([*old_groups, *contact.groups]))
    )
    if groups != old_groups or "groups" in entry:
        new["groups"] = groups
    imported = {"signal": contact.phone, "email": contact.email}
    channels: list[Any] = []
    placed: set[str] = set()
    for channel in entry.get("channels", []):
        kind = _kind(channel)
        if kind is None or not imported[kind]:
            channels.append(channel)
        elif kind not in placed:
            placed.add(kind)
            channels.append(channel if channel[kind] == imported[kind] else {kind: imported[kind]})
    for channel in _channels(contact, prefer):
        kind = next(iter(channel))
        if kind not in placed:
            channels.append(channel)
    new["channels"] = channels
    return new


def _reached(entry: Mapping[str, Any]) -> set[str]:
    """The addresses and numbers an entry's channels reach (e-mail addresses lower-cased)."""
    reached: set[str] = set()
    for channel in entry.get("channels", []):
        if not isinstance(channel, Mapping):
            continue
        for key in ("email", "signal"):
            if isinstance(channel.get(key), str):
                reached.add(channel[key])
        if isinstance(channel.get("url"), str):
            reached.update(url_recipients(channel["url"]))
    return {value.lower() if "@" in value else value for value in reached}


def _plan(
    contacts: Sequence[ImportedContact],
    file: _Book,
    config: Config,
    *,
    prefer: Literal["signal", "email"],
    replace: bool,
) -> list[Change]:
    """Record in ``file`` (the address book) what importing ``contacts`` changes; the
    changes, one per contact."""
    index_by_id = {entry_id(entry): index for index, entry in enumerate(file.entries)}
    index_by_name = {str(entry.get("name")): index for index, entry in enumerate(file.entries)}
    # contacts written in the configuration (which win over an imported one of their id)
    elsewhere = {c.id: c.name for c in config.contacts}
    elsewhere_names = set(elsewhere.values())
    changes: list[Change] = []
    added: dict[str, str] = {}  # id → the row that adds it
    namesakes: list[str] = []
    taken: dict[int, str] = {}
    for contact in contacts:
        if contact.id in elsewhere:
            outside = "a contact written in the configuration"
            raise ContactImportError(f"{contact.where}: id: '{contact.id}' belongs to {outside}")
        if contact.name in elsewhere_names:
            raise ContactImportError(f"{contact.where}: name: a contact written in the configuration has it")
        index = index_by_id.get(contact.id) if contact.explicit_id else index_by_name.get(contact.name)
        if index is None:
            if contact.id in added:
                raise ContactImportError(f"{contact.where}: id: '{contact.id}' is also {added[contact.id]}'s")
            if contact.id in index_by_id:
                # a contact renamed by an earlier import (by its id) keeps the id of its old name
                raise ContactImportError(
                    f"{contact.where}: id: '{contact.id}' belongs to another contact of {BOOK} "
                    "(renamed since): give this one an id of its own"
                )
            added[contact.id] = contact.where
            file.add(_entry(contact, prefer=prefer))
            changes.append(Change(id=contact.id, where=contact.where, kind="added"))
            continue
        entry = file.entries[index]
        existing = entry_id(entry)
        if index in taken:
            raise ContactImportError(
                f"{contact.where}: contact {existing} is also imported from {taken[index]}"
            )
        taken[index] = contact.where
        ours = {v.lower() if "@" in v else v for v in (contact.email, contact.phone) if v}
        if not contact.explicit_id and not (_reached(entry) & ours):
            if not replace:
                namesakes.append(
                    f"{contact.where}: contact {existing} in {BOOK} has this name, and none of "
                    "these addresses or numbers"
                )
                continue
            file.replace(
                index, _entry(contact, prefer=prefer, id_=str(entry["id"]) if "id" in entry else existing)
            )
            changes.append(Change(id=existing, where=contact.where, kind="replaced"))
            continue
        new = _merged(entry, contact, prefer=prefer)
        if new != entry:
            file.replace(index, new)
            fields = tuple(
                k
                for k in ("name", "language", "timezone", "groups", "channels")
                if new.get(k) != entry.get(k)
            )
            changes.append(Change(id=existing, where=contact.where, kind="updated", fields=fields))
    if namesakes:
        more = f" (and {len(namesakes) - ERRORS_SHOWN} more)" if len(namesakes) > ERRORS_SHOWN else ""
        raise ContactImportError(
            "; ".join(namesakes[:ERRORS_SHOWN]) + more + ": another person of the same name? Names are "
            "unique: tell them apart in the file, or give --replace to replace the contact"
        )
    names = Counter(str(entry.get("name")) for entry in file.result())
    for contact in contacts:
        if names[contact.name] > 1:
            raise ContactImportError(f"{contact.where}: name: another contact of {BOOK} has it")
    return changes


def check_importable(parsed: ParsedContacts, config: Config) -> None:
    """Raise :class:`ContactImportError` when what was read gives nothing to import, or
    e-mail addresses that no configured mail server could send to."""
    if not parsed.contacts:
        first = f"; the first: {parsed.warnings[0]}" if parsed.warnings else ""
        raise ContactImportError(f"no contact to import ({parsed.skipped} skipped{first})")
    if any(c.email for c in parsed.contacts) and config.notify.smtp_url is None:
        raise ContactImportError(
            "the file has e-mail addresses, and no [notify] smtp_url is configured to send them through"
        )


def plan_import(
    contacts: Sequence[ImportedContact],
    stored: Iterable[StoredContact],
    config: Config,
    *,
    prefer: Literal["signal", "email"] = "signal",
    replace: bool = False,
) -> ImportPlan:
    """What importing ``contacts`` into an address book holding ``stored`` changes, each
    contact added or changed checked as the configuration checks an imported one. Raises
    :class:`ContactImportError` naming the rows (then nothing may be written)."""
    book = _Book(stored)
    changes = _plan(contacts, book, config, prefer=prefer, replace=replace)
    added, updated = book.added(), book.updated()
    where_of = {change.id: change.where for change in changes}
    problems = stored_entry_problems(
        config, ((where_of.get(entry_id(e), "?"), e) for e in [*added, *updated])
    )
    if problems:
        more = f" (and {len(problems) - ERRORS_SHOWN} more)" if len(problems) > ERRORS_SHOWN else ""
        raise ContactImportError("; ".join(problems[:ERRORS_SHOWN]) + more)
    return ImportPlan(
        changes=tuple(changes),
        added=tuple(_stored_of(e) for e in added),
        changed=tuple(_stored_of(e) for e in updated),
        stored=book.stored,
    )
