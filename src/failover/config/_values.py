"""The values a configuration file writes, each parsed or checked on its own: durations,
endpoints, time zones, regular expressions, URLs (web, apprise, the ``[notify]`` bases),
HTTP statuses, DNS record types, e-mail addresses, phone numbers, contact ids, weekdays; and
the annotated types the file's models are written with."""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field

from failover.domain import NAME, Endpoint
from failover.durations import config_text
from failover.reach import channel_reach

_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_HINT = "expected a duration such as '2s', '5m', '1h30m', '7d' or a number of seconds"
#: The longest duration a setting or a command takes: a hundred years. Anything longer is a
#: slip (``"1e300"``) that would overflow the calendar once added to a date.
MAX_DURATION_S = 36500 * 86400.0


def parse_duration(value: object, *, at_most: float | None = MAX_DURATION_S) -> float:
    """``"2s"``, ``"5m"``, ``"1h30m"``, ``"7d"``, ``"500ms"`` or a number → seconds, at most
    ``at_most`` (None: any finite number, for a caller that handles the overflow itself)."""
    if isinstance(value, bool):
        raise ValueError(_DURATION_HINT)  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            if not _DURATION.fullmatch(text):
                raise ValueError(_DURATION_HINT) from None
            seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    else:
        raise ValueError(_DURATION_HINT)  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(_DURATION_HINT)
    if at_most is not None and seconds > at_most:
        raise ValueError(f"expected a duration of at most {config_text(at_most)}")
    return seconds


def _parse_endpoint(text: str, default_port: int) -> Endpoint:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    host, port = text.strip(), default_port
    if host.startswith("["):
        closing = host.find("]")
        if closing < 0:
            raise ValueError("expected '[address]:port'")
        rest = host[closing + 1 :]
        host = host[1:closing]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected '[address]:port'")
            port = _parse_port(rest[1:])
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _parse_port(port_text)
    if not host or any(c.isspace() for c in host):
        raise ValueError("expected 'host', 'host:port' or '[address]:port'")
    return Endpoint(host=host, port=port)


def _parse_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("expected a port between 1 and 65535")
    return int(text)


def _check_endpoint(text: str) -> str:
    _parse_endpoint(text, 53)
    return text


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (expected an IANA name such as 'Europe/Paris')") from None
    return name


def _check_regex(pattern: str) -> str:
    try:
        # a valid pattern that merely draws a FutureWarning ("possible nested set") is valid
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    except OverflowError:  # a{99999999999}
        raise ValueError("not a valid regular expression: a repetition count is too large") from None
    except RecursionError:  # ((((…))))
        raise ValueError("not a valid regular expression: groups nested too deeply") from None
    return pattern


def _check_web_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return url


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _check_channel_url(url: str) -> str:
    # the message never repeats the URL: it may carry a password or a phone number
    match = _SCHEME.match(url)
    if match is None or match.end() == len(url):
        raise ValueError("expected an apprise URL such as 'mailtos://user:password@host'")
    return url


def _status_range(value: object) -> tuple[int, int]:
    """An accepted HTTP status: ``200``, ``"2xx"`` or ``"200-399"`` → inclusive range."""
    hint = "expected a status code such as 200, a class such as '2xx' or a range such as '200-399'"
    if isinstance(value, bool):
        raise ValueError(hint)  # noqa: TRY004 (pydantic reports ValueError, not TypeError)
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and re.fullmatch(r"[1-5]xx", value.strip().lower()):
        low = int(value.strip()[0]) * 100
        high = low + 99
    elif isinstance(value, str) and (match := re.fullmatch(r"\s*(\d{3})\s*-\s*(\d{3})\s*", value)):
        low, high = int(match[1]), int(match[2])
    else:
        raise ValueError(hint)
    if not 100 <= low <= high <= 599:
        raise ValueError(hint)
    return (low, high)


