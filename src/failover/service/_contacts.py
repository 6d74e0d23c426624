"""Contacts in and out: ``contacts import`` (CSV and vCard 3/4 into the contacts file) and
``contacts list`` (personal data only on request).

Import mapping, for both formats:

- the contact's id: CSV ``id`` / vCard ``X-FAILOVER-ID``; default a short hash of the name
- name: CSV ``name`` / vCard ``FN`` (required)
- language: CSV ``language`` / vCard ``LANG`` (``fr`` or ``en``, a region such as
  ``fr-FR`` is dropped; default ``en``)
- time zone: CSV ``timezone`` / vCard ``TZ`` (an IANA name; default ``UTC``)
- groups: CSV ``groups`` (``;``-separated) / vCard ``CATEGORIES``; each must be configured
- e-mail: CSV ``email`` / vCard ``EMAIL`` (the preferred one) → an ``email`` channel, sent
  through ``[notify] smtp_url``
- phone: CSV ``phone`` / vCard ``TEL`` (the preferred, else the first mobile, else the first)
  → a ``signal`` channel, sent through ``[notify] signal_url``; left out (and counted)
  when no ``signal_url`` is configured

Channels are written Signal first, then e-mail (``prefer="email"`` reverses that): failover
falls over to the e-mail when Signal is down or fails. Errors name the row (CSV, the header
being row 1) or the line (vCard) and the field, never the value. Nothing is written unless
the whole file is valid; the contacts file is replaced atomically (temporary file, then
rename), merged with what it held: an imported id replaces the entry with that id, others
are kept.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from failover.config import (
    BUILTIN_SOURCE,
    DEFAULT_CONTACTS_FILE,
    Config,
    check_email,
    check_phone,
    contact_id,
)
from failover.errors import ContactImportError
from failover.logs import get_logger
from failover.notify import channel_scheme

__all__ = [
    "ContactRow",
    "ImportReport",
    "ImportedContact",
    "contact_rows",
    "import_contacts",
    "parse_contacts_csv",
    "parse_vcards",
]

ContactFormat = Literal["csv", "vcard"]
_CSV_COLUMNS = ("id", "name", "language", "timezone", "groups", "email", "phone")
_LANGUAGES = ("fr", "en")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HEADER = "# Contacts of failover, written by `failover contacts import` (merged by id).\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportedContact:
    """One contact read from a file, checked, before it becomes a ``[[contacts]]`` entry."""

    id: str
    name: str
    language: str = "en"
    timezone: str = "UTC"
    groups: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    #: where it was read ("row 7", "line 12"), for errors
    where: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    path: Path
    added: int
    updated: int
    kept: int
    #: phone numbers not imported because no ``[notify] signal_url`` is configured
    phones_left_out: int
    written: bool
    #: the configuration names no ``contacts_file``: add one for it to be read
    needs_contacts_file: bool = False


# ------------------------------------------------------------------------------ checks


@dataclass(slots=True)
class _Checker:
    """Checks one imported contact's fields against the configuration."""

    config: Config
    errors: list[str] = field(default_factory=list)

    def language(self, value: str, where: str, field_name: str) -> str:
        if not value.strip():
            return "en"
        primary = value.strip().lower().replace("_", "-").split("-")[0]
        if primary not in _LANGUAGES:
            raise ContactImportError(f"{where}: {field_name}: unsupported language (expected fr or en)")
        return primary

    def timezone(self, value: str, where: str, field_name: str) -> str:
        if not value.strip():
            return "UTC"
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ContactImportError(
                f"{where}: {field_name}: unknown time zone (expected an IANA name such as Europe/Paris)"
            ) from None
        return value.strip()

    def groups(self, values: Iterable[str], where: str, field_name: str) -> tuple[str, ...]:
        groups = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
        for group in groups:
            if group not in self.config.groups:
                # group names are configuration, not personal data
                raise ContactImportError(f"{where}: {field_name}: unknown group '{group}'")
        return groups

    def email(self, value: str, where: str, field_name: str) -> str | None:
        if not value.strip():
            return None
        try:
            return check_email(value)
        except ValueError:
            raise ContactImportError(f"{where}: {field_name}: not an e-mail address") from None

    def phone(self, value: str, where: str, field_name: str) -> str | None:
        if not value.strip():
            return None
        try:
            return check_phone(value.strip().removeprefix("tel:"))
        except ValueError:
            raise ContactImportError(
                f"{where}: {field_name}: not an international phone number (expected +<country><number>)"
            ) from None

    def identifier(self, value: str, name: str, where: str, field_name: str) -> str:
        if not value.strip():
            return contact_id(name)
        if not _ID.fullmatch(value.strip()):
            raise ContactImportError(
                f"{where}: {field_name}: an id may contain only letters, digits, '_', '-' and '.'"
            )
        return value.strip()


