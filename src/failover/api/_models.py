"""What comes in: the request bodies the operator's endpoints and the Alertmanager webhook
accept, validated by pydantic (strict for JSON), and the name rule they share."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from failover.domain import NAME, NAME_PATTERN, IncidentScope

#: Names of platforms, families, groups and custom incidents, as the configuration spells them.
EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999, e.g. Go's zero time with an offset
        return EARLIEST if value.year == 1 else _LATEST


_UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
_Name = Annotated[str, Field(pattern=f"^{NAME_PATTERN}$")]


class _Incoming(BaseModel):
    # request bodies are validated in strict mode (a wrong JSON type is a 422: "30" is not a
    # number); code building these in Python (the service, tests) may pass plain values
    model_config = ConfigDict(frozen=True, populate_by_name=True, allow_inf_nan=False)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


_MessageText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
#: a language code as contacts' languages are written (``fr``, ``en``, ``pt-BR``)
_LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,2}$")]


class TriggerRequest(_Incoming):
    """A manual failover, checked as ``failover trigger`` checks it: tell the people who
    hear of a platform or a family that it is down, in the operator's words.

    ``target`` names a configured platform or family; an unknown name is refused (a typo
    must not page everyone). Anything else that failed, e.g. ``phone-lines``, is a custom
    incident, asked for explicitly with ``custom: true`` and a ``name`` (the CLI's
    ``--custom NAME``). A message is required: ``message`` for every language, and/or
    ``messages`` with one text per language (``{"fr": "…", "en": "…"}``); each contact is
    sent the text of their language, else ``message``. A language no text can be written
    in is refused (422 naming it).

    When an open incident already covers the target, the trigger is attached to it
    (recorded in its journal, nothing sent); ``update: true`` sends the message to that
    incident's recipients as an update of it instead. A dry run says which it would be.
    """

    model_config = ConfigDict(extra="forbid")  # a typo in an operator's request is an error

    #: a configured platform or family (not with ``custom``)
    target: _Name | None = None
    #: a custom incident, about ``name``
    custom: bool = False
    name: _Name | None = None
    #: what the notices say, in the operator's words (to contacts of every language)
    message: _MessageText | None = None
    #: what the notices say to contacts of each language, by language code
    messages: dict[_LanguageCode, _MessageText] = Field(default_factory=dict, max_length=16)
    #: groups to tell; empty means the groups the routes name
    groups: tuple[_Name, ...] = Field(default=(), max_length=64)
    #: seconds during which the trigger can be cancelled before notices go; None: the daemon's default
    hold_seconds: float | None = Field(default=None, ge=0, le=86400)
    #: preview: answer what would be sent, record and send nothing
    dry_run: bool = False
    #: when an open incident covers the target, send the message as an update of it
    update: bool = False

    @property
    def what(self) -> str:
        """The name triggered: the custom incident's name, else the target."""
        return (self.name if self.custom else self.target) or ""

    def problems(self) -> list[str]:
        """``key: problem`` lines for fields that do not go together (empty: none)."""
        problems: list[str] = []
        if self.custom:
            if self.name is None:
                problems.append('name: required with "custom": true')
            if self.target is not None:
                problems.append('target: not with "custom": true (a custom incident has a "name")')
        else:
            if self.target is None:
                problems.append(
                    'target: required (a platform or a family; anything else: "custom": true and a "name")'
                )
            if self.name is not None:
                problems.append('name: only with "custom": true')
        if self.message is None and not self.messages:
            problems.append('message: required (or "messages", one text per language)')
        return problems


class NoteRequest(_Incoming):
    """A note for an incident's journal of actions (``failover note ID TEXT``): what was
    done, decided or learnt. The journal names its author (``api``); no notice carries it."""

    model_config = ConfigDict(extra="forbid")

    text: _MessageText


class RejectRequest(_Incoming):
    """Why a manual message awaiting approval is rejected (``failover reject ID --reason``)."""

    model_config = ConfigDict(extra="forbid")

    reason: _MessageText


class RetractRequest(_Incoming):
    """A retraction of an incident whose notices went out by mistake (``failover retract
    ID --reason TEXT``): its notices still waiting are withdrawn, whoever was told gets a
    correction (same channel, same language), its public posts are deleted where the
    channel allows it, and it is closed. ``reason`` enters its journal; ``message`` (every
    language) and ``messages`` (one text per language) are the operator's correction, put
    before the built-in one."""

    model_config = ConfigDict(extra="forbid")

    reason: _MessageText
    message: _MessageText | None = None
    messages: dict[_LanguageCode, _MessageText] = Field(default_factory=dict, max_length=16)


class AlertStatus(enum.StrEnum):
    firing = "firing"
    resolved = "resolved"


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertTarget:
    """What an alert says is affected: the ``label`` naming it, the name, and the scope
    that label implies (None: a platform or a family, the service decides by name;
    ``custom`` for ``failover_custom``). The name is the label's value, unchecked."""

    label: str
    scope: IncidentScope | None
    name: str

    @property
    def valid(self) -> bool:
        """The name follows the configuration's name rule."""
        return NAME.fullmatch(self.name) is not None


#: Labels naming what an alert is about, in order of preference.
_TARGET_LABELS: tuple[tuple[str, IncidentScope | None], ...] = (
    ("failover_custom", IncidentScope.custom),
    ("failover_target", None),
    ("platform", IncidentScope.platform),
    ("family", IncidentScope.family),
)


class Alert(_Incoming):
    """One alert of an Alertmanager webhook; keys Alertmanager may add are accepted and dropped."""

    model_config = ConfigDict(extra="ignore")

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: _UtcDatetime = Field(alias="startsAt")
    #: ``0001-01-01T00:00:00Z`` while the alert fires
    ends_at: _UtcDatetime = Field(alias="endsAt")
    #: stable per label set: the idempotency key of the incident the alert opens
    fingerprint: str = Field(min_length=1, max_length=128)
    generator_url: str = Field(default="", alias="generatorURL")

    @property
    def target(self) -> AlertTarget | None:
        """What this alert is about, from the first of ``failover_custom``,
        ``failover_target``, ``platform`` and ``family`` that is set; None if none is (the
        service ignores the alert, as it ignores one naming nothing it knows)."""
        for label, scope in _TARGET_LABELS:
            value = self.labels.get(label, "")
            if value:
                return AlertTarget(label=label, scope=scope, name=value)
        return None

    @property
    def message(self) -> str:
        """The ``summary`` annotation, else the ``description``, else empty."""
        return self.annotations.get("summary") or self.annotations.get("description") or ""


class AlertmanagerPayload(_Incoming):
    """An Alertmanager webhook body (payload version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: AlertStatus
    alerts: tuple[Alert, ...]
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    group_labels: Mapping[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: Mapping[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Mapping[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
