"""One TOML file → validated, frozen configuration.

The file is parsed once at the edge: ``${env:NAME}`` and ``${file:/path}`` references are
resolved, pydantic models (unknown keys forbidden) check its shape, the built-in catalog is
merged under it, and the result is turned into the frozen types of :mod:`failover.domain`
after every cross-reference has been checked. Every problem is a :class:`ConfigError` that
names the key path (``contacts[2].channels[0].url``) or the line of a syntax error, and never
a secret or personal value.

This module and ``cli`` are the only readers of the environment; both take it as an
argument (``env``) so that tests inject it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import tomllib
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import time, timedelta
from enum import Enum
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from failover.domain import (
    CHANNEL_PLATFORMS,
    CONTROL_FAMILY,
    Channel,
    Check,
    Contact,
    DetectionPolicy,
    DnsCheck,
    DnsVia,
    Endpoint,
    HttpCheck,
    IncidentEvent,
    Platform,
    Route,
    StatusCheck,
    StatusFormat,
    StoredContact,
    TcpCheck,
    Template,
    TemplateText,
    TlsCheck,
    Visibility,
)
from failover.errors import ConfigError
from failover.reach import Audience, channel_reach

__all__ = [
    "BUILTIN_SOURCE",
    "BUILTIN_TEMPLATE_NAMES",
    "MAX_DURATION_S",
    "SYSTEM_CONFIG_PATH",
    "Config",
    "ContactSource",
    "DaemonSettings",
    "MaintenanceWindow",
    "ManualSettings",
    "NotifySettings",
    "ProbeSettings",
    "StatusPageSettings",
    "check_email",
    "check_phone",
    "contact_id",
    "find_config_path",
    "infer_depends_on",
    "load_config",
    "parse_config",
    "parse_duration",
    "redacted_config",
    "register_address_book",
    "render_config",
    "starter_config",
    "stored_entry_problems",
]

#: ``Config.source`` when no file was read.
BUILTIN_SOURCE = "built-in"
#: The last place :func:`find_config_path` looks.
SYSTEM_CONFIG_PATH = Path("/etc/failover/failover.toml")
#: Template names a route may use without defining them (the notifier's built-in texts;
#: a test keeps this equal to ``failover.notify.BUILTIN_TEMPLATES``). A ``-public`` name is public.
BUILTIN_TEMPLATE_NAMES: frozenset[str] = frozenset(
    {
        "outage",
        "update",
        "recovery",
        "manual",
        "reminder",
        "outage-public",
        "update-public",
        "recovery-public",
        "manual-public",
        "reminder-public",
    }
)

_REDACTED = "***"
_LANGUAGES = ("fr", "en")
_DEFAULT_POLICY = DetectionPolicy()
_DEFAULT_RESOLVERS = ("1.1.1.1:53", "9.9.9.9:53")
_DEFAULT_RESOLVER_ENDPOINTS = (Endpoint(host="1.1.1.1", port=53), Endpoint(host="9.9.9.9", port=53))
_DEFAULT_LISTEN = Endpoint(host="127.0.0.1", port=9464)
#: Deliveries per minute per apprise scheme; ``default`` covers every other scheme. Each
#: number follows what the service documents (README, "How long telling everyone takes");
#: ``[notify] rate_per_minute`` overrides any of them. A scheme's pace is shared by every
#: account and server of that scheme, so it is the pace one account may keep.
_DEFAULT_RATES: Mapping[str, int] = MappingProxyType(
    {
        # an unknown service: as cautious as the most common documented pace below
        "default": 30,
        # e-mail: the operator's relay decides (Amazon SES's sandbox takes 1 message/s, a
        # hosted relay often about that); 1/s is a sane start, raise it for your own relay
        "mailto": 60,
        "mailtos": 60,
        # Telegram Bot FAQ: bulk notifications "not more than 30 messages per second or so",
        # 1 message/s in one chat, 20/min to one group; failover sends one message per chat
        # and event, so the overall pace binds: 25/s, under "or so"
        "tgram": 1500,
        # Signal publishes no limit; past its hidden one the account must solve a CAPTCHA
        # (signal-cli-rest-api: HTTP 429 with a challenge, "or wait 86400 seconds"), which
        # no daemon can do mid-outage: one message every 6 s
        "signal": 10,
        "signals": 10,
        # WhatsApp Cloud API: 80 messages/s per number, but a new business portfolio may
        # start 250 conversations per 24 h, which no per-minute pace expresses; ours
        "whatsapp": 20,
        # Mastodon: 300 API requests / 5 min per account (docs), and 300 statuses / 3 h per
        # account (its RateLimiter, which counts direct messages): 1.67/min sustained
        "mastodon": 1,
        "mastodons": 1,
        "toot": 1,
        "toots": 1,
        # Discord: 50 requests/s per bot, per-webhook buckets announced in X-RateLimit-*
        # headers (commonly 30 messages/min per channel)
        "discord": 30,
        # Slack: posting messages "1 per second" per channel, short bursts allowed
        "slack": 60,
        # X API v2: 300 posts / 3 h per user (100 / 24 h on Basic); a public post per event
        "twitter": 1,
        "x": 1,
        "tweet": 1,
        # your own endpoints (a webhook, a broker): no provider's limit
        "json": 60,
        "jsons": 60,
        "mqtt": 120,
        "mqtts": 120,
    }
)


def _version() -> str:
    try:
        return version("failover")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


# ------------------------------------------------------------------------------ the result


@dataclass(frozen=True, kw_only=True, slots=True)
class DaemonSettings:
    database_url: str
    listen: Endpoint = _DEFAULT_LISTEN
    #: the zone used to show times to operators (stored times are always UTC)
    timezone: str = "UTC"
    #: bearer token of the HTTP API's write endpoints; None disables them
    api_token: str | None = None
    #: named bearer tokens (``[[daemon.api_tokens]]``): operator name → token; the journal
    #: of actions names the operator, and approvals tell them apart
    api_tokens: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    #: decide and record as usual, but send no notice
    dry_run: bool = False
    #: how long raw observations are kept (rollups and incidents are kept)
    retention: timedelta = timedelta(days=7)


@dataclass(frozen=True, kw_only=True, slots=True)
class ManualSettings:
    """``[manual]``: how manual failovers are let out."""

    #: "required": a trigger's notices wait for a second operator's ``failover approve``
    approval: Literal["none", "required"] = "none"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeSettings:
    user_agent: str = f"failover/{_version()} (+https://github.com/failover/failover)"
    #: checks run at the same time, at most
    concurrency: int = 32
    #: public resolvers for ``via = "resolvers"`` DNS checks that list no servers
    resolvers: tuple[Endpoint, ...] = _DEFAULT_RESOLVER_ENDPOINTS
    #: the recursive resolvers every name lookup of the probes asks, in place of the
    #: host's ``/etc/resolv.conf``; None: the host's
    nameservers: tuple[Endpoint, ...] | None = None
    #: a probe's name lookup gets at most this long (a silent name server is a dns_timeout)
    lookup_timeout_s: float = 3.0


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusPageSettings:
    """``[status_page]``: the public status site (``failover.status_page``)."""

    #: where the daemon serves the site, on a listener of its own; None: not served
    listen: Endpoint | None = None
    #: where the daemon writes the site (atomically) on every transition and every
    #: ``publish_every_s``, for any static host to serve; None: not written
    directory: str | None = None
    #: the site's languages; the first is the default page's (``index.html``)
    languages: tuple[str, ...] = ("en", "fr")
    #: the page's title; None: "Service status" in the reader's language
    title: str | None = None
    publish_every_s: float = 300.0
    #: the address the site is published at (``https://status.example.org/``), for the
    #: feed's links; None: links relative to the feed
    base_url: str | None = None
    #: days of history shown per platform
    history_days: int = 90


@dataclass(frozen=True, kw_only=True, slots=True)
class NotifySettings:
    dry_run: bool = False
    #: deliveries in flight at the same time, at most
    concurrency: int = 16
    #: attempts per channel before falling over to the contact's next channel
    max_attempts: int = 3
    #: the first retry waits this long, each next one twice as long
    backoff_base_s: float = 2.0
    #: no wait between two tries of a channel reaches this long
    backoff_max_s: float = 60.0
    #: a notice whose failures stay temporary is tried for this long, then fails
    give_up_after_s: float = 6 * 3600.0
    #: deliveries per minute per URL scheme; ``default`` for the others
    rate_per_minute: Mapping[str, int] = field(default_factory=lambda: _DEFAULT_RATES)
    #: the apprise mail URL (server, credentials, sender) a contact's ``email`` is sent through
    smtp_url: str | None = None
    #: the apprise Signal URL (API and sending number) a contact's ``signal`` number is sent through
    signal_url: str | None = None

    def rate_for(self, scheme: str) -> int:
        """The delivery rate (per minute) for an apprise URL scheme."""
        return self.rate_per_minute.get(scheme.lower(), self.rate_per_minute["default"])


#: weekday names of a maintenance window's ``days``, Monday first (``datetime.weekday()``)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: a maintenance window lasts less than this: one occurrence never reaches the next week's
MAINTENANCE_MAX = timedelta(days=7)


@dataclass(frozen=True, kw_only=True, slots=True)
class MaintenanceWindow:
    """A recurring maintenance window (``[[maintenance]]``): every day of ``days`` at
    ``start`` (wall-clock time in ``timezone``), for ``duration`` (elapsed time)."""

    name: str
    #: platform and family names, or ``*``
    platforms: tuple[str, ...]
    #: weekdays it starts on, 0 = Monday (all seven for ``"daily"``)
    days: frozenset[int]
    start: time
    duration: timedelta
    #: an IANA zone name: the window's own, else ``daemon.timezone``
    timezone: str


class ContactSource(Protocol):
    """The imported address book as the configuration reads it (the store is one)."""

    def stored_contacts(self, *, groups: Collection[str] | None = None) -> Iterator[StoredContact]: ...

    def stored_contacts_by_id(self, ids: Collection[str]) -> dict[str, StoredContact]: ...

    def contact_names(self) -> Iterator[tuple[str, str]]: ...

    def contact_count(self) -> int: ...


#: finds the address book of a configuration's database (registered by the composition
#: root, which owns the store); None: no address book is read
_address_book_opener: Callable[[Config], ContactSource | None] | None = None


def register_address_book(opener: Callable[[Config], ContactSource | None] | None) -> None:
    """How a configuration finds its imported address book when none was given to it
    (:meth:`Config.with_address_book`): ``opener(config)``, or nothing when None."""
    global _address_book_opener  # noqa: PLW0603 -- one registration, by the composition root
    _address_book_opener = opener


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """Everything the daemon needs, validated and frozen. ``secrets`` holds every secret
    value (resolved references, channel URLs, the API token) so that logs can redact them."""

    daemon: DaemonSettings
    probes: ProbeSettings
    detection: DetectionPolicy
    #: enabled platforms: the built-in catalog merged with the file
    platforms: tuple[Platform, ...]
    #: enabled control targets (``family == CONTROL_FAMILY``)
    controls: tuple[Platform, ...]
    contacts: tuple[Contact, ...]
    #: group name → description
    groups: Mapping[str, str]
    #: shared channels (``[channels.NAME]``), e.g. a public Mastodon account
    channels: Mapping[str, Channel]
    routes: tuple[Route, ...]
    templates: Mapping[str, Template]
    #: free-text "other ways to reach us" lines given to templates, by language ("fr",
    #: "en"); a plain list in the file is every language's; a language left out has none
    #: (its readers get another language's: see ``failover.notify.alternatives_in``)
    alternatives: Mapping[str, tuple[str, ...]]
    notify: NotifySettings
    secrets: frozenset[str]
    #: the file read, or ``BUILTIN_SOURCE``
    source: str
    #: where contacts are kept apart from the configuration (``contacts_file``), if anywhere
    contacts_file: str | None = None
    #: the organisation's own addresses and numbers, which text bound for a public channel
    #: may carry (those written in ``alternatives`` count too)
    public_contact_points: tuple[str, ...] = ()
    #: the public status site (``[status_page]``)
    status_page: StatusPageSettings = StatusPageSettings()
    #: recurring maintenance windows (``[[maintenance]]``)
    maintenance: tuple[MaintenanceWindow, ...] = ()
    #: manual failovers (``[manual]``)
    manual: ManualSettings = ManualSettings()
    #: the imported address book; None: the one :func:`register_address_book` finds
    address_book: ContactSource | None = field(default=None, repr=False, compare=False)
    #: contacts written in the configuration, by id: a fan-out looks one up per notice
    _contacts_by_id: Mapping[str, Contact] = field(init=False, repr=False, compare=False)
    #: what building an imported contact's channels needs, worked out once
    _channel_bases: _ChannelBases = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the first of a repeated id wins, as a scan in order would find it
        by_id = {contact.id: contact for contact in reversed(self.contacts)}
        object.__setattr__(self, "_contacts_by_id", by_id)
        object.__setattr__(self, "_channel_bases", _ChannelBases.of(self))

    def with_address_book(self, book: ContactSource | None) -> Config:
        """This configuration reading its imported contacts from ``book``."""
        return replace(self, address_book=book)

    def _book(self) -> ContactSource | None:
        if self.address_book is not None:
            return self.address_book
        opener = _address_book_opener
        return opener(self) if opener is not None else None

    def contact(self, contact_id: str) -> Contact | None:
        """The contact whose ``id`` is ``contact_id``, if any: written in the configuration,
        else imported."""
        written = self._contacts_by_id.get(contact_id)
        if written is not None:
            return written
        return self.contacts_by_id([contact_id]).get(contact_id)

    def contacts_by_id(self, ids: Collection[str]) -> dict[str, Contact]:
        """The contacts of these ids that exist (one read of the address book for all)."""
        found = {i: self._contacts_by_id[i] for i in ids if i in self._contacts_by_id}
        book = self._book() if len(found) < len(ids) else None
        if book is not None:
            missing = [i for i in ids if i not in found]
            for contact_id, stored in book.stored_contacts_by_id(missing).items():
                found[contact_id] = self.build_contact(stored)
        return found

    def everyone(self, *, groups: Collection[str] | None = None, channels: bool = True) -> Iterator[Contact]:
        """Every contact, those written in the configuration first, then the imported ones
        in import order, read as they are needed (never all at once); of ``groups`` only
        when given. ``channels=False`` leaves their channels out (who hears, not how)."""
        wanted = None if groups is None else frozenset(groups)
        for contact in self.contacts:
            if wanted is None or not wanted.isdisjoint(contact.groups):
                yield contact
        book = self._book()
        if book is None:
            return
        written = self._contacts_by_id
        for stored in book.stored_contacts(groups=wanted):
            if stored.id not in written:
                yield self.build_contact(stored, channels=channels)

    def contact_names(self) -> Iterator[tuple[str, str]]:
        """Every contact's id and name (what a public text is checked against)."""
        for contact in self.contacts:
            yield contact.id, contact.name
        book = self._book()
        if book is not None:
            written = self._contacts_by_id
            yield from ((i, name) for i, name in book.contact_names() if i not in written)

    def contact_count(self) -> int:
        """How many contacts there are, written and imported."""
        book = self._book()
        if book is None:
            return len(self._contacts_by_id)
        shadowed = len(book.stored_contacts_by_id(self._contacts_by_id)) if self._contacts_by_id else 0
        return len(self._contacts_by_id) + book.contact_count() - shadowed

    def build_contact(self, stored: StoredContact, *, channels: bool = True) -> Contact:
        """An imported contact as the fan-out sees it: its ``email`` and ``signal`` entries
        become URLs on ``[notify]``'s bases (checked when the configuration was read), its
        time zone defaults to the daemon's. What an import stored was checked as it was
        written (:func:`stored_entry_problems`)."""
        return Contact(
            name=stored.name,
            id=stored.id,
            language=stored.language,
            timezone=stored.timezone or self.daemon.timezone,
            groups=stored.groups,
            channels=self._channel_bases.channels(stored) if channels else (),
        )

    def platform(self, name: str) -> Platform | None:
        """The enabled platform or control called ``name``, if any."""
        for target in (*self.platforms, *self.controls):
            if target.name == name:
                return target
        return None


