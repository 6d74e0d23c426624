"""Contacts in and out: ``contacts import`` (an address book into the database),
``contacts export`` (back out as CSV or vCard 4.0, which import reads back) and ``contacts
list`` (personal data only on request).

Reading the formats is :mod:`failover.service._address_book`'s (CSV) and
:mod:`failover.service._vcard`'s; checking what was read against the configuration,
:mod:`failover.service._contacts_check`'s. Here: what an import changes, written in one
transaction (:meth:`failover.store.Store.save_contacts`): all of it or, on any error,
nothing.

An imported contact is matched with one already imported by its id when the file gives
one (``id``, ``X-FAILOVER-ID``), else by its name. A match is updated with what the file
says, and keeps what the file does not say (a language or time zone that would only be a
default, its groups when the file gives none, its channels other than e-mail and Signal).
A match by name that shares no e-mail address or phone number with the contact is another
person of the same name, or the same person with every address changed: failover cannot
tell, and refuses unless ``replace`` (the contact is then replaced whole).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from failover.config import Config, contact_id, stored_entry_problems
from failover.domain import StoredContact
from failover.errors import ContactImportError
from failover.logs import get_logger
from failover.notify import channel_scheme
from failover.service._address_book import AddressBook, csv_text, decode, read_csv
from failover.service._contacts_check import (
    ERRORS_SHOWN,
    ImportedContact,
    ParsedContacts,
    parse_address_book,
    parse_contacts_csv,
    parse_vcards,
)
from failover.service._database import open_store
from failover.service._runtime import utc_now
from failover.service._vcard import read_vcards, vcard_text
from failover.store import Store

__all__ = [
    "Change",
    "ContactRow",
    "ExportReport",
    "ImportReport",
    "ImportedContact",
    "ParsedContacts",
    "contact_rows",
    "export_contacts",
    "import_contacts",
    "parse_contacts_csv",
    "parse_vcards",
]

ContactFormat = Literal["csv", "vcard"]
Progress = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One contact of the address book that an import adds, changes or replaces."""

    id: str
    where: str
    kind: Literal["added", "updated", "replaced"]
    #: the fields that change (for "updated")
    fields: tuple[str, ...] = ()


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


# ----------------------------------------------------------------------------- import

#: how the address book is named in what an import says
BOOK = "the address book"


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


def _format_of(source: Path) -> ContactFormat:
    suffix = source.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".vcf", ".vcard"):
        return "vcard"
    raise ContactImportError("cannot tell the format from the file's name; give --format csv|vcard")


def read_address_book(
    source: Path,
    *,
    fmt: ContactFormat | None = None,
    encoding: str | None = None,
    progress: Progress | None = None,
) -> AddressBook:
    """The address book in ``source`` (format from its name unless ``fmt``)."""
    kind = fmt or _format_of(source)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise ContactImportError("file not found") from None
    except OSError as exc:
        raise ContactImportError(f"cannot read ({exc.strerror or 'error'})") from None
    text, encoding_name = decode(data, encoding)
    book = read_csv(text, progress=progress) if kind == "csv" else read_vcards(text, progress=progress)
    return dataclasses.replace(book, encoding=encoding_name)


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


def _url_recipients(url: str) -> set[str]:
    recipient = _recipient(url)
    return set() if recipient == "(in the URL)" else {r.strip() for r in recipient.split(",") if r.strip()}


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
            reached.update(_url_recipients(channel["url"]))
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
    if not parsed.contacts:
        first = f"; the first: {parsed.warnings[0]}" if parsed.warnings else ""
        raise ContactImportError(f"no contact to import ({parsed.skipped} skipped{first})")
    if any(c.email for c in parsed.contacts) and config.notify.smtp_url is None:
        raise ContactImportError(
            "the file has e-mail addresses, and no [notify] smtp_url is configured to send them through"
        )
    # a dry run creates no database to find out that it holds nothing
    store = (
        Store.open_existing(config.daemon.database_url, table="contacts") if dry_run else open_store(config)
    )
    try:
        where = store.url if store is not None else Store.shown_url(config.daemon.database_url)
        stored = _Book(store.stored_contacts() if store is not None else ())
        changes = _plan(parsed.contacts, stored, config, prefer=prefer, replace=replace)
        added, updated = stored.added(), stored.updated()
        where_of = {change.id: change.where for change in changes}
        problems = stored_entry_problems(
            config, ((where_of.get(entry_id(e), "?"), e) for e in [*added, *updated])
        )
        if problems:
            more = f" (and {len(problems) - ERRORS_SHOWN} more)" if len(problems) > ERRORS_SHOWN else ""
            raise ContactImportError("; ".join(problems[:ERRORS_SHOWN]) + more)
        counts = Counter(change.kind for change in changes)
        if not dry_run and store is not None and changes:
            store.save_contacts(
                added=[_stored_of(e) for e in added], changed=[_stored_of(e) for e in updated], now=utc_now()
            )
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
    return ImportReport(
        where=where,
        added=counts["added"],
        updated=counts["updated"],
        replaced=counts["replaced"],
        unchanged=len(parsed.contacts) - len(changes),
        kept=stored.stored - touched - (len(parsed.contacts) - len(changes)),
        phones_left_out=parsed.phones_left_out,
        written=not dry_run and bool(changes),
        changes=tuple(changes),
        parsed=parsed,
    )