_RECORD_TYPES = frozenset({"A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "CAA", "SRV", "HTTPS", "PTR"})


def _check_record_type(value: str) -> str:
    if value.upper() not in _RECORD_TYPES:
        raise ValueError(f"expected a record type among {', '.join(sorted(_RECORD_TYPES))}")
    return value.upper()


_EMAIL = re.compile(r"[^@\s/?&#=,;:<>\"']+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def check_email(address: str) -> str:
    """The address, trimmed; ``ValueError`` (naming no value: it is personal data) if it
    does not look like one address. A plus-address (``alice+news@``) and an internationalised
    domain (``exämple.fr``, sent as ``xn--exmple-cua.fr``) are addresses; letters beyond
    ASCII before the ``@`` are refused here rather than at the first notice: the mail channel
    (apprise over smtplib, without SMTPUTF8) cannot send to them."""
    text = address.strip()
    local, at, _ = text.rpartition("@")
    if at and local and not local.isascii():
        raise ValueError(
            "letters beyond ASCII before the '@': the mail channel cannot send to such an address"
        )
    if not _EMAIL.fullmatch(_mail_address(text)):
        raise ValueError("not an e-mail address")
    return text


def _mail_address(address: str) -> str:
    """The address as it is sent: an internationalised domain in its ASCII form (IDNA 2008,
    UTS #46); the address unchanged if its domain cannot be written so."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    import idna  # loaded for the few addresses that need it

    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address


def check_phone(number: str) -> str:
    """The number without separators (``+33612345678``); ``ValueError`` if it is not an
    international number."""
    digits = _PHONE_SEPARATORS.sub("", number)
    if not _E164.fullmatch(digits):
        raise ValueError("not an international phone number (expected +<country><number>)")
    return digits


def _check_contact_id(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError("an id may contain only letters, digits, '_', '-' and '.' (64 at most)")
    return value


_ALREADY_NAMES = "already names a recipient, who would get every contact's message: {}"


def _check_smtp_base(url: str) -> str:
    match = _SCHEME.match(url)
    hint = "expected a mailto:// or mailtos:// URL naming the server and sender, no recipient"
    if match is None or match[1].lower() not in ("mailto", "mailtos"):
        raise ValueError(hint)
    reach = channel_reach(url)
    if reach.recipients or (reach.problem and "cc or bcc" in reach.problem):
        raise ValueError(_ALREADY_NAMES.format(hint))
    return url


def _check_signal_base(url: str) -> str:
    match = _SCHEME.match(url)
    hint = "expected a signal:// or signals:// URL naming the API and the sending number"
    if match is None or match[1].lower() not in ("signal", "signals"):
        raise ValueError(hint)
    if channel_reach(url).recipients:
        raise ValueError(_ALREADY_NAMES.format(hint))
    return url


def contact_id(name: str) -> str:
    """The default id of a contact: a short hash of the name, stable across runs and
    file orders, and not the name itself (the outbox and logs name contacts by id)."""
    return "c-" + hashlib.blake2b(name.encode("utf-8"), digest_size=5).hexdigest()


PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
NonEmpty = Annotated[str, Field(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
EndpointText = Annotated[str, AfterValidator(_check_endpoint)]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
WebUrl = Annotated[str, AfterValidator(_check_web_url)]
ChannelUrl = Annotated[str, AfterValidator(_check_channel_url)]
StatusRange = Annotated[tuple[int, int], BeforeValidator(_status_range)]
RecordType = Annotated[str, AfterValidator(_check_record_type)]
EmailAddress = Annotated[str, AfterValidator(check_email)]
PhoneNumber = Annotated[str, AfterValidator(check_phone)]
ContactId = Annotated[str, AfterValidator(_check_contact_id)]
EventName = Literal["opened", "confirmed", "resolved", "manual", "reminder"]
VisibilityName = Literal["private", "public"]


#: weekday names of a maintenance window's ``days``, Monday first (``datetime.weekday()``)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: a maintenance window lasts less than this: one occurrence never reaches the next week's
MAINTENANCE_MAX = timedelta(days=7)