# ------------------------------------------------------------------------ small value parsers

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
        raise ValueError(f"expected a duration of at most {_format_duration(at_most)}")
    return seconds


def _format_duration(seconds: float) -> str:
    if seconds != int(seconds) or seconds == 0:
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


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


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
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
    if not _NAME.fullmatch(value):
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


# --------------------------------------------------------------------------- the file's shape


class _Model(BaseModel):
    # strict: TOML has real types, so "443" is not a port and 1 is not a boolean
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _CheckModel(_Model):
    name: NonEmpty
    timeout: PositiveDuration | None = None


class _DnsCheckModel(_CheckModel):
    kind: Literal["dns"]
    qname: NonEmpty
    via: Literal["system", "resolvers", "authoritative"] = "resolvers"
    record_types: list[RecordType] = Field(default_factory=lambda: ["A"], min_length=1)
    servers: list[EndpointText] = Field(default_factory=list)


class _TcpCheckModel(_CheckModel):
    kind: Literal["tcp"]
    host: NonEmpty
    port: Port


class _TlsCheckModel(_CheckModel):
    kind: Literal["tls"]
    host: NonEmpty
    port: Port = 443
    server_name: NonEmpty | None = None
    ca_file: NonEmpty | None = None


class _HttpCheckModel(_CheckModel):
    kind: Literal["http"]
    url: WebUrl
    method: Literal["GET", "HEAD", "POST", "OPTIONS"] = "GET"
    accept_status: list[StatusRange] | None = Field(default=None, min_length=1)
    body_pattern: Annotated[str, AfterValidator(_check_regex)] | None = None
    slow_after: PositiveDuration | None = None
    max_redirects: Annotated[int, Field(ge=0, le=20)] | None = None
    ca_file: NonEmpty | None = None


