"""Contacts read from an address book file (its format told by its name unless given),
checked against the configuration and given what the file did not say:

- **phone numbers** are read by libphonenumber (``phonenumbers``); a national number
  (``06 12 34 56 78``) in the default region: ``--region``, else the country of
  ``daemon.timezone`` (``Europe/Paris`` → FR, from the system's ``zone.tab``), else the
  country of ``[notify] signal_url``'s sending number. A mobile number (by the file's label,
  else by libphonenumber) is preferred; a number that cannot be read, or a landline, which
  Signal cannot reach, is left out with a warning naming the row. A phone number becomes a
  ``signal`` channel when ``[notify] signal_url`` is configured, and is counted otherwise.
- **e-mail addresses**: the first valid one, the preferred one first; one that is no address
  (or an Outlook Exchange name) is left out with a warning naming the row.
- **language**: the file's (``fr``, ``fr-CA``, ``French``, ``Français`` …), else
  ``--language``, else the language of the default region among those failover speaks
  (French for FR, BE, CH, LU, MC and the French-speaking countries; else English); **time
  zone**: the file's (an IANA name), else ``--timezone``, else ``daemon.timezone``. How many
  contacts got a default is reported.
- **groups**: the file's labels or categories that are configured groups, a group card's
  name for its members, and ``--group``; other labels are reported and left out (system
  labels such as ``myContacts`` silently).

failover's own CSV columns are the operator's: an unknown column, language, time zone, group
or id there is an error naming the row, and nothing is written. Whatever else cannot be used
(a channel, a contact without a name or a channel, a label) is a warning, and the rest is
imported; ``strict`` turns warnings into errors. Two rows with one name are an error
(names are unique in a configuration), as is an import that would replace a contact of the
same name, written earlier, with whom it shares no address or number (another person of the
same name?), unless ``replace``. Messages name rows, columns and contact ids, never a value.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from failover.config import Config, check_email, contact_id
from failover.contacts._address_book import (
    AddressBook,
    Candidate,
    Progress,
    SourceContact,
    decode,
    read_csv,
)
from failover.contacts._vcard import read_vcards
from failover.domain import NAME
from failover.errors import ContactImportError

__all__ = [
    "ERRORS_SHOWN",
    "ContactFormat",
    "ImportedContact",
    "ParsedContacts",
    "default_region",
    "parse_address_book",
    "parse_contacts_csv",
    "parse_vcards",
    "read_address_book",
]

ContactFormat = Literal["csv", "vcard"]

_LANGUAGES = ("fr", "en")
_LANGUAGE_WORDS = {"french": "fr", "français": "fr", "francais": "fr", "english": "en", "anglais": "en"}
#: regions where French is spoken and English is not an official language
_FRENCH_REGIONS = frozenset(
    {"FR", "GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "MC", "BE", "CH", "LU"}
    | {"SN", "CI", "ML", "BF", "NE", "TG", "BJ", "GN", "GA", "CG", "CD", "MG", "CF", "TD", "DJ", "KM", "HT"}
)
#: an error listing every clash of a large file would drown the first ones; the count stays
ERRORS_SHOWN = 10


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
    #: the id was written in the file (``id``, ``X-FAILOVER-ID``), not derived from the name
    explicit_id: bool = False
    #: the fields that got a default ("language", "timezone"), not the file's value
    defaulted: frozenset[str] = frozenset()
    #: the file gave groups (an import without them keeps a contact's groups)
    has_groups: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedContacts:
    """What a file yields: the contacts, and how they were read."""

    contacts: tuple[ImportedContact, ...]
    #: "Google Contacts CSV", "vCard 2.1, 3.0" …; the encoding, and the CSV separator
    layout: str
    encoding: str = ""
    separator: str = ""
    #: (field, where it came from): the mapping the operator sees
    mapping: tuple[tuple[str, str], ...] = ()
    #: source columns or properties read by no field
    ignored: tuple[str, ...] = ()
    #: what was left out, each naming its row or line
    warnings: tuple[str, ...] = ()
    #: rows or cards that yielded no contact (no name, no channel, a duplicate)
    skipped: int = 0
    group_cards: int = 0
    #: contacts whose language or time zone is a default, with that default and its origin
    default_language: tuple[int, str, str] = (0, "en", "")
    default_timezone: tuple[int, str, str] = (0, "UTC", "")
    #: phone numbers not imported because no ``[notify] signal_url`` is configured
    phones_left_out: int = 0
    #: the region national phone numbers were read in, and why (None: none)
    region: tuple[str | None, str] = (None, "")


# --------------------------------------------------------------------------- defaults


def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO 3166 country, from ``zone.tab`` (the system's, else tzdata's)."""
    candidates = [Path(base) / "zone.tab" for base in TZPATH]
    spec = importlib.util.find_spec("tzdata")  # zone data as a package, where the system has none
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "zoneinfo" / "zone.tab")
    for path in candidates:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        return {
            parts[2]: parts[0]
            for line in lines
            if not line.startswith("#") and len(parts := line.split("\t")) >= 3
        }
    return {}