def _check_unique(contacts: Sequence[ImportedContact]) -> None:
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    for contact in contacts:
        if contact.name in names:
            raise ContactImportError(f"{contact.where}: name: the same name as {names[contact.name]}")
        if contact.id in ids:
            raise ContactImportError(
                f"{contact.where}: id: '{contact.id}' is also the id of {ids[contact.id]}"
            )
        names[contact.name] = contact.where
        ids[contact.id] = contact.where


# --------------------------------------------------------------------------------- CSV


def parse_contacts_csv(text: str, config: Config) -> list[ImportedContact]:
    """Contacts from CSV with a header row (columns: name, and any of id, language,
    timezone, groups, email, phone). Raises :class:`ContactImportError` naming the row."""
    check = _Checker(config)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ContactImportError("the file is empty (expected a header row)") from None
    except csv.Error as exc:
        raise ContactImportError(f"row 1: not CSV ({exc})") from None
    columns = [name.strip().lower() for name in header]
    for name in columns:
        if name not in _CSV_COLUMNS:
            raise ContactImportError(f"row 1: unknown column '{name}' (expected {', '.join(_CSV_COLUMNS)})")
    if "name" not in columns:
        raise ContactImportError("row 1: a 'name' column is required")
    if len(set(columns)) != len(columns):
        raise ContactImportError("row 1: a column appears twice")
    contacts: list[ImportedContact] = []
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ContactImportError(f"row {start}: not CSV ({exc})") from None
        where = f"row {start}"
        start = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            raise ContactImportError(f"{where}: expected {len(columns)} fields, found {len(values)}")
        row = dict(zip(columns, values, strict=True))
        name = row["name"].strip()
        if not name:
            raise ContactImportError(f"{where}: name: empty")
        contacts.append(
            ImportedContact(
                id=check.identifier(row.get("id", ""), name, where, "id"),
                name=name,
                language=check.language(row.get("language", ""), where, "language"),
                timezone=check.timezone(row.get("timezone", ""), where, "timezone"),
                groups=check.groups(row.get("groups", "").split(";"), where, "groups"),
                email=check.email(row.get("email", ""), where, "email"),
                phone=check.phone(row.get("phone", ""), where, "phone"),
                where=where,
            )
        )
    _check_unique(contacts)
    return contacts


# ------------------------------------------------------------------------------- vCard


@dataclass(frozen=True, slots=True)
class _Property:
    name: str
    params: Mapping[str, tuple[str, ...]]
    value: str
    line: int

    def preferred(self) -> bool:
        types = {t.lower() for value in self.params.get("TYPE", ()) for t in value.split(",")}
        return "pref" in types or "1" in self.params.get("PREF", ())

    def has_type(self, wanted: str) -> bool:
        return wanted in {t.lower() for value in self.params.get("TYPE", ()) for t in value.split(",")}


def _unfold(text: str) -> list[tuple[int, str]]:
    """Logical lines with the number of their first physical line (RFC 6350 §3.2)."""
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if line[:1] in (" ", "\t") and lines:
            first, so_far = lines[-1]
            lines[-1] = (first, so_far + line[1:])
        else:
            lines.append((number, line))
    return lines


def _split_property(line: str, number: int) -> _Property:
    quoted = False
    colon = -1
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            colon = index
            break
    if colon <= 0:
        raise ContactImportError(f"line {number}: not a vCard property (expected NAME:value)")
    head, value = line[:colon], line[colon + 1 :]
    name, *raw_params = head.split(";")
    name = name.rsplit(".", 1)[-1].upper()  # "item1.EMAIL" → EMAIL
    if not re.fullmatch(r"[A-Z0-9-]+", name):
        raise ContactImportError(f"line {number}: not a vCard property name")
    params: dict[str, tuple[str, ...]] = {}
    for raw in raw_params:
        key, equals, param_value = raw.partition("=")
        if not equals:  # vCard 2.1's bare "TYPE" values
            key, param_value = "TYPE", key
        params[key.upper()] = (*params.get(key.upper(), ()), param_value.strip('"'))
    if any("QUOTED-PRINTABLE" in v.upper() for v in params.get("ENCODING", ())):
        raise ContactImportError(f"line {number}: {name}: quoted-printable (vCard 2.1) is not supported")
    return _Property(name=name, params=params, value=value, line=number)


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def _split_list(value: str) -> list[str]:
    return [_unescape(part) for part in re.split(r"(?<!\\),", value)]


