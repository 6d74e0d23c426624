"""The vocabulary of failover: frozen, keyword-only facts shared by every layer.

Nothing here does I/O or reads the clock; every timestamp is timezone-aware UTC.
Configuration is validated in ``config`` and handed around as the frozen check and
policy objects defined here, so probes and the judge never see raw TOML.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

__all__ = [
    "CHANNEL_PLATFORMS",
    "CONTROL_FAMILY",
    "NAME",
    "NAME_PATTERN",
    "Approval",
    "Channel",
    "Check",
    "CheckKind",
    "CheckRole",
    "ConnectivityEvent",
    "Contact",
    "DetectionPolicy",
    "DnsCheck",
    "DnsVia",
    "Endpoint",
    "Health",
    "HttpCheck",
    "Incident",
    "IncidentChange",
    "IncidentEvent",
    "IncidentKind",
    "IncidentScope",
    "NoticeState",
    "Observation",
    "Outcome",
    "Platform",
    "Route",
    "StatusCheck",
    "StatusFormat",
    "StoredContact",
    "TcpCheck",
    "Template",
    "TemplateText",
    "TlsCheck",
    "Transition",
    "Visibility",
]

#: The pseudo family of control targets; never a real platform family.
CONTROL_FAMILY = "_control"

#: The one rule for a name that failover is given and shows back: platforms, families,
#: templates, routes, groups, contacts' ids, the targets of triggers and alerts. One to 64
#: characters of letters, digits and ``_.-``, starting with a letter or digit: safe in a
#: URL, a log field, a metric label and a file name alike.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
NAME = re.compile(NAME_PATTERN)


class Outcome(enum.StrEnum):
    """What one check saw. A bounded set: safe as a metric label."""

    ok = "ok"
    dns_nxdomain = "dns_nxdomain"
    dns_servfail = "dns_servfail"
    dns_refused = "dns_refused"
    dns_no_answer = "dns_no_answer"
    dns_timeout = "dns_timeout"
    tcp_refused = "tcp_refused"
    tcp_timeout = "tcp_timeout"
    tcp_unreachable = "tcp_unreachable"
    tls_invalid = "tls_invalid"
    tls_expired = "tls_expired"
    tls_error = "tls_error"
    tls_timeout = "tls_timeout"
    http_status = "http_status"
    http_timeout = "http_timeout"
    http_error = "http_error"
    http_body_mismatch = "http_body_mismatch"
    http_slow = "http_slow"
    status_minor = "status_minor"
    status_major = "status_major"
    status_unreachable = "status_unreachable"
    parse_error = "parse_error"


class CheckKind(enum.StrEnum):
    dns = "dns"
    tcp = "tcp"
    tls = "tls"
    http = "http"
    statuspage = "statuspage"


class CheckRole(enum.StrEnum):
    """What a check's failure is evidence of, used by the judge to corroborate."""

    #: a direct query to the platform's own name servers
    authoritative = "authoritative"
    #: a lookup through the system resolver or listed public resolvers
    resolver = "resolver"
    #: the door users knock on: TCP, TLS or HTTP to a public endpoint
    front_door = "front_door"
    #: the platform's own status page or feed
    status = "status"


class DnsVia(enum.StrEnum):
    system = "system"
    resolvers = "resolvers"
    authoritative = "authoritative"


class StatusFormat(enum.StrEnum):
    statuspage = "statuspage"  # Atlassian Statuspage v2 summary.json
    feed = "feed"  # RSS 2.0 or Atom incident feed
    meta = "meta"  # metastatus.com /data/orgs.json


class Health(enum.StrEnum):
    up = "up"
    degraded = "degraded"
    down = "down"
    unknown = "unknown"


class IncidentKind(enum.StrEnum):
    unreachable = "unreachable"
    degraded = "degraded"
    manual = "manual"


class Approval(enum.StrEnum):
    """Where a manual incident needing a second operator's approval stands: its notices
    are recorded ``awaiting`` it and none goes out before it is ``approved``."""

    awaiting = "awaiting"
    approved = "approved"
    rejected = "rejected"


class IncidentScope(enum.StrEnum):
    platform = "platform"
    family = "family"
    custom = "custom"


class IncidentEvent(enum.StrEnum):
    """What happened to an incident; each event may produce notices."""

    opened = "opened"
    confirmed = "confirmed"
    #: more platforms joined an open family incident (told once per contact)
    updated = "updated"
    resolved = "resolved"
    manual = "manual"
    reminder = "reminder"
    #: an operator retracted the incident: a correction to whoever was told of it
    retracted = "retracted"