#: read once a process: ``zone.tab`` does not change under it
_zone_countries_cached = cache(_zone_countries)


def _phonenumbers() -> Any:
    import phonenumbers  # loaded when a phone number is read: the daemon never needs it

    return phonenumbers


def default_region(config: Config) -> tuple[str | None, str]:
    """The region national phone numbers are read in, and where it comes from."""
    zone = config.daemon.timezone
    if (country := _zone_countries_cached().get(zone)) is not None:
        return country, f"daemon.timezone {zone}"
    sender = re.search(r"/(\+[1-9]\d{6,14})(?:[/?#]|$)", config.notify.signal_url or "")
    if sender is not None:
        lib = _phonenumbers()
        try:
            # the country of the code: +1 is US whether or not the number is a real one
            region = lib.region_code_for_country_code(lib.parse(sender[1]).country_code)
        except lib.NumberParseException:
            region = None
        if region and region != "ZZ":
            return str(region), "the [notify] signal_url sending number"
    return None, ""


def _language_of(raw: str) -> str | None:
    word = re.split(r"[-_ (]", raw.strip().lower(), maxsplit=1)[0]
    found = _LANGUAGE_WORDS.get(word, word)
    return found if found in _LANGUAGES else None


# ----------------------------------------------------------------------------- checks

