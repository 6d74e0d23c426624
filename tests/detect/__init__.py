"""Builders for the judge's tests: platform shapes like the built-in catalog, named
conditions (which checks fail, how), and ``Watch``, which feeds rounds to ``judge`` and keeps
every decision."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from failover.detect import Decision, JudgeState, PlatformStatus, health_of, judge
from failover.domain import (
    CheckKind,
    CheckRole,
    DetectionPolicy,
    Incident,
    IncidentChange,
    IncidentEvent,
    Observation,
    Outcome,
    Transition,
)

#: 4 Oct 2021, 15:40 UTC
T0 = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
POLICY = DetectionPolicy()


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckSpec:
    name: str
    kind: CheckKind
    role: CheckRole


AUTHORITATIVE = CheckSpec(name="authoritative", kind=CheckKind.dns, role=CheckRole.authoritative)
RESOLVERS = CheckSpec(name="resolvers", kind=CheckKind.dns, role=CheckRole.resolver)
FRONT_DOOR = CheckSpec(name="front-door", kind=CheckKind.http, role=CheckRole.front_door)
API_DOOR = CheckSpec(name="api", kind=CheckKind.http, role=CheckRole.front_door)
METASTATUS = CheckSpec(name="metastatus", kind=CheckKind.statuspage, role=CheckRole.status)

#: a Meta platform as the catalog has it: authoritative DNS, resolvers, front door, status
META_SHAPE = (AUTHORITATIVE, RESOLVERS, FRONT_DOOR, METASTATUS)
#: the same with a second front door
TWO_DOOR_SHAPE = (AUTHORITATIVE, RESOLVERS, FRONT_DOOR, API_DOOR, METASTATUS)

CONTROLS = ("cloudflare", "wikipedia", "debian")

FAMILIES: Mapping[str, str | None] = {
    "facebook": "meta",
    "instagram": "meta",
    "messenger": "meta",
    "whatsapp": "meta",
    "telegram": None,
    "signal": None,
}

Condition = Mapping[str, Outcome]

OK: Condition = MappingProxyType({})
#: one check out of four failing: a glitch
ONE_FAILING: Condition = MappingProxyType({"front-door": Outcome.tcp_timeout})
#: 4 Oct 2021 in the first minute: authoritative DNS, front door and status page down
OUTAGE: Condition = MappingProxyType(
    {
        "authoritative": Outcome.dns_servfail,
        "front-door": Outcome.tcp_timeout,
        "metastatus": Outcome.status_unreachable,
    }
)
#: two sources only (resolvers still answer from cache, the status page stands): thin evidence
THIN_OUTAGE: Condition = MappingProxyType(
    {"authoritative": Outcome.dns_servfail, "front-door": Outcome.http_timeout}
)
#: every check failing
ALL_FAILING: Condition = MappingProxyType(
    {
        "authoritative": Outcome.dns_timeout,
        "resolvers": Outcome.dns_servfail,
        "front-door": Outcome.tcp_unreachable,
        "api": Outcome.tls_timeout,
        "metastatus": Outcome.status_unreachable,
    }
)
#: both doors answer badly and the status page says so (TWO_DOOR_SHAPE): strong degraded
DEGRADED: Condition = MappingProxyType(
    {
        "front-door": Outcome.http_status,
        "api": Outcome.http_slow,
        "metastatus": Outcome.status_major,
    }
)
#: the status page reports a major outage while every probe passes: thin degraded
STATUS_MAJOR: Condition = MappingProxyType({"metastatus": Outcome.status_major})
STATUS_UNREACHABLE: Condition = MappingProxyType({"metastatus": Outcome.status_unreachable})


def observe(
    target: str,
    at: datetime,
    shape: Sequence[CheckSpec] = META_SHAPE,
    failing: Condition = OK,
    *,
    is_control: bool = False,
) -> list[Observation]:
    """One observation per check of ``shape``; the checks named in ``failing`` fail so."""
    return [
        Observation(
            target=target,
            check=check.name,
            kind=check.kind,
            role=check.role,
            outcome=failing.get(check.name, Outcome.ok),
            at=at,
            latency_s=0.05,
            is_control=is_control,
        )
        for check in shape
    ]


def control_observations(
    at: datetime, failing: int = 0, names: Sequence[str] = CONTROLS
) -> list[Observation]:
    """One HTTPS check per control target; the first ``failing`` of them time out."""
    https = CheckSpec(name="https", kind=CheckKind.http, role=CheckRole.front_door)
    observations = []
    for index, name in enumerate(names):
        failed: Condition = {"https": Outcome.http_timeout} if index < failing else OK
        observations.extend(observe(name, at, (https,), failed, is_control=True))
    return observations


class Watch:
    """Feeds rounds to the judge at ``T0 + seconds`` and keeps every decision."""

    def __init__(
        self,
        *,
        families: Mapping[str, str | None] = FAMILIES,
        policy: DetectionPolicy = POLICY,
        shapes: Mapping[str, Sequence[CheckSpec]] | None = None,
        state: JudgeState | None = None,
    ) -> None:
        self.families = families
        self.policy = policy
        self.shapes = shapes or {}
        self.state = state or JudgeState.initial()
        self.decisions: list[Decision] = []

    def round(
        self,
        seconds: float,
        conditions: Mapping[str, Condition],
        *,
        controls_failing: int = 0,
        with_controls: bool = True,
        probed: Collection[str] | None = None,
        observed_early_s: float = 0.0,
    ) -> Decision:
        """Judge ``conditions`` (platform → failing checks) at ``T0 + seconds``; the platforms
        named are the ones probed, their observations made ``observed_early_s`` before."""
        now = T0 + timedelta(seconds=seconds)
        observed = now - timedelta(seconds=observed_early_s)
        observations: list[Observation] = []
        if with_controls:
            observations.extend(control_observations(observed, controls_failing))
        for platform, condition in conditions.items():
            observations.extend(observe(platform, observed, self.shapes.get(platform, META_SHAPE), condition))
        decision = judge(
            observations=observations,
            state=self.state,
            now=now,
            policy=self.policy,
            families=self.families,
            probed=list(conditions) if probed is None else probed,
        )
        self.state = decision.state
        self.decisions.append(decision)
        return decision

    def status(self, platform: str) -> PlatformStatus:
        return health_of(self.state, platform)

    @property
    def events(self) -> list[IncidentChange]:
        return [change for decision in self.decisions for change in decision.incident_events]

    @property
    def event_names(self) -> list[tuple[IncidentEvent, str]]:
        """(event, incident key prefix "scope:name") of every incident event so far."""
        return [(c.event, c.incident.key.rsplit(":", 1)[0]) for c in self.events]

    @property
    def transitions(self) -> list[Transition]:
        return [t for decision in self.decisions for t in decision.transitions]

    @property
    def updates(self) -> list[Incident]:
        return [incident for decision in self.decisions for incident in decision.incident_updates]

    @property
    def open_incidents(self) -> tuple[Incident, ...]:
        return tuple(self.state.incidents[key] for key in sorted(self.state.incidents))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
