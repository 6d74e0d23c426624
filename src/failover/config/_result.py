"""The result of reading a configuration: :class:`Config` and its settings, frozen, and
the :class:`ContactSource` port through which a configuration reads its imported address
book (the one given to it, else the one :func:`register_address_book` finds)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from types import MappingProxyType
from typing import Literal, Protocol

from failover import __version__
from failover.config._contacts import _ChannelBases
from failover.domain import (
    Channel,
    Contact,
    DetectionPolicy,
    Endpoint,
    Platform,
    Route,
    StoredContact,
    Template,
)

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
    user_agent: str = f"failover/{__version__} (+https://github.com/failover/failover)"
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
        object.__setattr__(
            self,
            "_channel_bases",
            _ChannelBases.of(
                smtp=self.notify.smtp_url,
                signal=self.notify.signal_url,
                platforms=(*self.platforms, *self.controls),
            ),
        )

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