class _StatusCheckModel(_CheckModel):
    kind: Literal["statuspage"]
    url: WebUrl
    format: Literal["statuspage", "feed", "meta"] = "statuspage"
    components: list[NonEmpty] = Field(default_factory=list)
    ca_file: NonEmpty | None = None


_AnyCheckModel = Annotated[
    _DnsCheckModel | _TcpCheckModel | _TlsCheckModel | _HttpCheckModel | _StatusCheckModel,
    Field(discriminator="kind"),
]
_CHECK_KINDS = frozenset({"dns", "tcp", "tls", "http", "statuspage"})


class _ControlModel(_Model):
    display_name: NonEmpty | None = None
    interval: PositiveDuration | None = None
    enabled: bool = True
    checks: list[_AnyCheckModel] = Field(default_factory=list)


class _PlatformModel(_ControlModel):
    family: NonEmpty | None = None


class _CatalogModel(_Model):
    #: false drops every built-in platform and control
    builtin: bool = True


class _ApiTokenModel(_Model):
    #: the operator holding the token, as the journal of actions names them
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")]
    token: NonEmpty


class _ManualModel(_Model):
    approval: Literal["none", "required"] = "none"


class _DaemonModel(_Model):
    database_url: NonEmpty | None = None
    listen: EndpointText = "127.0.0.1:9464"
    timezone: TimezoneName = "UTC"
    api_token: NonEmpty | None = None
    api_tokens: list[_ApiTokenModel] = Field(default_factory=list, max_length=256)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    dry_run: bool = False
    retention: PositiveDuration = 7 * 86400.0


class _ProbesModel(_Model):
    user_agent: NonEmpty | None = None
    concurrency: Annotated[int, Field(ge=1, le=4096)] = 32
    resolvers: list[EndpointText] = Field(default_factory=lambda: list(_DEFAULT_RESOLVERS), min_length=1)
    nameservers: list[EndpointText] | None = Field(default=None, min_length=1)
    lookup_timeout: Annotated[PositiveDuration, Field(le=60)] = 3.0


class _DetectionModel(_Model):
    control_quorum: Annotated[int, Field(ge=0)] = _DEFAULT_POLICY.control_quorum
    confirm_after: list[PositiveDuration] = Field(
        default_factory=lambda: list(_DEFAULT_POLICY.confirm_after_s), min_length=1
    )
    recover_after: Annotated[int, Field(ge=1)] = _DEFAULT_POLICY.recover_after
    flap_max_transitions: Annotated[int, Field(ge=1)] = _DEFAULT_POLICY.flap_max_transitions
    flap_window: PositiveDuration = _DEFAULT_POLICY.flap_window.total_seconds()
    family_window: PositiveDuration = _DEFAULT_POLICY.family_window.total_seconds()
    family_min_platforms: Annotated[int, Field(ge=2)] = _DEFAULT_POLICY.family_min_platforms
    degraded_after: PositiveDuration = _DEFAULT_POLICY.degraded_after.total_seconds()
    family_hold: Annotated[PositiveDuration, Field(le=600)] = _DEFAULT_POLICY.family_hold.total_seconds()
    confirm_timeout: PositiveDuration = _DEFAULT_POLICY.confirm_timeout_s


class _NotifyModel(_Model):
    concurrency: Annotated[int, Field(ge=1, le=1024)] = 16
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_base: PositiveDuration = 2.0
    backoff_max: Annotated[PositiveDuration, Field(le=3600)] = 60.0
    give_up_after: Annotated[PositiveDuration, Field(le=30 * 86400)] = 6 * 3600.0
    rate_per_minute: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    smtp_url: Annotated[str, AfterValidator(_check_smtp_base)] | None = None
    signal_url: Annotated[str, AfterValidator(_check_signal_base)] | None = None


class _ContactChannelModel(_Model):
    #: exactly one of: a full apprise URL, an e-mail address (through ``notify.smtp_url``)
    #: or a phone number (through ``notify.signal_url``)
    url: ChannelUrl | None = None
    email: EmailAddress | None = None
    signal: PhoneNumber | None = None
    depends_on: list[NonEmpty] | None = None
    #: "private" declares that a webhook or topic reaches this contact alone
    visibility: VisibilityName | None = None

    @model_validator(mode="after")
    def _one_way(self) -> _ContactChannelModel:
        if sum(value is not None for value in (self.url, self.email, self.signal)) != 1:
            raise ValueError("a channel needs exactly one of 'url', 'email' or 'signal'")
        return self


class _ContactModel(_Model):
    name: NonEmpty
    id: ContactId | None = None
    language: Literal["fr", "en"] = "en"
    #: None: ``daemon.timezone``
    timezone: TimezoneName | None = None
    groups: list[NonEmpty] = Field(default_factory=list)
    channels: list[_ContactChannelModel] = Field(min_length=1)


class _GroupModel(_Model):
    description: str = ""


class _SharedChannelModel(_Model):
    url: ChannelUrl
    #: None: what the URL does (see ``failover.reach``)
    visibility: VisibilityName | None = None
    depends_on: list[NonEmpty] | None = None
    #: the language of what is posted there
    language: Literal["fr", "en"] = "en"


def _default_events() -> list[EventName]:
    return ["confirmed", "resolved"]


class _RouteModel(_Model):
    name: NonEmpty
    template: NonEmpty
    events: list[EventName] = Field(default_factory=_default_events, min_length=1)
    groups: list[NonEmpty] = Field(default_factory=list)
    channels: list[NonEmpty] = Field(default_factory=list)
    platforms: list[NonEmpty] = Field(default_factory=list)
    families: list[NonEmpty] = Field(default_factory=list)
    reminder_every: PositiveDuration | None = None


class _TemplateTextModel(_Model):
    subject: str = ""
    body: NonEmpty


class _TemplateModel(_Model):
    visibility: VisibilityName = "private"
    fr: _TemplateTextModel | None = None
    en: _TemplateTextModel | None = None


class _AlternativesModel(_Model):
    fr: list[NonEmpty] = Field(default_factory=list)
    en: list[NonEmpty] = Field(default_factory=list)


def _alternatives_form(value: Any) -> str:
    return _PER_LANGUAGE if isinstance(value, dict) else _ONE_LIST


#: the forms of ``alternatives``: a table of lists by language, or one list for all; the
#: tags are no keys, and are left out of error key paths
_PER_LANGUAGE, _ONE_LIST = "per-language", "one-list"
_AlternativesField = Annotated[
    Annotated[_AlternativesModel, Tag(_PER_LANGUAGE)] | Annotated[list[NonEmpty], Tag(_ONE_LIST)],
    Discriminator(_alternatives_form),
]


def _status_page_languages() -> list[Literal["fr", "en"]]:
    return ["en", "fr"]


class _StatusPageModel(_Model):
    listen: EndpointText | None = None
    directory: NonEmpty | None = None
    languages: Annotated[list[Literal["fr", "en"]], Field(min_length=1)] = Field(
        default_factory=_status_page_languages
    )
    title: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    publish_every: Annotated[PositiveDuration, Field(ge=10)] = 300.0
    base_url: WebUrl | None = None
    history_days: Annotated[int, Field(ge=7, le=366)] = 90


_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _check_clock_time(text: str) -> str:
    if not _CLOCK_TIME.fullmatch(text):
        raise ValueError("expected a time of day such as '02:00' (24-hour HH:MM)")
    return text


def _check_window_length(seconds: float) -> float:
    if seconds >= MAINTENANCE_MAX.total_seconds():
        raise ValueError("a maintenance window lasts less than 7 days")
    return seconds


DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _every_day() -> list[DayName]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _window_days(value: object) -> object:
    if value == "daily":
        return list(WEEKDAYS)
    if isinstance(value, str):
        # pydantic reports ValueError, not TypeError
        raise ValueError('expected "daily" or a list of days such as ["sat", "sun"]')  # noqa: TRY004
    return value


class _MaintenanceModel(_Model):
    name: NonEmpty
    platforms: list[NonEmpty] = Field(min_length=1)
    days: Annotated[list[DayName], BeforeValidator(_window_days), Field(min_length=1)] = Field(
        default_factory=_every_day
    )
    start: Annotated[str, AfterValidator(_check_clock_time)]
    duration: Annotated[PositiveDuration, AfterValidator(_check_window_length)]
    #: None: ``daemon.timezone``
    timezone: TimezoneName | None = None


