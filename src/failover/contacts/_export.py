"""The configured contacts out: ``contacts export`` (failover's CSV or vCard 4.0, which
import reads back) and ``contacts list`` (personal data only on request), and the
recipients a channel URL names (what an import matches a contact by).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from failover.config import Config
from failover.contacts._address_book import csv_text
from failover.contacts._check import ContactFormat
from failover.contacts._vcard import vcard_text
from failover.reach import url_scheme

__all__ = ["ContactRow", "ExportReport", "contact_rows", "export_contacts", "url_recipients"]


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
            scheme = url_scheme(channel.url)
            recipients = sorted(url_recipients(channel.url))
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
    scheme = url_scheme(url)
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


def url_recipients(url: str) -> set[str]:
    """The e-mail addresses or phone numbers an e-mail or Signal channel URL sends to."""
    recipient = _recipient(url)
    return set() if recipient == "(in the URL)" else {r.strip() for r in recipient.split(",") if r.strip()}


def contact_rows(config: Config, *, show_personal: bool = False) -> list[ContactRow]:
    """Every contact, ids and settings only unless ``show_personal``."""
    rows = []
    for contact in config.everyone():
        channels = tuple(
            f"{url_scheme(c.url)}: {_recipient(c.url)}" if show_personal else url_scheme(c.url)
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
