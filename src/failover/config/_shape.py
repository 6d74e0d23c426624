"""The file's shape: one pydantic model per table (unknown keys forbidden, TOML's types
taken strictly), and pydantic's errors translated into a key path and a message that
quotes no value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

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

from failover.config._problems import KeyPart, _config_error, _key
from failover.config._values import (
    MAINTENANCE_MAX,
    WEEKDAYS,
    ChannelUrl,
    ContactId,
    EmailAddress,
    EndpointText,
    EventName,
    NonEmpty,
    PhoneNumber,
    Port,
    PositiveDuration,
    RecordType,
    StatusRange,
    TimezoneName,
    VisibilityName,
    WebUrl,
    _check_regex,
    _check_signal_base,
    _check_smtp_base,
)
from failover.domain import DetectionPolicy

_DEFAULT_POLICY = DetectionPolicy()
_DEFAULT_RESOLVERS = ("1.1.1.1:53", "9.9.9.9:53")


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