def _pick(properties: Sequence[_Property], *, fallback_type: str | None = None) -> _Property | None:
    for prop in properties:
        if prop.preferred():
            return prop
    if fallback_type:
        for prop in properties:
            if prop.has_type(fallback_type):
                return prop
    return properties[0] if properties else None


def parse_vcards(text: str, config: Config) -> list[ImportedContact]:
    """Contacts from vCard 3.0 or 4.0 text (one or more cards). Raises
    :class:`ContactImportError` naming the line and the property."""
    check = _Checker(config)
    contacts: list[ImportedContact] = []
    card: list[_Property] | None = None
    begin = 0
    for number, line in _unfold(text):
        if not line.strip():
            continue
        prop = _split_property(line, number)
        if prop.name == "BEGIN" and prop.value.strip().upper() == "VCARD":
            if card is not None:
                raise ContactImportError(f"line {number}: BEGIN:VCARD inside a card (END:VCARD missing)")
            card, begin = [], number
            continue
        if card is None:
            raise ContactImportError(f"line {number}: expected BEGIN:VCARD")
        if prop.name == "END" and prop.value.strip().upper() == "VCARD":
            contacts.append(_card(card, begin, check))
            card = None
            continue
        card.append(prop)
    if card is not None:
        raise ContactImportError(f"line {begin}: card without END:VCARD")
    if not contacts:
        raise ContactImportError("no vCard found (expected BEGIN:VCARD … END:VCARD)")
    _check_unique(contacts)
    return contacts


def _card(properties: Sequence[_Property], begin: int, check: _Checker) -> ImportedContact:
    by_name: dict[str, list[_Property]] = {}
    for prop in properties:
        by_name.setdefault(prop.name, []).append(prop)
    where = f"line {begin}"
    version = by_name.get("VERSION")
    if not version or version[0].value.strip() not in ("3.0", "4.0"):
        raise ContactImportError(f"{where}: VERSION: expected 3.0 or 4.0")
    names = by_name.get("FN")
    if not names or not _unescape(names[0].value).strip():
        raise ContactImportError(f"{where}: FN: a formatted name is required")
    name = _unescape(names[0].value).strip()

    def located(prop: _Property | None) -> str:
        return f"line {prop.line}" if prop else where

    email = _pick(by_name.get("EMAIL", []))
    phone = _pick(by_name.get("TEL", []), fallback_type="cell")
    language = _pick(by_name.get("LANG", []))
    zone = by_name.get("TZ", [None])[0]
    ids = by_name.get("X-FAILOVER-ID", [None])[0]
    groups = [g for prop in by_name.get("CATEGORIES", []) for g in _split_list(prop.value)]
    categories = by_name.get("CATEGORIES", [None])[0]
    return ImportedContact(
        id=check.identifier(_unescape(ids.value) if ids else "", name, located(ids), "X-FAILOVER-ID"),
        name=name,
        language=check.language(language.value if language else "", located(language), "LANG"),
        timezone=check.timezone(_unescape(zone.value) if zone else "", located(zone), "TZ"),
        groups=check.groups(groups, located(categories), "CATEGORIES"),
        email=check.email(_unescape(email.value) if email else "", located(email), "EMAIL"),
        phone=check.phone(phone.value if phone else "", located(phone), "TEL"),
        where=where,
    )


# -------------------------------------------------------------------------- the file


def _toml_string(value: str) -> str:
    # JSON's escapes are TOML's; TOML also wants DEL escaped
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ContactImportError(f"the contacts file holds a value that cannot be kept ({type(value).__name__})")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def render_contacts_file(entries: Sequence[Mapping[str, Any]]) -> str:
    """``[[contacts]]`` tables, each with its ``[[contacts.channels]]``."""
    out = [_HEADER]
    for entry in entries:
        out.append("\n[[contacts]]\n")
        for key, value in entry.items():
            if key != "channels":
                out.append(f"{_toml_key(key)} = {_toml_value(value)}\n")
        for channel in entry.get("channels", []):
            out.append("\n[[contacts.channels]]\n")
            out.extend(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in channel.items())
    return "".join(out)


def _entry(contact: ImportedContact, *, signal: bool, prefer: Literal["signal", "email"]) -> dict[str, Any]:
    channels: list[dict[str, str]] = []
    if contact.phone and signal:
        channels.append({"signal": contact.phone})
    if contact.email:
        channels.insert(0 if prefer == "email" else len(channels), {"email": contact.email})
    return {
        "id": contact.id,
        "name": contact.name,
        "language": contact.language,
        "timezone": contact.timezone,
        "groups": list(contact.groups),
        "channels": channels,
    }


