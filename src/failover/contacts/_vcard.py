"""vCard in and out. Read: 2.1 (quoted-printable, ``CHARSET``, bare types as Android
writes them), 3.0 (Google, iCloud) and 4.0, by ``vobject``: ``FN`` (else ``N``), ``EMAIL``,
``TEL``, ``CATEGORIES``, ``LANG``, ``TZ``, ``X-FAILOVER-ID``, ``UID``. Group cards
(``KIND:group``, iCloud's ``X-ADDRESSBOOKSERVER-KIND:group``) are no contacts: they are
counted, and their members (by ``UID``) are handed on with the group's name. Written: 4.0.

Places are named ``line N`` (of the property where one is meant, else of ``BEGIN:VCARD``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from failover.contacts._address_book import (
    NAMELESS,
    NOT_SIGNAL,
    SYSTEM_LABELS,
    AddressBook,
    Candidate,
    GroupCard,
    Progress,
    SourceContact,
    nameless,
)
from failover.errors import ContactImportError

__all__ = ["read_vcards", "vcard_text"]


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines with the number of their first physical line: folded lines joined
    (RFC 6350 §3.2), and vCard 2.1's quoted-printable soft line breaks ("=" at the end)."""
    current: tuple[int, str] | None = None
    soft_break = False
    for number, line in enumerate(text.splitlines(), start=1):
        if current is not None and (soft_break or (line[:1] in (" ", "\t"))):
            first, so_far = current
            current = (first, so_far + (line if soft_break else line[1:]))
        else:
            if current is not None:
                yield current
            current = (number, line)
        head = current[1].partition(":")[0].upper()
        soft_break = "QUOTED-PRINTABLE" in head and current[1].endswith("=")
        if soft_break:
            current = (current[0], current[1][:-1])
    if current is not None:
        yield current


def _cards(text: str) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    card: list[tuple[int, str]] | None = None
    begin = 0
    for number, line in _logical_lines(text):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)?(;.*)?", name):
            raise ContactImportError(f"line {number}: not a vCard property (expected NAME:value)")
        keyword = name.split(";")[0].rsplit(".", 1)[-1].upper()
        if keyword == "BEGIN" and value.strip().upper() == "VCARD":
            if card is not None:
                raise ContactImportError(f"line {number}: BEGIN:VCARD inside a card (END:VCARD missing)")
            card, begin = [], number
        elif card is None:
            raise ContactImportError(f"line {number}: expected BEGIN:VCARD")
        elif keyword == "END" and value.strip().upper() == "VCARD":
            yield begin, card
            card = None
            continue
        if card is not None:
            card.append((number, line))
    if card is not None:
        raise ContactImportError(f"line {begin}: card without END:VCARD")


def _params(prop: Any) -> set[str]:
    """Lower-case TYPE values (3.0/4.0 ``TYPE=a,b``, 2.1 bare ``;CELL``) and ``pref``."""
    types = {t.strip().lower() for value in prop.params.get("TYPE", ()) for t in str(value).split(",")}
    types.update(str(s).lower() for s in getattr(prop, "singletonparams", ()))
    if "1" in prop.params.get("PREF", ()):
        types.add("pref")
    return types


def read_vcards(text: str, *, progress: Progress | None = None) -> AddressBook:
    """Contacts from vCard 2.1, 3.0 or 4.0 text (one or more cards)."""
    import vobject  # type: ignore[import-untyped]  # no type information; loaded when a vCard is read

    total = max(text.upper().count("BEGIN:VCARD"), 1)
    contacts: list[SourceContact] = []
    groups: list[GroupCard] = []
    warnings: list[str] = []
    versions: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for index, (begin, lines) in enumerate(_cards(text), start=1):
        where = f"line {begin}"
        try:
            card = vobject.readOne("\r\n".join(line for _, line in [*lines, (0, "END:VCARD")]))
        except Exception:  # noqa: BLE001 - vobject raises bare ParseErrors and more; its text holds values
            raise ContactImportError(f"{where}: not a vCard vobject can read") from None
        contents: dict[str, list[Any]] = card.contents
        version = str(contents["version"][0].value).strip() if "version" in contents else ""
        if version not in ("2.1", "3.0", "4.0"):
            raise ContactImportError(f"{where}: VERSION: expected 2.1, 3.0 or 4.0")
        versions[version] += 1
        if progress is not None:
            progress(index, total)
        kinds = [
            str(contents[k][0].value).strip().lower()
            for k in ("kind", "x-addressbookserver-kind")
            if k in contents
        ]
        name = _vcard_name(contents)
        if "group" in kinds:
            members = [
                str(p.value) for k in ("member", "x-addressbookserver-member") for p in contents.get(k, [])
            ]
            groups.append(
                GroupCard(where=where, name=name, members=tuple(m.removeprefix("urn:uuid:") for m in members))
            )
            continue
        seen.update(contents.keys())
        if not name:
            nameless(where, warnings)
            continue
        contacts.append(_contact(contents, name=name, where=where, lines=lines))
    if not contacts and not groups:
        raise ContactImportError("no vCard found (expected BEGIN:VCARD … END:VCARD)")
    fed: dict[str, list[str]] = {}
    for key, target in _PROPERTIES.items():
        if seen[key]:
            fed.setdefault(target, []).append(
                f"{key.upper()} ({seen[key]} card{'s' if seen[key] != 1 else ''})"
            )
    if groups:
        fed.setdefault("groups", []).append(f"group cards ({len(groups)}), for their members")
    mapping = tuple((target, ", else ".join(sources)) for target, sources in fed.items())
    return AddressBook(
        layout="vCard " + ", ".join(sorted(versions)),
        encoding="",
        contacts=tuple(contacts),
        mapping=mapping,
        warnings=tuple(warnings),
        group_cards=tuple(groups),
        ignored=tuple(
            sorted(k.upper() for k in seen if k not in _PROPERTIES and k not in ("version", "uid"))
        ),
        skipped=sum(1 for w in warnings if w.endswith(NAMELESS)),
    )


