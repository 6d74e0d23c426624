"""The judge's memory between rounds, and its JSON form.

The store persists ``JudgeState.to_json()`` after each decision and hands
``JudgeState.from_json(...)`` back after a restart, so everything the machine needs lives
here and survives the round trip unchanged: suspect phases, recovery counters, flapping
history and the open incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

from failover.detect._evidence import Severity, Signal
from failover.domain import Health, Incident, IncidentKind, IncidentScope

#: bumped when the JSON layout changes incompatibly
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Connectivity:
    """Whether our own network works, judged from the control targets.

    ``ok`` is None when no control has ever been observed (no controls configured).
    """

    ok: bool | None
    passing: int = 0
    required: int = 0
    total: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Suspect:
    """A platform that looked worse than its health and is being confirmed.

    ``signals`` is the evidence every look so far has shown (the intersection), ``health``
    what that evidence stands for.
    """

    health: Health
    strong: bool
    first_failing_at: datetime
    started_at: datetime
    looks: int
    signals: tuple[Signal, ...]
    sources: frozenset[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Lingering:
    """Failing sources that are not believed on their own, kept while every look since
    ``first_failing_at`` shows them again (the intersection, as for a suspect)."""

    signals: tuple[Signal, ...]
    first_failing_at: datetime
    looks: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """A family member confirmed down while siblings were still being confirmed: its
    incident waits (at most ``family_hold`` from ``since``) so the family is told once."""

    signals: tuple[Signal, ...]
    opened_at: datetime
    since: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformState:
    """One platform as the judge remembers it.

    ``health`` is the confirmed health; ``shown`` is what is reported, which differs only
    while a flapping hold keeps the worse state. ``since`` is when ``shown`` last changed.
    """

    health: Health
    shown: Health
    since: datetime
    flapping: bool = False
    suspect: Suspect | None = None
    #: consecutive looks better than ``health``, and the worst of them
    better_looks: int = 0
    better_worst: Health = Health.up
    #: when ``health`` changed, within the flapping window
    changes: tuple[datetime, ...] = ()
    #: the key of the open incident (platform or family) that covers this platform
    incident: str | None = None
    #: a source that keeps failing alone; degraded once it has lasted ``degraded_after``
    lingering: Lingering | None = None
    #: confirmed down, its incident waiting for siblings being confirmed
    held: Held | None = None


_K = TypeVar("_K")
_V = TypeVar("_V")


def _frozen_map(items: Mapping[_K, _V]) -> Mapping[_K, _V]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgeState:
    """Everything the judge carries from one decision to the next."""

    connectivity: Connectivity = Connectivity(ok=None)
    connectivity_since: datetime | None = None
    platforms: Mapping[str, PlatformState] = field(default_factory=lambda: _frozen_map({}))
    #: open incidents by key
    incidents: Mapping[str, Incident] = field(default_factory=lambda: _frozen_map({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "platforms", _frozen_map(self.platforms))
        object.__setattr__(self, "incidents", _frozen_map(self.incidents))

    @classmethod
    def initial(cls) -> JudgeState:
        """The state before the first round: nothing known, nothing open."""
        return cls()

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO 8601 strings) that ``from_json`` restores exactly."""
        return {
            "version": STATE_VERSION,
            "connectivity": {
                "ok": self.connectivity.ok,
                "passing": self.connectivity.passing,
                "required": self.connectivity.required,
                "total": self.connectivity.total,
                "since": _time_out(self.connectivity_since),
            },
            "platforms": {name: _platform_out(p) for name, p in sorted(self.platforms.items())},
            "incidents": {key: _incident_out(i) for key, i in sorted(self.incidents.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JudgeState:
        """Restore a state written by ``to_json``; raises ValueError on anything else."""
        try:
            version = data["version"]
            if version != STATE_VERSION:
                raise ValueError(f"judge state version {version!r}, expected {STATE_VERSION}")
            connectivity = data["connectivity"]
            return cls(
                connectivity=Connectivity(
                    ok=_optional_bool(connectivity["ok"]),
                    passing=int(connectivity["passing"]),
                    required=int(connectivity["required"]),
                    total=int(connectivity["total"]),
                ),
                connectivity_since=_time_in(connectivity["since"]),
                platforms={str(n): _platform_in(p) for n, p in data["platforms"].items()},
                incidents={str(k): _incident_in(i) for k, i in data["incidents"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a judge state: {exc!r}") from exc


def _optional_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"expected true, false or null, got {value!r}")


def _time_out(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_in(value: Any) -> datetime | None:
    if value is None:
        return None
    return _required_time_in(value)


def _required_time_in(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {value!r}")
    return parsed


def _signal_out(signal: Signal) -> dict[str, Any]:
    return {
        "source": signal.source,
        "severity": str(signal.severity),
        "phrase": signal.phrase,
        "lines": list(signal.lines),
    }


def _signal_in(data: Mapping[str, Any]) -> Signal:
    return Signal(
        source=str(data["source"]),
        severity=Severity(data["severity"]),
        phrase=str(data["phrase"]),
        lines=tuple(str(line) for line in data["lines"]),
    )


def _suspect_out(suspect: Suspect | None) -> dict[str, Any] | None:
    if suspect is None:
        return None
    return {
        "health": str(suspect.health),
        "strong": suspect.strong,
        "first_failing_at": suspect.first_failing_at.isoformat(),
        "started_at": suspect.started_at.isoformat(),
        "looks": suspect.looks,
        "signals": [_signal_out(s) for s in suspect.signals],
        "sources": sorted(suspect.sources),
    }


def _suspect_in(data: Mapping[str, Any] | None) -> Suspect | None:
    if data is None:
        return None
    return Suspect(
        health=Health(data["health"]),
        strong=bool(data["strong"]),
        first_failing_at=_required_time_in(data["first_failing_at"]),
        started_at=_required_time_in(data["started_at"]),
        looks=int(data["looks"]),
        signals=tuple(_signal_in(s) for s in data["signals"]),
        sources=frozenset(str(s) for s in data["sources"]),
    )


def _lingering_out(lingering: Lingering | None) -> dict[str, Any] | None:
    if lingering is None:
        return None
    return {
        "signals": [_signal_out(s) for s in lingering.signals],
        "first_failing_at": lingering.first_failing_at.isoformat(),
        "looks": lingering.looks,
    }


def _lingering_in(data: Mapping[str, Any] | None) -> Lingering | None:
    if data is None:
        return None
    return Lingering(
        signals=tuple(_signal_in(s) for s in data["signals"]),
        first_failing_at=_required_time_in(data["first_failing_at"]),
        looks=int(data["looks"]),
    )


def _held_out(held: Held | None) -> dict[str, Any] | None:
    if held is None:
        return None
    return {
        "signals": [_signal_out(s) for s in held.signals],
        "opened_at": held.opened_at.isoformat(),
        "since": held.since.isoformat(),
    }


def _held_in(data: Mapping[str, Any] | None) -> Held | None:
    if data is None:
        return None
    return Held(
        signals=tuple(_signal_in(s) for s in data["signals"]),
        opened_at=_required_time_in(data["opened_at"]),
        since=_required_time_in(data["since"]),
    )


def _platform_out(platform: PlatformState) -> dict[str, Any]:
    return {
        "health": str(platform.health),
        "shown": str(platform.shown),
        "since": platform.since.isoformat(),
        "flapping": platform.flapping,
        "suspect": _suspect_out(platform.suspect),
        "better_looks": platform.better_looks,
        "better_worst": str(platform.better_worst),
        "changes": [at.isoformat() for at in platform.changes],
        "incident": platform.incident,
        "lingering": _lingering_out(platform.lingering),
        "held": _held_out(platform.held),
    }


def _platform_in(data: Mapping[str, Any]) -> PlatformState:
    incident = data["incident"]
    return PlatformState(
        health=Health(data["health"]),
        shown=Health(data["shown"]),
        since=_required_time_in(data["since"]),
        flapping=bool(data["flapping"]),
        suspect=_suspect_in(data["suspect"]),
        better_looks=int(data["better_looks"]),
        better_worst=Health(data["better_worst"]),
        changes=tuple(_required_time_in(at) for at in data["changes"]),
        incident=None if incident is None else str(incident),
        # states written before the degraded_after rule have no such entry
        lingering=_lingering_in(data.get("lingering")),
        held=_held_in(data.get("held")),
    )


def _incident_out(incident: Incident) -> dict[str, Any]:
    return {
        "key": incident.key,
        "scope": str(incident.scope),
        "kind": str(incident.kind),
        "name": incident.name,
        "platforms": list(incident.platforms),
        "opened_at": incident.opened_at.isoformat(),
        "confirmed_at": _time_out(incident.confirmed_at),
        "resolved_at": _time_out(incident.resolved_at),
        "evidence": list(incident.evidence),
        "cause": incident.cause,
        "message": incident.message,
        "id": incident.id,
    }


def _incident_in(data: Mapping[str, Any]) -> Incident:
    number = data["id"]
    return Incident(
        key=str(data["key"]),
        scope=IncidentScope(data["scope"]),
        kind=IncidentKind(data["kind"]),
        name=str(data["name"]),
        platforms=tuple(str(p) for p in data["platforms"]),
        opened_at=_required_time_in(data["opened_at"]),
        confirmed_at=_time_in(data["confirmed_at"]),
        resolved_at=_time_in(data["resolved_at"]),
        evidence=tuple(str(line) for line in data["evidence"]),
        cause=str(data["cause"]),
        message=str(data["message"]),
        id=None if number is None else int(number),
    )