class _FileModel(_Model):
    catalog: _CatalogModel = Field(default_factory=_CatalogModel)
    daemon: _DaemonModel = Field(default_factory=_DaemonModel)
    probes: _ProbesModel = Field(default_factory=_ProbesModel)
    detection: _DetectionModel = Field(default_factory=_DetectionModel)
    notify: _NotifyModel = Field(default_factory=_NotifyModel)
    platforms: dict[str, _PlatformModel] = Field(default_factory=dict)
    controls: dict[str, _ControlModel] = Field(default_factory=dict)
    groups: dict[str, _GroupModel] = Field(default_factory=dict)
    contacts: list[_ContactModel] = Field(default_factory=list)
    channels: dict[str, _SharedChannelModel] = Field(default_factory=dict)
    templates: dict[str, _TemplateModel] = Field(default_factory=dict)
    routes: list[_RouteModel] = Field(default_factory=list)
    alternatives: _AlternativesField = Field(default_factory=list)
    public_contact_points: list[NonEmpty] = Field(default_factory=list)
    #: more contacts, in a file of their own (``contacts import`` writes there); relative to
    #: the configuration file's directory; a file that does not exist yet holds no contacts
    contacts_file: NonEmpty | None = None
    status_page: _StatusPageModel = Field(default_factory=_StatusPageModel)
    maintenance: list[_MaintenanceModel] = Field(default_factory=list)
    manual: _ManualModel = Field(default_factory=_ManualModel)


class _ContactsFileModel(_Model):
    contacts: list[_ContactModel] = Field(default_factory=list)


# ------------------------------------------------------------------------------- key paths

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
KeyPart = str | int


def _key(*parts: KeyPart) -> str:
    """``("contacts", 2, "channels", 0)`` → ``contacts[2].channels[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{text}" if out else text
    return out


class _Problems:
    """Semantic errors found while building the config, reported first-one-wins."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        self.found.append((key, message))

    def raise_if_any(self) -> None:
        if self.found:
            key, message = self.found[0]
            raise _config_error(message, key=key, source=self.source, more=len(self.found) - 1)


#: What may not appear as such in an error's one line: line breaks, control and format
#: characters (a right-to-left override would garble it), lone surrogates.
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def _one_line(text: str) -> str:
    """``text`` with each character of :data:`_UNPRINTABLE` written as an escape (``\\n``)."""
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _config_error(
    message: str, *, key: str | None = None, line: int | None = None, source: str, more: int = 0
) -> ConfigError:
    if more:
        message += f" (and {more} more)"
    # a key or a value quoted from the file may hold any character: the error stays one line
    return ConfigError(_one_line(message), key=_one_line(key) if key else None, line=line, source=source)


# --------------------------------------------------------------------------- secret references

