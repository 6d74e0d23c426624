"""Address books as the tools people use write them: what is read from any of them
(:class:`AddressBook`), the text's encoding, and CSV in and out; no knowledge of failover's
configuration.

What is read, by layout (the header row tells the CSV layouts apart):

- **failover CSV**: columns ``id``, ``name``, ``language``, ``timezone``, ``groups``
  (``;``-separated), ``email``, ``phone``; any other column is an error (a typo is never
  silently ignored). What ``contacts export`` writes.
- **Google Contacts CSV**, both layouts: the one with ``Name``, ``Given Name``, ``Group
  Membership`` and ``E-mail 1 - Type``, and the one with ``First Name``, ``Labels`` and
  ``E-mail 1 - Label``. A cell holds several values separated by `` ::: ``; a label starting
  with ``*`` marks the primary value, and a group label starting with ``*`` is a system
  group (``* myContacts``, ``* starred``), ignored like ``myContacts`` and ``starred``.
- **Outlook CSV** (desktop and Outlook.com): ``First Name``/``Middle Name``/``Last Name``,
  ``E-mail Address`` with its ``E-mail Type`` (``SMTP``; ``EX`` is an Exchange directory
  name, not an address, and is left out), ``E-mail 2``/``3``, the phone columns (``Mobile
  Phone`` first), ``Categories`` (``;``-separated), ``Language``.
- **vCard**: see :mod:`failover.contacts._vcard`.

Text: a byte-order mark decides (UTF-8, UTF-16); else UTF-8 if the bytes are UTF-8, else
Windows-1252 (what Outlook and Excel write on a Western European Windows); ``encoding``
overrides. CSV separator: ``,``, ``;`` (Excel in French, German …) or tab, whichever splits
the header row most. Places are named as ``row N`` (CSV, the header being row 1) or ``line
N`` (vCard); messages name columns and properties, never a value.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from failover.errors import ContactImportError

__all__ = [
    "FAILOVER_COLUMNS",
    "NAMELESS",
    "NOT_SIGNAL",
    "SYSTEM_LABELS",
    "AddressBook",
    "Candidate",
    "GroupCard",
    "Progress",
    "SourceContact",
    "csv_text",
    "decode",
    "nameless",
    "read_csv",
]

FAILOVER_COLUMNS = ("id", "name", "language", "timezone", "groups", "email", "phone")
#: Google's own groups: on every contact, or a flag; never a failover group
SYSTEM_LABELS = frozenset({"mycontacts", "starred", "my contacts", "starred in android"})
_MULTI = " ::: "
NOT_SIGNAL = ("fax", "pager")

Progress = Callable[[int, int], None]
EXCHANGE = "an Exchange directory name (type EX), not an e-mail address; left out"


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One e-mail address or phone number as the source holds it."""

    value: str
    #: the column or property it came from ("E-mail 1 - Value", "TEL")
    source: str
    preferred: bool = False
    #: the source says it is a mobile number (a label or type)
    mobile: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceContact:
    """One person as read, before any check against the configuration."""

    where: str
    name: str
    id: str = ""
    language: str = ""
    timezone: str = ""
    groups: tuple[str, ...] = ()
    emails: tuple[Candidate, ...] = ()
    phones: tuple[Candidate, ...] = ()
    #: vCard UID, for group cards' members
    uid: str = ""
    #: the columns or properties that fed each field ("language": "LANG")
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class GroupCard:
    where: str
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class AddressBook:
    """What a file holds, and how it was read."""

    #: "failover CSV", "Google Contacts CSV", "Outlook CSV", "vCard 3.0" …
    layout: str
    encoding: str
    contacts: tuple[SourceContact, ...]
    #: (failover field, where it came from), for the operator to see
    mapping: tuple[tuple[str, str], ...]
    #: what was left out while reading, each naming the row or line
    warnings: tuple[str, ...] = ()
    group_cards: tuple[GroupCard, ...] = ()
    #: columns or properties read by no field
    ignored: tuple[str, ...] = ()
    #: rows or cards left out while reading (no name)
    skipped: int = 0
    #: failover's own layout: its values are the operator's and must be right
    strict: bool = False
    separator: str = ""