class Visibility(enum.StrEnum):
    private = "private"
    public = "public"


class NoticeState(enum.StrEnum):
    """Where a notice is in the outbox: ``pending → sending → sent | failed``, or set aside."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"
    silenced = "silenced"
    cancelled = "cancelled"


class ConnectivityEvent(enum.StrEnum):
    """Our own network stopped (``lost``) or started again (``restored``) working, as the
    control targets show it: never a platform's incident."""

    lost = "lost"
    restored = "restored"


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    """A host (name or address) and port, e.g. a DNS server."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, kw_only=True, slots=True)
class DnsCheck:
    """Resolve ``qname`` through the system resolver, listed resolvers or the
    platform's authoritative servers."""

    name: str
    qname: str
    via: DnsVia
    record_types: tuple[str, ...] = ("A",)
    servers: tuple[Endpoint, ...] = ()
    timeout_s: float = 3.0

    @property
    def kind(self) -> CheckKind:
        return CheckKind.dns

    @property
    def role(self) -> CheckRole:
        if self.via is DnsVia.authoritative:
            return CheckRole.authoritative
        return CheckRole.resolver


@dataclass(frozen=True, kw_only=True, slots=True)
class TcpCheck:
    name: str
    host: str
    port: int
    timeout_s: float = 3.0

    @property
    def kind(self) -> CheckKind:
        return CheckKind.tcp

    @property
    def role(self) -> CheckRole:
        return CheckRole.front_door


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsCheck:
    """A TLS handshake with SNI and certificate verification."""

    name: str
    host: str
    port: int = 443
    server_name: str | None = None
    ca_file: str | None = None
    timeout_s: float = 5.0

    @property
    def kind(self) -> CheckKind:
        return CheckKind.tls

    @property
    def role(self) -> CheckRole:
        return CheckRole.front_door


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpCheck:
    name: str
    url: str
    method: str = "GET"
    accept_status: frozenset[int] = frozenset(range(200, 400))
    body_pattern: str | None = None
    slow_after_s: float = 3.0
    max_redirects: int = 3
    ca_file: str | None = None
    timeout_s: float = 10.0

    @property
    def kind(self) -> CheckKind:
        return CheckKind.http

    @property
    def role(self) -> CheckRole:
        return CheckRole.front_door


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusCheck:
    """A platform's status source: Statuspage v2, an RSS/Atom feed or Meta's JSON."""

    name: str
    url: str
    format: StatusFormat
    #: component or system names to watch; empty means the overall indicator
    components: tuple[str, ...] = ()
    ca_file: str | None = None
    timeout_s: float = 10.0

    @property
    def kind(self) -> CheckKind:
        return CheckKind.statuspage

    @property
    def role(self) -> CheckRole:
        return CheckRole.status


Check = DnsCheck | TcpCheck | TlsCheck | HttpCheck | StatusCheck


@dataclass(frozen=True, kw_only=True, slots=True)
class Platform:
    """A watched platform (or, with ``family == CONTROL_FAMILY``, a control target)."""

    name: str
    display_name: str
    family: str | None
    checks: tuple[Check, ...]
    interval_s: float = 15.0
    enabled: bool = True

    @property
    def is_control(self) -> bool:
        return self.family == CONTROL_FAMILY


@dataclass(frozen=True, kw_only=True, slots=True)
class DetectionPolicy:
    """Every threshold of the judge, with the defaults documented in the example config."""

    #: control checks that must pass for our own connectivity to count as working
    control_quorum: int = 2
    #: delays after a first failing round before the outage is confirmed
    confirm_after_s: tuple[float, ...] = (2.0, 5.0)
    #: consecutive healthy rounds needed to declare a platform up again
    recover_after: int = 3
    #: more than this many health changes within ``flap_window`` holds the state
    flap_max_transitions: int = 4
    flap_window: timedelta = timedelta(minutes=30)
    #: platforms of one family going down within this window form one family incident
    family_window: timedelta = timedelta(minutes=5)
    family_min_platforms: int = 2
    #: a family member confirmed down while siblings are still being confirmed waits up to
    #: this long for them, so that the family's outage is told once, naming every member
    family_hold: timedelta = timedelta(seconds=15)
    #: one failing source (error status, unexpected content, the status page's own word)
    #: that keeps failing this long makes the platform degraded
    degraded_after: timedelta = timedelta(minutes=2)
    #: the re-probes that confirm an outage give each check at most this long
    confirm_timeout_s: float = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One check's result. ``target`` is a platform or a control name."""

    target: str
    check: str
    kind: CheckKind
    role: CheckRole
    outcome: Outcome
    at: datetime
    latency_s: float | None = None
    detail: str = ""
    #: per-phase durations in seconds (e.g. connect, tls, first_byte)
    phases: Mapping[str, float] = field(default_factory=dict)
    #: days until the certificate expires, for TLS and HTTPS checks
    cert_days_left: float | None = None
    is_control: bool = False
    #: an HTTP check over TLS (https://) or not; None when the check says nothing of it
    secure: bool | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ok