_REFERENCE = re.compile(
    r"\$\$\{"  # an escaped literal "${"
    r"|\$\{(?P<kind>env|file):(?P<arg>(?:[^{}$]|\$\{env:[^{}]*\})*)\}"
    r"|\$\{"  # anything else that looks like a reference is a mistake
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NESTED_ENV = re.compile(r"\$\{env:([^{}]*)\}")


class _ReferenceError(Exception):
    pass


class _Resolver:
    """Replaces ``${env:NAME}`` and ``${file:/path}`` in every string of the parsed TOML,
    remembering each substituted value as a secret."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.secrets: set[str] = set()

    def tree(self, value: Any, path: tuple[KeyPart, ...], source: str) -> Any:
        if len(path) > _MAX_NESTING:
            # dotted keys nest without brackets; no configuration goes near this deep
            raise _config_error(
                f"nested more than {_MAX_NESTING} levels deep", key=_key(*path[:_MAX_NESTING]), source=source
            )
        if isinstance(value, str):
            try:
                return self.string(value)
            except _ReferenceError as exc:
                raise _config_error(str(exc), key=_key(*path), source=source) from None
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, k), source) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, (*path, i), source) for i, v in enumerate(value)]
        return value

    def string(self, text: str) -> str:
        if "${" not in text:
            return text
        return _REFERENCE.sub(self._substitute, text)

    def _env(self, name: str) -> str:
        if not _ENV_NAME.fullmatch(name):
            raise _ReferenceError(f"invalid environment variable name in ${{env:{name}}}")
        if name not in self.env:
            raise _ReferenceError(f"environment variable '{name}' is not set")
        return self.env[name]

    def _substitute(self, match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        kind = match["kind"]
        if kind is None:
            raise _ReferenceError(
                "unknown reference: expected ${env:NAME} or ${file:/path} ($${ for a literal)"
            )
        if kind == "env":
            value = self._env(match["arg"])
        else:
            # the path may itself name a variable, e.g. ${file:${env:CREDENTIALS_DIRECTORY}/smtp}
            path = _NESTED_ENV.sub(lambda m: self._env(m[1]), match["arg"])
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
                raise _ReferenceError(f"cannot read secret file '{path}': {reason}") from None
        if value:
            self.secrets.add(value)
        return value


# --------------------------------------------------------------------------- pydantic errors


def _translate(error: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic error → (key path, message), with no input value in the message."""
    loc: list[KeyPart] = []
    raw_loc = tuple(error["loc"])
    for i, item in enumerate(raw_loc):
        # a discriminated union adds the tag ("http") after the list index: not a key
        if (
            isinstance(item, str)
            and item in _CHECK_KINDS
            and i >= 2
            and isinstance(raw_loc[i - 1], int)
            and raw_loc[i - 2] == "checks"
        ):
            continue
        if isinstance(item, str) and ("[" in item and item.endswith("]")) and "-" in item:
            continue  # "function-after[...]" and friends
        if item in (_PER_LANGUAGE, _ONE_LIST) and raw_loc[:i] == ("alternatives",):
            continue
        loc.append(item)
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        return _key(*loc[:-1]), f"unknown key '{loc[-1]}'"
    if kind == "missing" and loc:
        return _key(*loc[:-1]), f"missing key '{loc[-1]}'"
    if kind == "union_tag_not_found":
        return _key(*loc), "missing key 'kind' (one of 'dns', 'tcp', 'tls', 'http', 'statuspage')"
    if kind == "union_tag_invalid":
        return _key(*loc, "kind"), "expected one of 'dns', 'tcp', 'tls', 'http', 'statuspage'"
    if kind in ("model_type", "dict_type"):
        return _key(*loc), "expected a table"
    if kind in ("list_type", "tuple_type"):
        return _key(*loc), "expected an array"
    if kind == "value_error":
        return _key(*loc), str(error.get("ctx", {}).get("error", error["msg"]))
    return _key(*loc), str(error["msg"])


def _validate(raw: Mapping[str, Any], source: str) -> _FileModel:
    try:
        return _FileModel.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        key, message = _translate(errors[0])
        raise _config_error(message, key=key, source=source, more=len(errors) - 1) from None


# ------------------------------------------------------------------------------ the catalog


@functools.cache
def _builtin_catalog() -> _FileModel:
    text = resources.files("failover").joinpath("catalog.toml").read_text(encoding="utf-8")
    return _validate(tomllib.loads(text), "failover/catalog.toml")


def _merge(
    catalog: Mapping[str, _ControlModel], file: Mapping[str, _ControlModel]
) -> dict[str, _ControlModel]:
    """File tables override the catalog's key by key; new names extend it."""
    merged = dict(catalog)
    for name, table in file.items():
        base = merged.get(name)
        if base is None:
            merged[name] = table
        else:
            merged[name] = base.model_copy(update={k: getattr(table, k) for k in table.model_fields_set})
    return merged


# ------------------------------------------------------------------------------- conversion


def _check_to_domain(
    model: _DnsCheckModel | _TcpCheckModel | _TlsCheckModel | _HttpCheckModel | _StatusCheckModel,
    *,
    key: str,
    resolvers: tuple[Endpoint, ...],
    problems: _Problems,
) -> Check | None:
    common: dict[str, Any] = {"name": model.name}
    if model.timeout is not None:
        common["timeout_s"] = model.timeout
    if isinstance(model, _DnsCheckModel):
        via = DnsVia(model.via)
        servers = tuple(_parse_endpoint(s, 53) for s in model.servers)
        if via is DnsVia.authoritative and not servers:
            problems.add(f"{key}.servers", "via = 'authoritative' needs the servers to ask")
            return None
        if via is DnsVia.system and servers:
            problems.add(f"{key}.servers", "via = 'system' uses the system resolver; remove servers")
            return None
        if via is DnsVia.resolvers and not servers:
            servers = resolvers
        return DnsCheck(
            **common, qname=model.qname, via=via, record_types=tuple(model.record_types), servers=servers
        )
    if isinstance(model, _TcpCheckModel):
        return TcpCheck(**common, host=model.host, port=model.port)
    if isinstance(model, _TlsCheckModel):
        return TlsCheck(
            **common, host=model.host, port=model.port, server_name=model.server_name, ca_file=model.ca_file
        )
    if isinstance(model, _HttpCheckModel):
        if model.accept_status is not None:
            common["accept_status"] = frozenset(
                code for low, high in model.accept_status for code in range(low, high + 1)
            )
        if model.slow_after is not None:
            common["slow_after_s"] = model.slow_after
        if model.max_redirects is not None:
            common["max_redirects"] = model.max_redirects
        return HttpCheck(
            **common,
            url=model.url,
            method=model.method,
            body_pattern=model.body_pattern,
            ca_file=model.ca_file,
        )
    return StatusCheck(
        **common,
        url=model.url,
        format=StatusFormat(model.format),
        components=tuple(model.components),
        ca_file=model.ca_file,
    )


def _targets_to_domain(
    section: str,
    tables: Mapping[str, _ControlModel],
    *,
    resolvers: tuple[Endpoint, ...],
    problems: _Problems,
) -> list[Platform]:
    targets = []
    for name, table in tables.items():
        key = _key(section, name)
        if not _NAME.fullmatch(name):
            problems.add(key, "a name may contain only letters, digits, '_', '-' and '.' (64 at most)")
            continue
        if section == "controls":
            family: str | None = CONTROL_FAMILY
        else:
            family = table.family if isinstance(table, _PlatformModel) else None
            if family is not None and not _NAME.fullmatch(family):
                problems.add(f"{key}.family", "a family name may contain only letters, digits, '_', '-', '.'")
        if table.enabled and not table.checks:
            problems.add(key, "an enabled target needs at least one check in 'checks'")
        checks: list[Check] = []
        seen: dict[str, int] = {}
        for index, check_model in enumerate(table.checks):
            check_key = _key(section, name, "checks", index)
            if check_model.name in seen:
                problems.add(
                    f"{check_key}.name", f"duplicate check name (also checks[{seen[check_model.name]}])"
                )
                continue
            seen[check_model.name] = index
            check = _check_to_domain(check_model, key=check_key, resolvers=resolvers, problems=problems)
            if check is not None:
                checks.append(check)
        interval = {} if table.interval is None else {"interval_s": table.interval}
        targets.append(
            Platform(
                name=name,
                display_name=table.display_name or name,
                family=family,
                checks=tuple(checks),
                enabled=table.enabled,
                **interval,
            )
        )
    return targets


_MASTODON_SCHEMES = frozenset({"mastodon", "mastodons", "toot", "toots"})


def _front_door_hosts(platform: Platform) -> set[str]:
    hosts = set()
    for check in platform.checks:
        if isinstance(check, TcpCheck | TlsCheck):
            hosts.add(check.host.lower())
        elif isinstance(check, HttpCheck) and (host := urlsplit(check.url).hostname):
            hosts.add(host.lower())
    return hosts


def infer_depends_on(url: str, platforms: Iterable[Platform]) -> tuple[str, ...]:
    """The platforms a channel stops working without, implied by its URL scheme.

    ``whatsapp://`` → whatsapp, ``tgram://`` → telegram, ``mastodons://…@mastodon.social``
    → the platform whose front door is that instance, ``mailto://`` → none. Only names
    among ``platforms`` are returned.
    """
    match = _SCHEME.match(url)
    if not match:
        return ()
    scheme = match[1].lower()
    known = {p.name: p for p in platforms}
    if scheme in _MASTODON_SCHEMES:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return ()
        if not host:
            return ()
        return tuple(name for name, p in known.items() if host.lower() in _front_door_hosts(p))
    name = CHANNEL_PLATFORMS.get(scheme)
    return (name,) if name in known else ()


def _with_query(url: str, name: str, value: str) -> str:
    base, hash_mark, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    # '+' quoted: a query's '+' is a space to most URL parsers (alice+news@ would be lost)
    return f"{base}{joiner}{name}={quote(value, safe='@')}{hash_mark}{fragment}"


def _with_path_segment(url: str, segment: str) -> str:
    base, question, query = url.partition("?")
    return f"{base.rstrip('/')}/{quote(segment, safe='+')}{question}{query}"


def _contact_channel_url(
    model: _ContactChannelModel, *, key: str, notify: _NotifyModel, problems: _Problems
) -> str:
    """The apprise URL of a contact's channel: as written, or built on the ``[notify]``
    base URL for an ``email`` or ``signal`` entry."""
    if model.email is not None:
        if notify.smtp_url is None:
            problems.add(f"{key}.email", "needs [notify] smtp_url, the mail server to send through")
            return "mailto://unset"
        return _with_query(notify.smtp_url, "to", _mail_address(model.email))
    if model.signal is not None:
        if notify.signal_url is None:
            problems.add(f"{key}.signal", "needs [notify] signal_url, the Signal API to send through")
            return "signal://unset"
        return _with_path_segment(notify.signal_url, model.signal)
    assert model.url is not None  # the model's validator asks for exactly one
    return model.url


def _channel_visibility(
    model: _ContactChannelModel | _SharedChannelModel, url: str, *, key: str, problems: _Problems
) -> Visibility:
    """What a channel's URL does (``failover.reach``), or what its configuration declares
    where the URL cannot tell (a webhook, a topic: public unless declared private). A URL
    reaching several recipients, a public audience declared private and a contact's channel
    that is not that contact's alone are problems."""
    shared = isinstance(model, _SharedChannelModel)
    declared = None if model.visibility is None else Visibility(model.visibility)
    if not shared and model.url is None:
        return Visibility.private  # `email` or `signal`: one address or number on a checked base
    reach = channel_reach(url)
    if reach.problem is not None:
        problems.add(f"{key}.url", reach.problem)
        return declared or Visibility.private
    if reach.audience is Audience.public:
        if not shared:
            problems.add(
                f"{key}.url",
                f"{reach.kind} is read by the public or a group: "
                "a contact's channel reaches that contact alone",
            )
        elif declared is Visibility.private:
            problems.add(f"{key}.visibility", f"{reach.kind} is read by the public or a group: it is public")
        return Visibility.public
    if not shared:
        if declared is Visibility.public:
            problems.add(f"{key}.visibility", "a contact's channel is private: it reaches that contact alone")
        elif reach.audience is Audience.unknown and declared is None:
            problems.add(
                f"{key}.url",
                f"{reach.kind} reaches whoever its receiving end hands it to: add "
                "visibility = 'private' if it reaches this contact alone",
            )
        return Visibility.private
    if declared is not None:
        return declared
    return Visibility.private if reach.audience is Audience.person else Visibility.public


def _channel_to_domain(
    model: _ContactChannelModel | _SharedChannelModel,
    *,
    ref: str,
    url: str,
    platforms: Sequence[Platform],
    problems: _Problems,
    key: str | None = None,
) -> Channel:
    """``ref`` names the channel for good (the outbox keeps it); ``key`` is where it is in
    the file, for errors (the ref when not given)."""
    key = key or ref
    language = model.language if isinstance(model, _SharedChannelModel) else None
    visibility = _channel_visibility(model, url, key=key, problems=problems)
    if model.depends_on is None:
        depends_on = infer_depends_on(url, platforms)
    else:
        names = {p.name for p in platforms}
        for index, name in enumerate(model.depends_on):
            if name not in names:
                problems.add(f"{key}.depends_on[{index}]", f"unknown platform '{name}'")
        depends_on = tuple(model.depends_on)
    return Channel(ref=ref, url=url, visibility=visibility, depends_on=depends_on, language=language)


def _default_database_url(env: Mapping[str, str], cwd: Path) -> str:
    # systemd's StateDirectory= may list several directories, separated by ':'
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    directory = Path(state) if state else cwd / "var"
    return f"sqlite:///{directory.resolve() / 'failover.db'}"


def _database_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _policy(model: _DetectionModel, *, controls: int, problems: _Problems) -> DetectionPolicy:
    if model.control_quorum > controls:
        problems.add(
            "detection.control_quorum",
            f"needs {model.control_quorum} passing controls but only {controls} are enabled "
            "(set it to 0 to trust our own connectivity without controls)",
        )
    return DetectionPolicy(
        control_quorum=model.control_quorum,
        confirm_after_s=tuple(model.confirm_after),
        recover_after=model.recover_after,
        flap_max_transitions=model.flap_max_transitions,
        flap_window=timedelta(seconds=model.flap_window),
        family_window=timedelta(seconds=model.family_window),
        family_min_platforms=model.family_min_platforms,
        degraded_after=timedelta(seconds=model.degraded_after),
        family_hold=timedelta(seconds=model.family_hold),
        confirm_timeout_s=model.confirm_timeout,
    )


@dataclass(slots=True)
class _SeenContacts:
    """Names and ids already taken, and where (``contacts[0]`` or ``contacts.toml: contacts[0]``)."""

    names: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


def _contacts(
    contact_models: Sequence[_ContactModel],
    *,
    model: _FileModel,
    platforms: Sequence[Platform],
    problems: _Problems,
    seen: _SeenContacts,
    where: str = "",
) -> tuple[Contact, ...]:
    """Contacts of the configuration file, or (``where`` naming it) of the contacts file."""
    contacts = []
    for index, contact_model in enumerate(contact_models):
        key = _key("contacts", index)
        here = f"{where}{key}"
        identifier = contact_model.id or contact_id(contact_model.name)
        if contact_model.name in seen.names:
            # the name is personal data: point at the other entry instead of repeating it
            problems.add(f"{key}.name", f"duplicate contact name (also {seen.names[contact_model.name]})")
        elif identifier in seen.ids:
            problems.add(f"{key}.id", f"duplicate contact id '{identifier}' (also {seen.ids[identifier]})")
        seen.names.setdefault(contact_model.name, here)
        seen.ids.setdefault(identifier, here)
        for group_index, group in enumerate(contact_model.groups):
            if group not in model.groups:
                problems.add(f"{key}.groups[{group_index}]", f"unknown group '{group}'")
        channels = []
        for channel_index, channel_model in enumerate(contact_model.channels):
            channel_key = f"{key}.channels[{channel_index}]"
            url = _contact_channel_url(channel_model, key=channel_key, notify=model.notify, problems=problems)
            channels.append(
                _channel_to_domain(
                    channel_model,
                    ref=f"contacts[{identifier}].channels[{channel_index}]",
                    key=channel_key,
                    url=url,
                    platforms=platforms,
                    problems=problems,
                )
            )
        contacts.append(
            Contact(
                name=contact_model.name,
                id=identifier,
                language=contact_model.language,
                timezone=contact_model.timezone or model.daemon.timezone,
                groups=tuple(contact_model.groups),
                channels=tuple(channels),
            )
        )
    return tuple(contacts)


@dataclass(frozen=True, slots=True)
class _ChannelBases:
    """What turns an imported contact's channel entries into channels: ``[notify]``'s
    bases and the platforms a URL may depend on."""

    smtp_url: str | None
    signal_url: str | None
    platforms: tuple[Platform, ...]
    email_depends_on: tuple[str, ...]
    signal_depends_on: tuple[str, ...]

    @classmethod
    def of(cls, config: Config) -> _ChannelBases:
        platforms = (*config.platforms, *config.controls)
        smtp, signal = config.notify.smtp_url, config.notify.signal_url
        return cls(
            smtp_url=smtp,
            signal_url=signal,
            platforms=platforms,
            email_depends_on=infer_depends_on(smtp, platforms) if smtp else (),
            signal_depends_on=infer_depends_on(signal, platforms) if signal else (),
        )

    def channels(self, stored: StoredContact) -> tuple[Channel, ...]:
        """The channels of ``stored``, refs numbered as its entries are; an entry whose
        base is no longer configured is left out (its ref is not reused)."""
        channels = []
        for index, entry in enumerate(stored.channels):
            ref = f"contacts[{stored.id}].channels[{index}]"
            declared = entry.get("depends_on")
            if "email" in entry:
                if self.smtp_url is None:
                    continue
                url = _with_query(self.smtp_url, "to", _mail_address(entry["email"]))
                depends_on = self.email_depends_on if declared is None else tuple(declared)
                channels.append(Channel(ref=ref, url=url, depends_on=depends_on))
            elif "signal" in entry:
                if self.signal_url is None:
                    continue
                url = _with_path_segment(self.signal_url, entry["signal"])
                depends_on = self.signal_depends_on if declared is None else tuple(declared)
                channels.append(Channel(ref=ref, url=url, depends_on=depends_on))
            elif "url" in entry:
                model = _ContactChannelModel.model_construct(None, **entry)
                problems = _Problems(ref)  # checked when it was imported
                channels.append(
                    _channel_to_domain(
                        model, ref=ref, url=entry["url"], platforms=self.platforms, problems=problems
                    )
                )
        return tuple(channels)


def stored_entry_problems(config: Config, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """What is wrong with contacts about to be stored in the address book, each as
    ``where: key: message`` (``where`` names the entry in the file read): the same checks
    as contacts written in the configuration, against ``config``'s groups and bases."""
    found: list[str] = []
    notify = _NotifyModel.model_construct(
        smtp_url=config.notify.smtp_url, signal_url=config.notify.signal_url
    )
    platforms = (*config.platforms, *config.controls)
    for where, entry in entries:
        try:
            model = _ContactModel.model_validate(entry)
        except ValidationError as exc:
            key, message = _translate(exc.errors(include_url=False, include_input=False)[0])
            found.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")
            continue
        problems = _Problems(where)
        for index, group in enumerate(model.groups):
            if group not in config.groups:
                problems.add(f"groups[{index}]", f"unknown group '{group}'")
        for index, channel_model in enumerate(model.channels):
            key = f"channels[{index}]"
            url = _contact_channel_url(channel_model, key=key, notify=notify, problems=problems)
            _channel_to_domain(
                channel_model, ref=key, key=key, url=url, platforms=platforms, problems=problems
            )
        found.extend(f"{where}: {key}: {message}" for key, message in problems.found)
    return found


def _personal_values(contact_models: Iterable[_ContactModel]) -> set[str]:
    """Addresses and numbers written in contacts: redacted from logs like secrets."""
    return {
        value
        for contact in contact_models
        for channel in contact.channels
        for value in (channel.email, channel.signal)
        if value
    }


def _read_contacts_file(path: Path, *, resolver: _Resolver) -> list[_ContactModel]:
    """The contacts of ``contacts_file``; none if the file does not exist yet."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise _config_error("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise _config_error(f"cannot read: {exc.strerror or 'error'}", source=source) from None
    raw = _parse_toml(text, source=source)
    resolved = resolver.tree(raw, (), source)
    try:
        return _ContactsFileModel.model_validate(resolved).contacts
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        key, message = _translate(errors[0])
        raise _config_error(message, key=key, source=source, more=len(errors) - 1) from None


def _alternatives(model: _FileModel) -> Mapping[str, tuple[str, ...]]:
    given = model.alternatives
    if isinstance(given, _AlternativesModel):
        by_language = {language: tuple(getattr(given, language)) for language in _LANGUAGES}
    else:
        by_language = dict.fromkeys(_LANGUAGES, tuple(given))
    return MappingProxyType(by_language)


def _templates(model: _FileModel, *, problems: _Problems) -> dict[str, Template]:
    templates = {}
    for name, template_model in model.templates.items():
        texts = {
            language: TemplateText(subject=text.subject, body=text.body)
            for language in _LANGUAGES
            if (text := getattr(template_model, language)) is not None
        }
        if not texts:
            problems.add(_key("templates", name), "a template needs a text in 'fr' or 'en' (or both)")
        templates[name] = Template(name=name, visibility=Visibility(template_model.visibility), texts=texts)
    return templates


def _template_visibility(name: str, template: Template | None) -> Visibility | None:
    if template is not None:
        return template.visibility
    if name in BUILTIN_TEMPLATE_NAMES:
        return Visibility.public if name.endswith("-public") else Visibility.private
    return None


def _route_channel_problems(
    route: _RouteModel,
    key: str,
    *,
    template: Template | None,
    channels: Mapping[str, Channel],
    problems: _Problems,
) -> None:
    visibility = _template_visibility(route.template, template)
    for index, name in enumerate(route.channels):
        channel_key = f"{key}.channels[{index}]"
        channel = channels.get(name)
        if channel is None:
            problems.add(channel_key, f"unknown channel '{name}'")
            continue
        if channel.visibility is not Visibility.public:
            continue
        if visibility is Visibility.private:
            problems.add(
                channel_key,
                f"public channel '{name}' may not receive private template '{route.template}' "
                "(a template sent to a public channel needs visibility = 'public')",
            )
        if route.reminder_every is not None:
            problems.add(channel_key, f"a route with reminder_every may not post to public channel '{name}'")


def _routes(
    model: _FileModel,
    *,
    platforms: Sequence[Platform],
    channels: Mapping[str, Channel],
    templates: Mapping[str, Template],
    problems: _Problems,
) -> tuple[Route, ...]:
    platform_names = {p.name for p in platforms}
    families = {p.family for p in platforms if p.family}
    routes = []
    seen: set[str] = set()
    for index, route_model in enumerate(model.routes):
        key = _key("routes", index)
        if route_model.name in seen:
            problems.add(f"{key}.name", f"duplicate route name '{route_model.name}'")
        seen.add(route_model.name)
        template = templates.get(route_model.template)
        if template is None and route_model.template not in BUILTIN_TEMPLATE_NAMES:
            problems.add(f"{key}.template", f"unknown template '{route_model.template}'")
        if not route_model.groups and not route_model.channels:
            problems.add(key, "a route needs 'groups' or 'channels' to tell")
        for group_index, group in enumerate(route_model.groups):
            if group not in model.groups:
                problems.add(f"{key}.groups[{group_index}]", f"unknown group '{group}'")
        _route_channel_problems(route_model, key, template=template, channels=channels, problems=problems)
        for platform_index, name in enumerate(route_model.platforms):
            if name not in platform_names:
                problems.add(f"{key}.platforms[{platform_index}]", f"unknown platform '{name}'")
        for family_index, name in enumerate(route_model.families):
            if name not in families:
                problems.add(f"{key}.families[{family_index}]", f"unknown family '{name}'")
        events = frozenset(IncidentEvent(e) for e in route_model.events)
        if IncidentEvent.reminder in events and route_model.reminder_every is None:
            problems.add(f"{key}.events", "the 'reminder' event needs reminder_every")
        every = route_model.reminder_every
        routes.append(
            Route(
                name=route_model.name,
                template=route_model.template,
                events=events,
                groups=tuple(route_model.groups),
                channels=tuple(route_model.channels),
                platforms=tuple(route_model.platforms),
                families=tuple(route_model.families),
                reminder_every=None if every is None else timedelta(seconds=every),
            )
        )
    return tuple(routes)


def _api_tokens(daemon_model: _DaemonModel) -> dict[str, str]:
    """``[[daemon.api_tokens]]`` by operator name: a name or a token given twice, or a
    token that is ``api_token`` too, could not tell operators apart."""
    tokens: dict[str, str] = {}
    for index, entry in enumerate(daemon_model.api_tokens):
        key = f"daemon.api_tokens[{index}]"
        if entry.name in tokens or entry.name == "api":
            raise ConfigError(f"the operator name {entry.name!r} is taken", key=f"{key}.name")
        if entry.token in tokens.values() or entry.token == daemon_model.api_token:
            raise ConfigError("this token is given to another operator too", key=f"{key}.token")
        tokens[entry.name] = entry.token
    return tokens


def _settings(
    model: _FileModel, *, resolvers: tuple[Endpoint, ...], env: Mapping[str, str], cwd: Path
) -> tuple[DaemonSettings, ProbeSettings, NotifySettings]:
    daemon_model = model.daemon
    daemon = DaemonSettings(
        database_url=daemon_model.database_url or _default_database_url(env, cwd),
        listen=_parse_endpoint(daemon_model.listen, 9464),
        timezone=daemon_model.timezone,
        api_token=daemon_model.api_token,
        api_tokens=_api_tokens(daemon_model),
        log_level=daemon_model.log_level,
        dry_run=daemon_model.dry_run,
        retention=timedelta(seconds=daemon_model.retention),
    )
    user_agent = {} if model.probes.user_agent is None else {"user_agent": model.probes.user_agent}
    nameservers = (
        None
        if model.probes.nameservers is None
        else tuple(_parse_endpoint(text, 53) for text in model.probes.nameservers)
    )
    probes = ProbeSettings(
        concurrency=model.probes.concurrency,
        resolvers=resolvers,
        nameservers=nameservers,
        lookup_timeout_s=model.probes.lookup_timeout,
        **user_agent,
    )
    notify = NotifySettings(
        dry_run=daemon_model.dry_run,
        concurrency=model.notify.concurrency,
        max_attempts=model.notify.max_attempts,
        backoff_base_s=model.notify.backoff_base,
        backoff_max_s=model.notify.backoff_max,
        give_up_after_s=model.notify.give_up_after,
        rate_per_minute=MappingProxyType(
            {**_DEFAULT_RATES, **{k.lower(): v for k, v in model.notify.rate_per_minute.items()}}
        ),
        smtp_url=model.notify.smtp_url,
        signal_url=model.notify.signal_url,
    )
    return daemon, probes, notify


def _build(
    model: _FileModel,
    *,
    env: Mapping[str, str],
    cwd: Path,
    secrets: set[str],
    source: str,
    filed_contacts: Sequence[_ContactModel] = (),
    contacts_source: str | None = None,
) -> Config:
    problems = _Problems(source)

    resolvers = tuple(_parse_endpoint(text, 53) for text in model.probes.resolvers)
    catalog = _builtin_catalog() if model.catalog.builtin else _FileModel()
    platform_tables = _merge(catalog.platforms, model.platforms)
    control_tables = _merge(catalog.controls, model.controls)
    all_platforms = _targets_to_domain("platforms", platform_tables, resolvers=resolvers, problems=problems)
    all_controls = _targets_to_domain("controls", control_tables, resolvers=resolvers, problems=problems)
    for name in control_tables.keys() & platform_tables.keys():
        problems.add(_key("controls", name), "a control may not share its name with a platform")
    controls = tuple(c for c in all_controls if c.enabled)
    policy = _policy(model.detection, controls=len(controls), problems=problems)

    for name in model.groups:
        if not _NAME.fullmatch(name):
            problems.add(_key("groups", name), "a group name may contain only letters, digits, '_', '-', '.'")
    seen = _SeenContacts()
    contacts = _contacts(model.contacts, model=model, platforms=all_platforms, problems=problems, seen=seen)
    if contacts_source is not None:
        # the contacts file's problems name that file, and come first
        file_problems = _Problems(contacts_source)
        contacts += _contacts(
            filed_contacts,
            model=model,
            platforms=all_platforms,
            problems=file_problems,
            seen=seen,
            where=f"{contacts_source}: ",
        )
        file_problems.raise_if_any()
    channels = {
        name: _channel_to_domain(
            channel_model,
            ref=_key("channels", name),
            url=channel_model.url,
            platforms=all_platforms,
            problems=problems,
        )
        for name, channel_model in model.channels.items()
    }
    templates = _templates(model, problems=problems)
    routes = _routes(
        model, platforms=all_platforms, channels=channels, templates=templates, problems=problems
    )
    maintenance = _maintenance_windows(model, platforms=all_platforms, problems=problems)
    problems.raise_if_any()

    daemon, probes, notify = _settings(model, resolvers=resolvers, env=env, cwd=cwd)
    status_page = _status_page_settings(model.status_page, daemon=daemon, source=source)
    all_secrets = set(secrets)
    all_secrets.update(c.url for contact in contacts for c in contact.channels)
    all_secrets.update(c.url for c in channels.values())
    all_secrets.update(_personal_values([*model.contacts, *filed_contacts]))
    if daemon.api_token:
        all_secrets.add(daemon.api_token)
    all_secrets.update(daemon.api_tokens.values())
    if password := _database_password(daemon.database_url):
        all_secrets.add(password)
    all_secrets.discard("")

    return Config(
        daemon=daemon,
        probes=probes,
        detection=policy,
        platforms=tuple(p for p in all_platforms if p.enabled),
        controls=controls,
        contacts=contacts,
        groups=MappingProxyType({name: group.description for name, group in model.groups.items()}),
        channels=MappingProxyType(channels),
        routes=routes,
        templates=MappingProxyType(templates),
        alternatives=_alternatives(model),
        notify=notify,
        secrets=frozenset(all_secrets),
        source=source,
        contacts_file=contacts_source,
        public_contact_points=tuple(model.public_contact_points),
        status_page=status_page,
        maintenance=tuple(replace(w, timezone=w.timezone or daemon.timezone) for w in maintenance),
        manual=ManualSettings(approval=model.manual.approval),
    )


def _maintenance_windows(
    model: _FileModel, *, platforms: Sequence[Platform], problems: _Problems
) -> list[MaintenanceWindow]:
    """``[[maintenance]]`` → windows; their zone is left empty where ``daemon.timezone`` applies."""
    known = {p.name for p in platforms} | {p.family for p in platforms if p.family} | {"*"}
    windows: list[MaintenanceWindow] = []
    seen: set[str] = set()
    for index, entry in enumerate(model.maintenance):
        key = _key("maintenance", index)
        if not _NAME.fullmatch(entry.name):
            problems.add(f"{key}.name", "a window name may contain only letters, digits, '_', '-', '.'")
        if entry.name in seen:
            problems.add(f"{key}.name", f"duplicate maintenance window name '{entry.name}'")
        seen.add(entry.name)
        for platform_index, name in enumerate(entry.platforms):
            if name not in known:
                problems.add(f"{key}.platforms[{platform_index}]", f"unknown platform or family '{name}'")
        hours, minutes = (int(part) for part in entry.start.split(":"))
        days = (WEEKDAYS.index(day) for day in entry.days)
        windows.append(
            MaintenanceWindow(
                name=entry.name,
                platforms=tuple(dict.fromkeys(entry.platforms)),
                days=frozenset(days),
                start=time(hours, minutes),
                duration=timedelta(seconds=entry.duration),
                timezone=entry.timezone or "",
            )
        )
    return windows


def _status_page_settings(
    model: _StatusPageModel, *, daemon: DaemonSettings, source: str
) -> StatusPageSettings:
    listen = None if model.listen is None else _parse_endpoint(model.listen, 8080)
    if (
        listen is not None
        and listen.port == daemon.listen.port
        and (
            listen.host == daemon.listen.host or "0.0.0.0" in (listen.host, daemon.listen.host)  # noqa: S104
        )
    ):
        raise _config_error(
            "the status page needs a listener of its own, apart from daemon.listen",
            key="status_page.listen",
            source=source,
        )
    base_url = model.base_url
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    return StatusPageSettings(
        listen=listen,
        directory=model.directory,
        languages=tuple(dict.fromkeys(model.languages)),
        title=model.title,
        publish_every_s=model.publish_every,
        base_url=base_url,
        history_days=model.history_days,
    )


# ---------------------------------------------------------------------------- the front door

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$|\s*\(at end of document\)\s*$")


#: How deep tables, arrays and inline tables may nest; the deepest real key is 4 levels down.
_MAX_NESTING = 32
#: What opens or closes a nesting level, starts a string or a comment, or ends a line.
_TOML_TOKEN = re.compile(r"""\"\"\"|'''|["'#\[\]{}\n]""")
#: The rest of a string once its opening quotes are read.
_TOML_STRING_REST = {
    '"""': re.compile(r'(?:[^\\]|\\.)*?""""{0,2}', re.DOTALL),  # """a"""" ends in a quote
    "'''": re.compile(r".*?''''{0,2}", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
}


def _too_deep(text: str) -> int | None:
    """The line where arrays and inline tables nest deeper than :data:`_MAX_NESTING`, if
    any: tomllib reads them by recursion, and a few hundred ``[`` exhaust the stack."""
    depth, line, pos = 0, 1, 0
    while (token := _TOML_TOKEN.search(text, pos)) is not None:
        pos = token.end()
        kind = token[0]
        if kind == "\n":
            line += 1
        elif kind == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif kind in _TOML_STRING_REST:
            rest = _TOML_STRING_REST[kind].match(text, pos)
            if rest is None:
                return None  # an unterminated string: tomllib names its line
            line += text.count("\n", pos, rest.end())
            pos = rest.end()
        elif kind in "[{":
            depth += 1
            if depth > _MAX_NESTING:
                return line
        else:
            depth = max(0, depth - 1)
    return None


def _parse_toml(text: str, *, source: str) -> dict[str, Any]:
    deep_line = _too_deep(text)
    if deep_line is not None:
        raise _config_error(f"nested more than {_MAX_NESTING} levels deep", line=deep_line, source=source)
    try:
        return tomllib.loads(text)
    except RecursionError:  # nesting _too_deep did not see, should there be any
        raise _config_error(f"nested more than {_MAX_NESTING} levels deep", source=source) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        if match and match[1]:
            line: int | None = int(match[1])
        else:  # "at end of document": the last line that has something on it
            line = max(1, len(text.rstrip().splitlines()))
        if match:
            message = message[: match.start()]
        raise _config_error(message or "invalid TOML", line=line, source=source) from None


def parse_config(
    text: str,
    *,
    source: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    base_dir: Path | None = None,
    contacts_file: bool = True,
) -> Config:
    """Validate a configuration file's text. ``source`` names it in errors; ``cwd`` is where
    the default ``./var`` state directory lives (the process's working directory if None);
    ``base_dir`` is where a relative ``contacts_file`` is found (``cwd`` if None).

    ``contacts_file=False`` leaves the contacts file unread (the contacts written in the
    configuration itself are read): for the commands that tell nobody, whose time and
    memory must not grow with an address book."""
    raw = _parse_toml(text, source=source)
    resolver = _Resolver(env)
    resolved = resolver.tree(raw, (), source)
    model = _validate(resolved, source)
    cwd = cwd or Path.cwd()
    filed: list[_ContactModel] = []
    contacts_source = None
    if model.contacts_file is not None and contacts_file:
        contacts_path = (base_dir or cwd) / model.contacts_file
        contacts_source = str(contacts_path)
        filed = _read_contacts_file(contacts_path, resolver=resolver)
    return _build(
        model,
        env=env,
        cwd=cwd,
        secrets=resolver.secrets,
        source=source,
        filed_contacts=filed,
        contacts_source=contacts_source,
    )


def load_config(
    path: Path | None, *, env: Mapping[str, str], cwd: Path | None = None, contacts_file: bool = True
) -> Config:
    """Read and validate ``path``; None gives the built-in default (the catalog, no contacts).
    ``contacts_file=False``: see :func:`parse_config`."""
    if path is None:
        return parse_config("", source=BUILTIN_SOURCE, env=env, cwd=cwd)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _config_error("file not found", source=source) from None
    except OSError as exc:
        raise _config_error(f"cannot read: {exc.strerror or 'error'}", source=source) from None
    try:
        text = data.decode("utf-8-sig")  # an editor's byte order mark is not part of the text
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _config_error("not UTF-8 text", line=line, source=source) from None
    return parse_config(
        text, source=source, env=env, cwd=cwd, base_dir=path.parent, contacts_file=contacts_file
    )


def find_config_path(
    explicit: Path | None,
    *,
    env: Mapping[str, str],
    cwd: Path,
    system_path: Path = SYSTEM_CONFIG_PATH,
) -> Path | None:
    """``--config PATH``, then ``$FAILOVER_CONFIG``, ``./failover.toml``, ``system_path``;
    None means the built-in default. A named file that does not exist is an error."""
    if explicit is not None:
        path = cwd / explicit
        if not path.is_file():
            raise _config_error("configuration file not found", source=str(explicit))
        return path
    named = env.get("FAILOVER_CONFIG")
    if named:
        path = cwd / named
        if not path.is_file():
            raise _config_error("configuration file named by $FAILOVER_CONFIG not found", source=named)
        return path
    for candidate in (cwd / "failover.toml", system_path):
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------- rendering


def _channel_url_shape(url: str) -> str:
    match = _SCHEME.match(url)
    return f"{match[1]}://{_REDACTED}" if match else _REDACTED


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Endpoint):
        return str(value)
    if isinstance(value, timedelta):
        return _format_duration(value.total_seconds())
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, Channel):
        return {
            "ref": value.ref,
            "url": _channel_url_shape(value.url),
            "visibility": value.visibility.value,
            "depends_on": list(value.depends_on),
        }
    if is_dataclass(value) and not isinstance(value, type):
        # a check's kind and role are properties; show them first
        out = {prop: _jsonable(getattr(value, prop)) for prop in ("kind", "role") if hasattr(value, prop)}
        out.update({f.name: _jsonable(getattr(value, f.name)) for f in fields(value)})
        return out
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _compress_statuses(codes: frozenset[int]) -> list[str]:
    ranges: list[str] = []
    ordered = sorted(codes)
    start = prev = ordered[0] if ordered else 0
    for code in [*ordered[1:], None]:
        if code is not None and code == prev + 1:
            prev = code
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if code is not None:
            start = prev = code
    return ranges if ordered else []


def redacted_config(config: Config) -> dict[str, Any]:
    """The resolved configuration as JSON-ready data, every secret replaced by ``***``
    and every channel URL reduced to its scheme."""
    data: dict[str, Any] = {"source": config.source}
    for f in fields(config):
        if f.name in ("secrets", "source"):
            continue
        data[f.name] = _jsonable(getattr(config, f.name))
    if config.daemon.api_token is not None:
        data["daemon"]["api_token"] = _REDACTED
    data["daemon"]["api_tokens"] = dict.fromkeys(config.daemon.api_tokens, _REDACTED)
    for section in ("platforms", "controls"):
        for target in data[section]:
            for check in target["checks"]:
                if "accept_status" in check:
                    check["accept_status"] = _compress_statuses(frozenset(check["accept_status"]))
    secrets = sorted(config.secrets, key=len, reverse=True)
    return _scrub(data, secrets)  # type: ignore[no-any-return]


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def render_config(config: Config) -> str:
    """The resolved configuration as indented JSON, secrets redacted (``config show``)."""
    return json.dumps(redacted_config(config), indent=2, ensure_ascii=False)


_STARTER = """\
# failover configuration. Every key is documented in config/failover.example.toml;
# everything left out takes its default. Check it with `failover config validate`.
#
# Secrets are written by reference, never inline:
#   "${env:NAME}"    the environment variable NAME
#   "${file:/path}"  the content of a file (e.g. a systemd credential)

# Other ways to reach you, listed in every notice: one list for every language, or one
# per language: alternatives = { fr = ["Courriel : …"], en = ["E-mail: …"] }
alternatives = [
  # "E-mail: contact@example.org",
]

[daemon]
# database_url = "sqlite:///var/lib/failover/failover.db"   # default: $STATE_DIRECTORY/failover.db
listen = "127.0.0.1:9464"      # /metrics, /healthz and the API
timezone = "UTC"               # how times are shown to you, to the public, and to contacts without one
# api_token = "${env:FAILOVER_API_TOKEN}"                   # enables POST /api/v1/trigger
log_level = "info"
dry_run = false                # true: decide and record, but send nothing

[detection]
control_quorum = 2             # control targets that must answer for our network to count as up
confirm_after = ["2s", "5s"]   # re-probe delays before an outage is confirmed
recover_after = 3              # healthy rounds before a platform is up again

# The built-in catalog watches Facebook, Messenger, Instagram, WhatsApp, Telegram, Signal,
# X, Discord, Slack and mastodon.social. Switch one off:
# [platforms.x]
# enabled = false

[groups.team]
description = "The people who answer customers"

# [[contacts]]
# name = "Alice"
# language = "en"              # "en" or "fr"
# timezone = "Europe/Paris"
# groups = ["team"]
# [[contacts.channels]]        # in order of preference
# url = "mailtos://${env:SMTP_USER}:${env:SMTP_PASS}@smtp.example.org?to=alice@example.org"

# The built-in template "outage" has a text for every event (outage, recovery, …) in
# English and French. One of your own is used for every event of its routes: test `event`.
# [templates.team]
# visibility = "private"
# [templates.team.en]
# subject = "{{ names }} {{ 'works again' if event == 'resolved' else 'is down' }}"
# body = "{% if event == 'resolved' %}Back to normal.{% else %}Reach us by e-mail or Signal.{% endif %}"

# [[routes]]
# name = "team"
# template = "outage"
# events = ["confirmed", "resolved"]
# groups = ["team"]
"""


def starter_config() -> str:
    """A small, commented, valid configuration file for ``failover config init``."""
    return _STARTER