# ----------------------------------------------------------------------------- export


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportReport:
    """An address book written from the configured contacts."""

    text: str
    contacts: int
    #: channels that neither format holds (apprise URLs other than e-mail and Signal)
    channels_left_out: int


def _unicode_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if "xn--" not in domain.lower():
        return address
    import idna

    try:
        return f"{local}@{idna.decode(domain)}"
    except idna.IDNAError:
        return address


def export_contacts(config: Config, fmt: ContactFormat) -> ExportReport:
    """The configured contacts as failover's CSV (one e-mail address and one phone number
    each: the first) or vCard 4.0 (all, in order of preference), which import reads back."""
    records: list[dict[str, Any]] = []
    left_out = 0
    for contact in config.everyone():
        emails: list[str] = []
        phones: list[str] = []
        for channel in contact.channels:
            scheme = channel_scheme(channel.url)
            recipients = sorted(_url_recipients(channel.url))
            if scheme in ("mailto", "mailtos") and len(recipients) == 1:
                emails.append(_unicode_email(recipients[0]))
            elif scheme in ("signal", "signals") and len(recipients) == 1:
                phones.append(recipients[0])
            else:
                left_out += 1
        records.append(
            {
                "id": contact.id,
                "name": contact.name,
                "language": contact.language,
                "timezone": contact.timezone,
                "groups": list(contact.groups),
                "emails": emails,
                "phones": phones,
            }
        )
    if fmt == "vcard":
        text = vcard_text(records)
    else:
        rows = []
        for record in records:
            left_out += max(len(record["emails"]) - 1, 0) + max(len(record["phones"]) - 1, 0)
            rows.append(
                {
                    **{key: record[key] for key in ("id", "name", "language", "timezone")},
                    "groups": ";".join(record["groups"]),
                    "email": next(iter(record["emails"]), ""),
                    "phone": next(iter(record["phones"]), ""),
                }
            )
        text = csv_text(rows)
    return ExportReport(text=text, contacts=len(records), channels_left_out=left_out)


# --------------------------------------------------------------------------------- list


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactRow:
    """One contact as ``contacts list`` shows it; ``name`` and ``recipients`` only on request."""

    id: str
    language: str
    timezone: str
    groups: tuple[str, ...]
    #: each channel as ``scheme`` (and, with personal data, ``scheme: recipient``)
    channels: tuple[str, ...]
    name: str | None = None


def _recipient(url: str) -> str:
    parts = urlsplit(url)
    scheme = channel_scheme(url)
    if scheme in ("mailto", "mailtos"):
        # a '+' in a query is a space to parse_qs, and part of an address here (alice+news@)
        to = parse_qs(parts.query.replace("+", "%2B")).get("to")
        if to:
            return unquote(to[-1])
        return unquote(parts.path.strip("/"))
    if scheme in ("signal", "signals"):
        segments = [unquote(s) for s in parts.path.split("/") if s]
        return ", ".join(segments[1:])  # the first is the sending number
    return "(in the URL)"


def contact_rows(config: Config, *, show_personal: bool = False) -> list[ContactRow]:
    """Every contact, ids and settings only unless ``show_personal``."""
    rows = []
    for contact in config.everyone():
        channels = tuple(
            f"{channel_scheme(c.url)}: {_recipient(c.url)}" if show_personal else channel_scheme(c.url)
            for c in contact.channels
        )
        rows.append(
            ContactRow(
                id=contact.id,
                language=contact.language,
                timezone=contact.timezone,
                groups=contact.groups,
                channels=channels,
                name=contact.name if show_personal else None,
            )
        )
    return rows