def _existing_entries(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactImportError(f"{path}: cannot read the contacts file ({type(exc).__name__})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise ContactImportError(f"{path}: the contacts file is not valid TOML; fix it first") from None
    entries = raw.get("contacts", [])
    if set(raw) - {"contacts"} or not isinstance(entries, list):
        raise ContactImportError(f"{path}: the contacts file may hold only [[contacts]] tables")
    return [dict(entry) for entry in entries]


def _entry_id(entry: Mapping[str, Any]) -> str:
    return str(entry.get("id") or contact_id(str(entry.get("name", ""))))


def default_contacts_path(config: Config) -> tuple[Path, bool]:
    """Where imported contacts go, and whether the configuration already reads that file."""
    if config.contacts_file is not None:
        return Path(config.contacts_file), True
    base = Path.cwd() if config.source == BUILTIN_SOURCE else Path(config.source).parent
    return base / DEFAULT_CONTACTS_FILE, False


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # personal data: readable by failover's user only
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def import_contacts(
    config: Config,
    source: Path,
    *,
    fmt: ContactFormat | None = None,
    into: Path | None = None,
    dry_run: bool = False,
    prefer: Literal["signal", "email"] = "signal",
) -> ImportReport:
    """Read contacts from a CSV or vCard file and merge them into the contacts file
    (``into``, default the configured ``contacts_file``, else ``contacts.toml`` next to the
    configuration). Raises :class:`ContactImportError`; then nothing was written."""
    kind = fmt or _format_of(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContactImportError(f"{source}: file not found") from None
    except UnicodeDecodeError:
        raise ContactImportError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise ContactImportError(f"{source}: cannot read ({exc.strerror or 'error'})") from None
    contacts = parse_contacts_csv(text, config) if kind == "csv" else parse_vcards(text, config)

    signal = config.notify.signal_url is not None
    if any(c.email for c in contacts) and config.notify.smtp_url is None:
        raise ContactImportError(
            "the file has e-mail addresses, and no [notify] smtp_url is configured to send them through"
        )
    for contact in contacts:
        if not contact.email and not (contact.phone and signal):
            why = "no e-mail address" + ("" if signal else ", and no [notify] signal_url for the phone")
            raise ContactImportError(f"{contact.where}: no channel: {why}")

    path, configured = (into, True) if into is not None else default_contacts_path(config)
    existing = _existing_entries(path)
    existing_ids = {_entry_id(entry) for entry in existing}
    configured_elsewhere = {c.id: c.name for c in config.contacts if c.id not in existing_ids}
    for contact in contacts:
        if contact.id in configured_elsewhere:
            raise ContactImportError(
                f"{contact.where}: id: '{contact.id}' belongs to a contact of the configuration file"
            )
        if contact.name in configured_elsewhere.values():
            raise ContactImportError(f"{contact.where}: name: a contact of the configuration file has it")

    imported = {c.id: _entry(c, signal=signal, prefer=prefer) for c in contacts}
    merged: list[dict[str, Any]] = []
    updated = 0
    for entry in existing:
        replacement = imported.pop(_entry_id(entry), None)
        if replacement is not None:
            updated += 1
        merged.append(replacement or entry)
    added = len(imported)
    merged.extend(imported.values())
    names = [str(entry.get("name")) for entry in merged]
    if len(set(names)) != len(names):
        clash = next(c for c in contacts if names.count(c.name) > 1)
        raise ContactImportError(f"{clash.where}: name: another contact of {path.name} has it")
    rendered = render_contacts_file(merged)
    tomllib.loads(rendered)  # what is written always reads back
    if not dry_run:
        _write_atomically(path, rendered)
        get_logger("failover.contacts").info(
            "contacts_imported", path=str(path), added=added, updated=updated, format=kind
        )
    return ImportReport(
        path=path,
        added=added,
        updated=updated,
        kept=len(existing) - updated,
        phones_left_out=0 if signal else sum(1 for c in contacts if c.phone),
        written=not dry_run,
        needs_contacts_file=not configured,
    )


def _format_of(source: Path) -> ContactFormat:
    suffix = source.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".vcf", ".vcard"):
        return "vcard"
    raise ContactImportError(f"{source.name}: cannot tell the format from the name; give --format csv|vcard")


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
        to = parse_qs(parts.query).get("to")
        if to:
            return unquote(to[-1])
        return unquote(parts.path.strip("/"))
    if scheme in ("signal", "signals"):
        segments = [unquote(s) for s in parts.path.split("/") if s]
        return ", ".join(segments[1:])  # the first is the sending number
    return "(in the URL)"


def contact_rows(config: Config, *, show_personal: bool = False) -> list[ContactRow]:
    """The configured contacts, ids and settings only unless ``show_personal``."""
    rows = []
    for contact in config.contacts:
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
