"""What one call of the judge hands back, and what the CLI can ask of a state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from failover.detect._state import Connectivity, JudgeState
from failover.domain import ConnectivityEvent, Health, Incident, IncidentChange, Observation, Transition


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """What this round's observations show for one platform, with the evidence.

    This is the reading of one look; the judged health, which moves only after
    confirmation or recovery, is ``health_of(decision.state, platform)``.
    """

    platform: str
    health: Health
    #: the failing observations behind the verdict (empty when every check passed)
    evidence: tuple[Observation, ...]
    summary: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectivityChange:
    """Our own connectivity was lost or restored (a record, not a platform incident)."""

    event: ConnectivityEvent
    at: datetime
    connectivity: Connectivity


@dataclass(frozen=True, kw_only=True, slots=True)
class Reprobe:
    """Probe ``platform`` again ``delay_s`` seconds after this decision's ``now``."""

    platform: str
    delay_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The judge's answer for one round: the new state and everything that happened."""

    state: JudgeState
    verdicts: Mapping[str, Verdict]
    connectivity: Connectivity
    transitions: tuple[Transition, ...] = ()
    #: events that notify: ``confirmed`` and ``resolved``
    incident_events: tuple[IncidentChange, ...] = ()
    #: incidents changed without a notice: a kind escalated (degraded to unreachable), a
    #: family incident joined by another member, a platform incident folded into a family
    #: incident (closed, ``resolved_at`` set, cause "merged into family incident …")
    incident_updates: tuple[Incident, ...] = ()
    connectivity_events: tuple[ConnectivityChange, ...] = ()
    reprobe: tuple[Reprobe, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdicts", MappingProxyType(dict(self.verdicts)))

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        """The incidents open after this decision, by key."""
        return tuple(incident for _, incident in sorted(self.state.incidents.items()))


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformStatus:
    """A platform's judged health, for ``failover status`` and the API."""

    platform: str
    health: Health
    #: when ``health`` last changed (None for a platform never judged)
    since: datetime | None
    flapping: bool
    #: a first failure is being confirmed
    suspect: bool
    #: key of the open incident covering the platform
    incident: str | None


def health_of(state: JudgeState, platform: str) -> PlatformStatus:
    """The judged health of ``platform``: unknown while our own connectivity is lost or
    before its first round."""
    remembered = state.platforms.get(platform)
    if remembered is None:
        return PlatformStatus(
            platform=platform, health=Health.unknown, since=None, flapping=False, suspect=False, incident=None
        )
    lost = state.connectivity.ok is False
    return PlatformStatus(
        platform=platform,
        health=Health.unknown if lost else remembered.shown,
        since=state.connectivity_since if lost else remembered.since,
        flapping=remembered.flapping,
        suspect=remembered.suspect is not None,
        incident=remembered.incident,
    )