_LANDLINE = ("FIXED_LINE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "UAN", "VOICEMAIL", "PAGER")


@dataclass(slots=True)
class _Checker:
    """Checks contacts read against the configuration, gives them defaults, and collects
    what was left out."""

    config: Config
    #: failover's own columns: their values are the operator's, and a wrong one is an error
    own_columns: bool
    region: str | None
    language: str
    timezone: str
    extra_groups: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    unknown_labels: Counter[str] = field(default_factory=Counter)
    phones_left_out: int = 0

    def problem(self, message: str) -> None:
        """A value of the operator's own columns is wrong: an error; else a warning."""
        if self.own_columns:
            raise ContactImportError(message)
        self.warnings.append(message)

    def checked_language(self, contact: SourceContact) -> tuple[str, bool]:
        if contact.language:
            if (found := _language_of(contact.language)) is not None:
                return found, False
            where = contact.sources.get("language") or contact.where
            self.problem(f"{_at(contact.where, where)}: unsupported language (expected fr or en)")
        return self.language, True

    def checked_timezone(self, contact: SourceContact) -> tuple[str, bool]:
        value = contact.timezone
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                where = contact.sources.get("timezone") or "timezone"
                expected = "expected an IANA name such as Europe/Paris"
                self.problem(f"{_at(contact.where, where)}: unknown time zone ({expected})")
            else:
                return value, False
        return self.timezone, True

    def checked_groups(self, contact: SourceContact, members: Mapping[str, set[str]]) -> tuple[str, ...]:
        """The file's groups that are configured (a group card's too)."""
        kept = []
        for group in dict.fromkeys([*contact.groups, *sorted(members.get(contact.uid, ()))]):
            if group in self.config.groups:
                kept.append(group)
            elif self.own_columns:
                # group names are configuration, not personal data
                where = contact.sources.get("groups") or "groups"
                raise ContactImportError(f"{_at(contact.where, where)}: unknown group '{group}'")
            else:
                self.unknown_labels[group] += 1
        return tuple(kept)

    def checked_email(self, contact: SourceContact) -> str | None:
        for candidate in sorted(contact.emails, key=lambda c: not c.preferred):
            try:
                return check_email(candidate.value)
            except ValueError as exc:
                self.warnings.append(f"{_at(contact.where, candidate.source)}: {exc}; left out")
        return None

    def checked_phone(self, contact: SourceContact) -> str | None:
        """The number in E.164, or None (also when it is one, but no Signal API is
        configured to send to it: then it is counted in ``phones_left_out``)."""
        if not contact.phones:
            return None
        lib = _phonenumbers()
        landline: Candidate | None = None
        ordered = sorted(
            contact.phones, key=lambda c: (not (c.mobile and c.preferred), not c.mobile, not c.preferred)
        )
        for candidate in ordered:
            try:
                number = lib.parse(candidate.value, self.region)
            except lib.NumberParseException:
                number = None
            # number_type is UNKNOWN for a number that is not valid: one pass where
            # is_valid_number and then number_type would make two
            kind = "UNKNOWN" if number is None else lib.PhoneNumberType.to_string(lib.number_type(number))
            if kind == "UNKNOWN":
                self.warnings.append(
                    f"{_at(contact.where, candidate.source)}: {self._unreadable(candidate)}; left out"
                )
                continue
            if kind in _LANDLINE and not candidate.mobile:
                landline = landline or candidate
                continue
            e164 = str(lib.format_number(number, lib.PhoneNumberFormat.E164))
            if self.config.notify.signal_url is None:
                self.phones_left_out += 1
                return None
            return e164
        if landline is not None:
            self.warnings.append(
                f"{_at(contact.where, landline.source)}: a landline, which Signal cannot reach; left out"
            )
        return None

    def _unreadable(self, candidate: Candidate) -> str:
        if candidate.value.lstrip().startswith(("+", "00")) or self.region:
            region = f" (national numbers read as {self.region})" if self.region else ""
            return f"not a phone number that can be read{region}"
        return "a national phone number, and no region to read it in (give --region)"


def _count(count: int, what: str) -> str:
    return f"{count} {what}{'s' if count != 1 else ''}"


def _position(warning: str) -> int:
    """The row or line a warning names, to list warnings in the file's order."""
    match = re.match(r"(?:row|line) (\d+)", warning)
    return int(match[1]) if match else 0


def _at(row: str, where: str) -> str:
    """``row 7: Phone 1 - Value``, or the property's own line for a vCard."""
    if where.startswith("line "):
        return where
    return f"{row}: {where}" if where else row


def _identifier(contact: SourceContact) -> str:
    if not contact.id:
        return contact_id(contact.name)
    if not NAME.fullmatch(contact.id):
        where = contact.sources.get("id") or "id"
        raise ContactImportError(
            f"{_at(contact.where, where)}: an id may contain only letters, digits, '_', '-' and '.'"
        )
    return contact.id


def _check(book: AddressBook, checker: _Checker) -> tuple[list[ImportedContact], int]:
    """The contacts of ``book`` that can be imported, and how many rows or cards were skipped."""
    members: dict[str, set[str]] = {}
    for card in book.group_cards:
        if card.name in checker.config.groups:
            for uid in card.members:
                members.setdefault(uid, set()).add(card.name)
        else:
            checker.warnings.append(
                f"{card.where}: group card '{card.name}' ({_count(len(card.members), 'member')}): "
                "not a configured group; left out"
            )
    contacts: list[ImportedContact] = []
    skipped = 0
    for source in book.contacts:
        language, default_language = checker.checked_language(source)
        timezone, default_timezone = checker.checked_timezone(source)
        defaulted = {"language"} if default_language else set()
        if default_timezone:
            defaulted.add("timezone")
        groups = checker.checked_groups(source, members)
        left_out = checker.phones_left_out
        email, phone = checker.checked_email(source), checker.checked_phone(source)
        if email is None and phone is None:
            skipped += 1
            why = (
                "no e-mail address, and no [notify] signal_url for the phone number"
                if checker.phones_left_out > left_out
                else "no e-mail address or phone number failover can use"
            )
            checker.warnings.append(f"{source.where}: skipped: {why}")
            continue
        contacts.append(
            ImportedContact(
                id=_identifier(source),
                name=source.name,
                language=language,
                timezone=timezone,
                groups=tuple(dict.fromkeys([*groups, *checker.extra_groups])),
                email=email,
                phone=phone,
                where=source.where,
                explicit_id=bool(source.id),
                defaulted=frozenset(defaulted),
                has_groups=bool(groups),  # extra groups alone add to a contact's, not replace them
            )
        )
    unique = _unique(contacts, checker)
    return unique, skipped + book.skipped + len(contacts) - len(unique)


def _unique(contacts: Sequence[ImportedContact], checker: _Checker) -> list[ImportedContact]:
    """Each name and id once: an identical repetition is left out, two people of one name
    are an error naming every such row (names are unique in a configuration)."""
    by_name: dict[str, ImportedContact] = {}
    by_id: dict[str, ImportedContact] = {}
    clashes: list[str] = []
    kept = []
    for contact in contacts:
        first = by_name.get(contact.name)
        if first is not None:
            if (first.email, first.phone, first.id) == (contact.email, contact.phone, contact.id):
                checker.warnings.append(f"{contact.where}: skipped: the same contact as {first.where}")
                continue
            clashes.append(f"{contact.where}: name: the same name as {first.where}")
            continue
        if contact.id in by_id:
            clashes.append(f"{contact.where}: id: '{contact.id}' is also the id of {by_id[contact.id].where}")
            continue
        by_name[contact.name] = by_id[contact.id] = contact
        kept.append(contact)
    if clashes:
        more = f" (and {len(clashes) - ERRORS_SHOWN} more)" if len(clashes) > ERRORS_SHOWN else ""
        hint = "; names must be unique: tell them apart in the file" if "name:" in clashes[0] else ""
        raise ContactImportError("; ".join(clashes[:ERRORS_SHOWN]) + more + hint)
    return kept


def _checker(
    config: Config,
    *,
    own_columns: bool,
    region: str | None,
    language: str | None,
    timezone: str | None,
    groups: Sequence[str],
) -> tuple[_Checker, tuple[str | None, str], tuple[str, str], tuple[str, str]]:
    if region and region.upper() not in _phonenumbers().SUPPORTED_REGIONS:
        raise ContactImportError("--region: unknown region (expected a country code such as FR)")
    where_region = (region.upper(), "--region") if region else default_region(config)
    if language:
        if language not in _LANGUAGES:
            raise ContactImportError("--language: expected fr or en")
        default_lang = (language, "--language")
    elif where_region[0] in _FRENCH_REGIONS:
        default_lang = ("fr", f"region {where_region[0]}")
    else:
        default_lang = ("en", f"region {where_region[0]}" if where_region[0] else "failover's default")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ContactImportError("--timezone: unknown time zone (expected an IANA name)") from None
        default_zone = (timezone, "--timezone")
    else:
        default_zone = (config.daemon.timezone, "daemon.timezone")
    for group in groups:
        if group not in config.groups:
            raise ContactImportError(f"--group: unknown group '{group}'")
    checker = _Checker(
        config=config,
        own_columns=own_columns,
        region=where_region[0],
        language=default_lang[0],
        timezone=default_zone[0],
        extra_groups=tuple(groups),
    )
    return checker, where_region, default_lang, default_zone


def parse_address_book(
    book: AddressBook,
    config: Config,
    *,
    strict: bool = False,
    region: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    groups: Sequence[str] = (),
) -> ParsedContacts:
    """The contacts of an address book, checked against ``config``: national phone numbers
    read in ``region``, ``language`` and ``timezone`` for contacts without one (defaults:
    see the module's docstring), ``groups`` added to every contact; ``strict`` makes any
    warning an error."""
    checker, where_region, default_lang, default_zone = _checker(
        config, own_columns=book.strict, region=region, language=language, timezone=timezone, groups=groups
    )
    checker.warnings.extend(book.warnings)
    contacts, skipped = _check(book, checker)
    checker.warnings.sort(key=_position)
    for label, count in sorted(checker.unknown_labels.items()):
        checker.warnings.append(
            f"label '{label}' ({_count(count, 'contact')}): not a configured group; left out"
        )
    if strict and checker.warnings:
        more = len(checker.warnings) - 1
        raise ContactImportError(checker.warnings[0] + (f" (and {more} more warnings)" if more else ""))
    return ParsedContacts(
        contacts=tuple(contacts),
        layout=book.layout,
        encoding=book.encoding,
        separator=book.separator,
        mapping=book.mapping,
        ignored=book.ignored,
        warnings=tuple(checker.warnings),
        skipped=skipped,
        group_cards=len(book.group_cards),
        default_language=(sum("language" in c.defaulted for c in contacts), *default_lang),
        default_timezone=(sum("timezone" in c.defaulted for c in contacts), *default_zone),
        phones_left_out=checker.phones_left_out,
        region=where_region,
    )


def parse_contacts_csv(text: str, config: Config, **options: Any) -> ParsedContacts:
    """Contacts from CSV text in any layout :func:`read_csv` knows (options: see
    :func:`parse_address_book`). Raises :class:`ContactImportError` naming the row."""
    return parse_address_book(read_csv(text), config, **options)


def parse_vcards(text: str, config: Config, **options: Any) -> ParsedContacts:
    """Contacts from vCard 2.1, 3.0 or 4.0 text. Raises :class:`ContactImportError` naming
    the line."""
    return parse_address_book(read_vcards(text), config, **options)


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