@dataclass(frozen=True, kw_only=True, slots=True)
class Transition:
    """A platform's health changed (or the flapping hold began or ended)."""

    platform: str
    previous: Health
    current: Health
    at: datetime
    reason: str
    flapping: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Incident:
    """An outage of a platform or family, or a manual one.

    ``key`` is deterministic (scope, name, opening time) so that the same decision
    replayed after a crash never opens a second incident; ``id`` is the store's number.
    ``message`` is the operator's text for every language, ``messages`` their texts
    written for one language each, as ``(language, text)`` pairs ordered by language.
    """

    key: str
    scope: IncidentScope
    kind: IncidentKind
    name: str
    platforms: tuple[str, ...]
    opened_at: datetime
    confirmed_at: datetime | None = None
    resolved_at: datetime | None = None
    evidence: tuple[str, ...] = ()
    cause: str = ""
    message: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    #: None: no approval was asked for
    approval: Approval | None = None
    #: when an operator retracted it (its notices were a mistake); None: never
    retracted_at: datetime | None = None
    id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def duration(self, now: datetime) -> timedelta:
        return (self.resolved_at or now) - self.opened_at


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentChange:
    """An incident event that may produce notices, with the incident as it now stands."""

    event: IncidentEvent
    incident: Incident


#: The one channel→platform table: the apprise schemes whose messages travel through a
#: watched platform. A channel of such a scheme depends on that platform unless its
#: configuration says otherwise (an explicit ``depends_on``, even an empty one, always wins).
#: Mastodon's schemes are not here: a toot depends on the watched platform serving the
#: instance it is posted to, if any, which only the configuration can tell.
CHANNEL_PLATFORMS: Mapping[str, str] = MappingProxyType(
    {
        "whatsapp": "whatsapp",
        "whapi": "whatsapp",
        "tgram": "telegram",
        "signal": "signal",
        "signals": "signal",
        "twitter": "x",
        "x": "x",
        "tweet": "x",
        "discord": "discord",
        "slack": "slack",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Channel:
    """A way to reach someone: an apprise URL (a secret: never logged or stored),
    its visibility, and the platforms it depends on (as configured, else what
    :data:`CHANNEL_PLATFORMS` implies: the configuration fills it in, nobody infers it
    later). ``ref`` is a stable, secret-free reference such as ``contacts[2].channels[0]``
    or ``channels.mastodon-public``."""

    ref: str
    url: str
    visibility: Visibility = Visibility.private
    depends_on: tuple[str, ...] = ()
    #: the language posts on a shared channel are written in (contacts' channels use the contact's)
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    """Someone to tell. ``id`` is stable and carries no personal data: the outbox and the
    journal name the contact by it, never by name or address."""

    name: str
    id: str = ""
    language: str = "en"
    timezone: str = "UTC"
    groups: tuple[str, ...] = ()
    #: in order of preference
    channels: tuple[Channel, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredContact:
    """A contact of the imported address book, as the database keeps it: what was read,
    before the configuration turns it into a :class:`Contact` (an ``email`` or ``signal``
    channel becomes a URL on ``[notify]``'s base only then, so a changed base applies to
    everyone at once). ``channels`` are ``{"email": …}``, ``{"signal": …}`` or ``{"url": …}``."""

    id: str
    name: str
    language: str
    #: None: the configuration's time zone
    timezone: str | None
    groups: tuple[str, ...] = ()
    channels: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class TemplateText:
    subject: str
    body: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Template:
    """A Jinja2 text per language. A ``public`` template never sees contact data."""

    name: str
    visibility: Visibility
    texts: Mapping[str, TemplateText]


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """Who hears of what: the groups (and shared channels) told about incidents of
    these platforms or families, for these events, with this template."""

    name: str
    template: str
    events: frozenset[IncidentEvent]
    groups: tuple[str, ...] = ()
    #: names of shared channels (``[channels.NAME]``), e.g. a public Mastodon account
    channels: tuple[str, ...] = ()
    #: empty platforms and families means every platform
    platforms: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    reminder_every: timedelta | None = None