#: vCard property → the field it feeds
_PROPERTIES = {"fn": "name", "n": "name", "email": "email", "tel": "phone", "categories": "groups"}
_PROPERTIES |= {"lang": "language", "tz": "timezone", "x-failover-id": "id"}


def _contact(
    contents: Mapping[str, list[Any]], *, name: str, where: str, lines: Sequence[tuple[int, str]]
) -> SourceContact:
    numbers: dict[str, list[int]] = {}
    for number, line in lines:
        keyword = line.partition(":")[0].split(";")[0].rsplit(".", 1)[-1].lower()
        numbers.setdefault(keyword, []).append(number)

    def located(key: str, position: int = 0) -> str:
        """The line of the ``position``-th property ``key`` (vobject keeps them in order)."""
        lines_of = numbers.get(key, [])
        return f"line {lines_of[position]}" if position < len(lines_of) else where

    def text(key: str) -> str:
        return str(contents[key][0].value).strip() if key in contents else ""

    emails = tuple(
        Candidate(
            value=str(p.value).strip(), source=f"{located('email', i)}: EMAIL", preferred="pref" in _params(p)
        )
        for i, p in enumerate(contents.get("email", []))
    )
    phones = tuple(
        Candidate(
            value=str(p.value).strip().removeprefix("tel:").split(";")[0],
            source=f"{located('tel', i)}: TEL",
            preferred="pref" in _params(p),
            mobile=bool(_params(p) & {"cell", "iphone", "mobile"}),
        )
        for i, p in enumerate(contents.get("tel", []))
        if not _params(p) & set(NOT_SIGNAL)
    )
    languages = sorted(contents.get("lang", []), key=lambda p: "pref" not in _params(p))
    categories = [str(c).strip() for p in contents.get("categories", []) for c in _as_list(p.value)]
    return SourceContact(
        where=where,
        name=name,
        id=text("x-failover-id"),
        language=str(languages[0].value).strip() if languages else "",
        timezone=text("tz"),
        groups=tuple(c for c in categories if c and c.lower() not in SYSTEM_LABELS),
        emails=emails,
        phones=phones,
        uid=text("uid").removeprefix("urn:uuid:"),
        sources={
            "language": f"{located('lang')}: LANG" if languages else "",
            "timezone": f"{located('tz')}: TZ",
            "id": f"{located('x-failover-id')}: X-FAILOVER-ID",
            "groups": f"{located('categories')}: CATEGORIES",
        },
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _vcard_name(contents: Mapping[str, list[Any]]) -> str:
    if "fn" in contents and str(contents["fn"][0].value).strip():
        return str(contents["fn"][0].value).strip()
    if "n" in contents:
        n = contents["n"][0].value
        parts = [getattr(n, a, "") for a in ("prefix", "given", "additional", "family", "suffix")]
        return " ".join(" ".join(_as_list(p)).strip() for p in parts if p and " ".join(_as_list(p)).strip())
    return ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _fold(line: str) -> str:
    # 75 octets per line at most (RFC 6350 §3.2), never splitting a character
    out: list[str] = []
    current = ""
    for char in line:
        if len((current + char).encode("utf-8")) > (75 if not out else 74):
            out.append(current)
            current = ""
        current += char
    out.append(current)
    return "\r\n ".join(out)


def vcard_text(contacts: Sequence[Mapping[str, Any]]) -> str:
    """vCard 4.0 (RFC 6350) cards: FN, LANG, TZ, CATEGORIES, EMAIL, TEL, X-FAILOVER-ID."""
    lines: list[str] = []
    for contact in contacts:
        lines += ["BEGIN:VCARD", "VERSION:4.0", f"FN:{_escape(contact['name'])}"]
        lines.append(f"X-FAILOVER-ID:{_escape(contact['id'])}")
        lines.append(f"LANG:{contact['language']}")
        lines.append(f"TZ:{_escape(contact['timezone'])}")
        if contact["groups"]:
            lines.append("CATEGORIES:" + ",".join(_escape(g) for g in contact["groups"]))
        for index, email in enumerate(contact["emails"], start=1):
            lines.append(f"EMAIL;PREF={index}:{_escape(email)}")
        for index, phone in enumerate(contact["phones"], start=1):
            lines.append(f"TEL;VALUE=uri;TYPE=cell;PREF={index}:tel:{phone}")
        lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)