# ---------------------------------------------------------------------------- text


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text of a file and the name of its encoding (see the module's docstring)."""
    boms = [(codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16")]
    boms.append((codecs.BOM_UTF16_BE, "utf-16", "UTF-16"))
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise ContactImportError(f"unknown encoding '{encoding}'") from None
        except UnicodeDecodeError as exc:
            raise ContactImportError(f"not {encoding} text (byte {exc.start})") from None
        return text.removeprefix("\ufeff"), encoding
    for bom, codec, name in boms:
        if data.startswith(bom):
            try:
                return data.decode(codec).removeprefix("\ufeff"), name
            except UnicodeDecodeError as exc:
                raise ContactImportError(f"not {name} text (byte {exc.start})") from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        raise ContactImportError(
            f"neither UTF-8 nor Windows-1252 text (byte {exc.start}); give --encoding"
        ) from None


# ----------------------------------------------------------------------------- CSV


def _separator(text: str) -> str:
    first, quoted = [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            break
        elif not quoted:
            first.append(char)
    counts = Counter(c for c in first if c in ",;\t")
    return max((",", ";", "\t"), key=lambda c: (counts[c], c == ","))


def _rows(text: str, separator: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, values) for each record, blank ones left out; the row is the line
    where the record starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    start = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ContactImportError(f"row {start}: not CSV ({exc})") from None
        row, start = start, reader.line_num + 1
        if any(v.strip() for v in values):
            yield row, values


def read_csv(text: str, *, progress: Progress | None = None) -> AddressBook:
    """Contacts from CSV in any of the layouts the module knows."""
    separator = _separator(text)
    rows = _rows(text, separator)
    try:
        _, header = next(rows)
    except StopIteration:
        raise ContactImportError("the file is empty (expected a header row)") from None
    columns = [name.strip() for name in header]
    lowered = {name.lower() for name in columns}
    if len(lowered) != len(columns):
        raise ContactImportError("row 1: a column appears twice")
    total = max(text.count("\n") - 1, 1)
    layout: _Layout
    if lowered & {"group membership", "labels", "e-mail 1 - value", "phone 1 - value"}:
        layout = _Google(columns)
    elif lowered & {"e-mail address", "mobile phone", "e-mail type"} and lowered & {
        "first name",
        "last name",
    }:
        layout = _Outlook(columns)
    else:
        layout = _Failover(columns)
    contacts: list[SourceContact] = []
    warnings: list[str] = []
    for number, values in rows:
        where = f"row {number}"
        if len(values) > len(columns) or (layout.strict and len(values) != len(columns)):
            raise ContactImportError(f"{where}: expected {len(columns)} fields, found {len(values)}")
        row = dict(zip(columns, [*values, *[""] * (len(columns) - len(values))], strict=True))
        contact = layout.contact(row, where, warnings)
        if contact is not None:
            contacts.append(contact)
        if progress is not None:
            progress(number, total)
    return AddressBook(
        layout=layout.name,
        encoding="",
        contacts=tuple(contacts),
        mapping=layout.mapping(),
        warnings=tuple(warnings),
        ignored=tuple(c for c in columns if c not in layout.used),
        skipped=sum(1 for w in warnings if w.endswith(NAMELESS)),
        strict=layout.strict,
        separator=separator,
    )


class _Layout:
    name = ""
    strict = False

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = {c.lower(): c for c in columns}
        self.used: set[str] = set()

    def column(self, *names: str) -> str | None:
        """The header's spelling of the first of ``names`` it has (marked as used)."""
        for name in names:
            if (found := self.columns.get(name.lower())) is not None:
                self.used.add(found)
                return found
        return None

    def numbered(self, pattern: str) -> list[tuple[str, str | None]]:
        """(value column, label column) for "E-mail 1 - Value", "E-mail 2 - Value" …"""
        found = []
        for lower, column in self.columns.items():
            match = re.fullmatch(pattern.replace("N", r"(\d+)") + " - value", lower)
            if match:
                label = self.column(*(f"{column[: -len('Value')]}{kind}" for kind in ("Label", "Type")))
                self.used.add(column)
                found.append((int(match[1]), column, label))
        return [(column, label) for _, column, label in sorted(found)]

    def contact(self, row: Mapping[str, str], where: str, warnings: list[str]) -> SourceContact | None:
        raise NotImplementedError

    def mapping(self) -> tuple[tuple[str, str], ...]:
        raise NotImplementedError


def _joined(row: Mapping[str, str], columns: Sequence[str | None]) -> str:
    return " ".join(part for c in columns if c and (part := row.get(c, "").strip()))


NAMELESS = ": skipped: no name"


def nameless(where: str, warnings: list[str]) -> None:
    """Note a row or card left out for want of a name."""
    warnings.append(f"{where}{NAMELESS}")


class _Failover(_Layout):
    """failover's own columns: a wrong value raises instead of warning."""

    name = "failover CSV"
    strict = True

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(columns)
        for column in columns:
            if column.lower() not in FAILOVER_COLUMNS:
                raise ContactImportError(
                    f"row 1: unknown column '{column}' (expected {', '.join(FAILOVER_COLUMNS)}, "
                    "or a Google Contacts or Outlook export)"
                )
        if "name" not in self.columns:
            raise ContactImportError("row 1: a 'name' column is required")
        self.used = set(columns)

    def contact(self, row: Mapping[str, str], where: str, warnings: list[str]) -> SourceContact | None:  # noqa: ARG002
        get = {key.lower(): value for key, value in row.items()}.get
        name = (get("name") or "").strip()
        if not name:
            raise ContactImportError(f"{where}: name: empty")
        email, phone = (get("email") or "").strip(), (get("phone") or "").strip()
        return SourceContact(
            where=where,
            name=name,
            id=(get("id") or "").strip(),
            language=(get("language") or "").strip(),
            timezone=(get("timezone") or "").strip(),
            groups=tuple(g.strip() for g in (get("groups") or "").split(";") if g.strip()),
            emails=(Candidate(value=email, source="email"),) if email else (),
            phones=(Candidate(value=phone, source="phone", preferred=True),) if phone else (),
            sources={key: self.columns[key] for key in FAILOVER_COLUMNS if key in self.columns},
        )

    def mapping(self) -> tuple[tuple[str, str], ...]:
        return tuple((key, self.columns[key]) for key in FAILOVER_COLUMNS if key in self.columns)


def _google_values(row: Mapping[str, str], value_column: str, label_column: str | None) -> list[Candidate]:
    values = [v.strip() for v in row.get(value_column, "").split(_MULTI) if v.strip()]
    label = row.get(label_column, "").strip() if label_column else ""
    preferred = label.startswith("*")
    lowered = label.lstrip("* ").lower()
    if any(word in lowered for word in NOT_SIGNAL) and value_column.lower().startswith("phone"):
        return []
    mobile = "mobile" in lowered or "cell" in lowered
    return [
        Candidate(value=v, source=value_column, preferred=preferred and i == 0, mobile=mobile)
        for i, v in enumerate(values)
    ]


class _Google(_Layout):
    name = "Google Contacts CSV"

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(columns)
        self.full_name = self.column("Name")
        self.name_parts = [
            self.column("Name Prefix"),
            self.column("Given Name", "First Name"),
            self.column("Additional Name", "Middle Name"),
            self.column("Family Name", "Last Name"),
            self.column("Name Suffix"),
        ]
        self.fallback_names = [self.column("Nickname"), self.column("File As")]
        self.organization = self.column("Organization Name", "Organization 1 - Name")
        self.emails = self.numbered("e-mail N")
        self.phones = self.numbered("phone N")
        self.labels = self.column("Labels", "Group Membership")
        self.language = self.column("Language")
        self.system_labels_seen: set[str] = set()

    def contact(self, row: Mapping[str, str], where: str, warnings: list[str]) -> SourceContact | None:
        name = (
            (row.get(self.full_name, "").strip() if self.full_name else "")
            or _joined(row, self.name_parts)
            or _joined(row, self.fallback_names[:1])
            or _joined(row, self.fallback_names[1:])
            or _joined(row, [self.organization])
        )
        if not name:
            nameless(where, warnings)
            return None
        groups = []
        for written in row.get(self.labels, "").split(_MULTI) if self.labels else ():
            label = written.strip()
            if label.startswith("*") or label.lower() in SYSTEM_LABELS:
                self.system_labels_seen.add(label.lstrip("* "))
            elif label:
                groups.append(label)
        return SourceContact(
            where=where,
            name=name,
            language=row.get(self.language, "").strip() if self.language else "",
            groups=tuple(groups),
            emails=tuple(c for column, label in self.emails for c in _google_values(row, column, label)),
            phones=tuple(c for column, label in self.phones for c in _google_values(row, column, label)),
            sources={"language": self.language or ""},
        )

    def mapping(self) -> tuple[tuple[str, str], ...]:
        names = " + ".join(c for c in self.name_parts if c)
        name = f"{self.full_name} (else {names})" if self.full_name else names
        system = ", ".join(sorted(self.system_labels_seen)) or "none"
        return (
            ("name", f"{name or '-'}, else Nickname, File As or the organisation"),
            ("email", _listed([c for c, _ in self.emails], "the one labelled * first")),
            ("phone", _listed([c for c, _ in self.phones], "mobile and * first; fax and pager left out")),
            ("groups", f"{self.labels} (system labels ignored: {system})" if self.labels else "-"),
            ("language", self.language or "-"),
        )


def _listed(columns: Sequence[str], how: str) -> str:
    if not columns:
        return "-"
    shown = ", ".join(columns[:3]) + (f" … ({len(columns)} columns)" if len(columns) > 3 else "")
    return f"{shown} ({how})"


_OUTLOOK_PHONES = (
    ("Mobile Phone", True),
    ("Car Phone", True),
    ("Primary Phone", False),
    ("Home Phone", False),
    ("Home Phone 2", False),
    ("Business Phone", False),
    ("Business Phone 2", False),
    ("Other Phone", False),
)


class _Outlook(_Layout):
    name = "Outlook CSV"

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(columns)
        self.name_parts = [self.column("First Name"), self.column("Middle Name"), self.column("Last Name")]
        self.name_parts.append(self.column("Suffix"))
        self.company = self.column("Company")
        self.emails = [
            (address, self.column(f"E-mail{n} Type"))
            for n in ("", " 2", " 3")
            if (address := self.column(f"E-mail{n} Address")) is not None
        ]
        for n in ("", " 2", " 3"):
            self.column(f"E-mail{n} Display Name")
        self.phones = [
            (c, mobile) for name, mobile in _OUTLOOK_PHONES if (c := self.column(name)) is not None
        ]
        self.categories = self.column("Categories")
        self.language = self.column("Language")
        self.exchange = 0

    def contact(self, row: Mapping[str, str], where: str, warnings: list[str]) -> SourceContact | None:
        name = _joined(row, self.name_parts) or _joined(row, [self.company])
        if not name:
            nameless(where, warnings)
            return None
        emails = []
        for column, kind in self.emails:
            value = row.get(column, "").strip()
            if not value:
                continue
            if (kind and row.get(kind, "").strip().upper() == "EX") or value.startswith("/o="):
                self.exchange += 1
                warnings.append(f"{where}: {column}: {EXCHANGE}")
                continue
            emails.append(Candidate(value=value, source=column))
        phones = tuple(
            Candidate(value=value, source=column, mobile=mobile)
            for column, mobile in self.phones
            if (value := row.get(column, "").strip())
        )
        categories = row.get(self.categories, "") if self.categories else ""
        return SourceContact(
            where=where,
            name=name,
            language=row.get(self.language, "").strip() if self.language else "",
            groups=tuple(c.strip() for c in re.split(r"[;,]", categories) if c.strip()),
            emails=tuple(emails),
            phones=phones,
            sources={"language": self.language or ""},
        )

    def mapping(self) -> tuple[tuple[str, str], ...]:
        return (
            ("name", " + ".join(c for c in self.name_parts if c) + ", else Company"),
            ("email", _listed([c for c, _ in self.emails], "SMTP ones; EX ones left out")),
            ("phone", _listed([c for c, _ in self.phones], "Mobile Phone first")),
            ("groups", self.categories or "-"),
            ("language", self.language or "-"),
        )


def csv_text(rows: Sequence[Mapping[str, str]]) -> str:
    """failover's CSV layout, with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FAILOVER_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
