"""Invariants of the judge under random observations (hypothesis)."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover.detect import Decision, JudgeState, judge
from failover.domain import (
    CheckKind,
    CheckRole,
    DetectionPolicy,
    IncidentEvent,
    IncidentKind,
    Observation,
    Outcome,
)
from tests.detect import (
    CONTROLS,
    META_SHAPE,
    OUTAGE,
    POLICY,
    T0,
    TWO_DOOR_SHAPE,
    CheckSpec,
    Watch,
    control_observations,
    observe,
)

DNS_FAILURES = (
    Outcome.dns_servfail,
    Outcome.dns_timeout,
    Outcome.dns_nxdomain,
    Outcome.dns_refused,
    Outcome.dns_no_answer,
)
DOOR_HARD_FAILURES = (
    Outcome.dns_servfail,
    Outcome.dns_timeout,
    Outcome.tcp_timeout,
    Outcome.tcp_refused,
    Outcome.tcp_unreachable,
    Outcome.tls_error,
    Outcome.tls_timeout,
    Outcome.tls_invalid,
    Outcome.http_timeout,
    Outcome.http_error,
)
DOOR_FAILURES = (*DOOR_HARD_FAILURES, Outcome.http_status, Outcome.http_slow, Outcome.http_body_mismatch)
#: a quarter of a status source's failures claim a major outage: harsher than any real page
STATUS_FAILURES = (
    Outcome.status_unreachable,
    Outcome.parse_error,
    Outcome.status_minor,
    Outcome.status_major,
)

NOISE = 0.1
ROUNDS = 10_000
INTERVAL_S = 30.0

#: like the catalog's Meta family: one or two HTTPS front doors each
NOISY_PLATFORMS: Mapping[str, Sequence[CheckSpec]] = {
    "facebook": TWO_DOOR_SHAPE,
    "instagram": META_SHAPE,
    "messenger": META_SHAPE,
    "whatsapp": TWO_DOOR_SHAPE,
}
NOISY_FAMILIES: Mapping[str, str | None] = dict.fromkeys(NOISY_PLATFORMS, "meta")


def failures_for(check: CheckSpec) -> Sequence[Outcome]:
    if check.role is CheckRole.status:
        return STATUS_FAILURES
    if check.kind is CheckKind.dns:
        return DNS_FAILURES
    return DOOR_FAILURES


@dataclass(frozen=True, kw_only=True, slots=True)
class NoisyCheck:
    target: str
    check: CheckSpec
    failures: Sequence[Outcome]
    is_control: bool = False


CONTROL_HTTPS = CheckSpec(name="https", kind=CheckKind.http, role=CheckRole.front_door)
NOISY_CONTROLS = tuple(
    NoisyCheck(target=name, check=CONTROL_HTTPS, failures=DOOR_FAILURES, is_control=True) for name in CONTROLS
)
NOISY_CHECKS: Mapping[str, tuple[NoisyCheck, ...]] = {
    platform: tuple(NoisyCheck(target=platform, check=c, failures=failures_for(c)) for c in shape)
    for platform, shape in NOISY_PLATFORMS.items()
}


def noisy_round(rng: random.Random, seconds: float, platforms: Sequence[str]) -> list[Observation]:
    """Controls and platforms whose every check fails independently with probability NOISE."""
    at = T0 + timedelta(seconds=seconds)
    return [
        Observation(
            target=noisy.target,
            check=noisy.check.name,
            kind=noisy.check.kind,
            role=noisy.check.role,
            outcome=rng.choice(noisy.failures) if rng.random() < NOISE else Outcome.ok,
            at=at,
            is_control=noisy.is_control,
        )
        for noisy in itertools.chain(NOISY_CONTROLS, *(NOISY_CHECKS[p] for p in platforms))
    ]


@pytest.mark.slow
class TestNoFalseAlarms:
    """Independent check failures without a real outage never open an incident."""

    @settings(max_examples=3, deadline=None)
    @given(seed=st.integers(min_value=0, max_value=2**64))
    def test_ten_thousand_noisy_rounds_open_nothing(self, seed: int) -> None:
        """10 % failures per check over 10,000 rounds and every re-probe asked for: no incident."""
        rng = random.Random(seed)
        state = JudgeState.initial()
        # re-probes asked for the same moment share one round, as the daemon's scheduler does
        reprobes: dict[float, set[str]] = {}
        times = [k * INTERVAL_S for k in range(ROUNDS)]
        heapq.heapify(times)
        reprobe_rounds = 0
        while times:
            seconds = heapq.heappop(times)
            reprobed = reprobes.pop(seconds, None)
            platforms = tuple(NOISY_PLATFORMS) if reprobed is None else tuple(sorted(reprobed))
            decision = judge(
                observations=noisy_round(rng, seconds, platforms),
                state=state,
                now=T0 + timedelta(seconds=seconds),
                policy=POLICY,
                families=NOISY_FAMILIES,
                probed=platforms,
            )
            state = decision.state
            assert not decision.incident_events, decision.incident_events
            assert not decision.incident_updates
            assert not decision.transitions
            reprobe_rounds += reprobed is not None
            for request in decision.reprobe:
                when = seconds + request.delay_s
                if when not in reprobes:
                    reprobes[when] = set()
                    heapq.heappush(times, when)
                reprobes[when].add(request.platform)
        assert not state.incidents
        # the noise did start suspect phases: the test exercised confirmation, not only verdicts
        assert reprobe_rounds > ROUNDS / 10


@st.composite
def platform_shapes(draw: st.DrawFn) -> tuple[CheckSpec, ...]:
    """Any shape with something to reach: DNS groups, up to three doors, maybe a status source.

    A status source alone never makes a platform down (it is the platform's word, or weak
    evidence), so every shape has a DNS check or a door.
    """
    authoritative = draw(st.integers(0, 2))
    resolvers = draw(st.integers(0, 2))
    doors = draw(st.integers(0, 3))
    status = draw(st.integers(0, 1))
    if authoritative + resolvers + doors == 0:
        doors = 1
    kinds = (CheckKind.http, CheckKind.tls, CheckKind.tcp)
    return (
        *(
            CheckSpec(name=f"auth-{i}", kind=CheckKind.dns, role=CheckRole.authoritative)
            for i in range(authoritative)
        ),
        *(
            CheckSpec(name=f"resolver-{i}", kind=CheckKind.dns, role=CheckRole.resolver)
            for i in range(resolvers)
        ),
        *(
            CheckSpec(name=f"door-{i}", kind=draw(st.sampled_from(kinds)), role=CheckRole.front_door)
            for i in range(doors)
        ),
        *(
            CheckSpec(name=f"status-{i}", kind=CheckKind.statuspage, role=CheckRole.status)
            for i in range(status)
        ),
    )


def hard_failures_for(check: CheckSpec) -> Sequence[Outcome]:
    if check.role is CheckRole.front_door:
        return DOOR_HARD_FAILURES
    return failures_for(check)


class TestOutagesAreConfirmedFast:
    """A platform whose every check fails is confirmed down within one round plus the re-probes."""

    @settings(max_examples=60, deadline=None)
    @given(
        shape=platform_shapes(),
        data=st.data(),
        healthy_rounds=st.integers(0, 3),
        confirm_after=st.lists(st.floats(0.5, 25.0), max_size=3, unique=True).map(lambda d: tuple(sorted(d))),
    )
    def test_every_check_failing_is_confirmed_by_the_last_reprobe(
        self,
        shape: tuple[CheckSpec, ...],
        data: st.DataObject,
        healthy_rounds: int,
        confirm_after: tuple[float, ...],
    ) -> None:
        """Whatever the shape, the outage is confirmed at ``now + max(confirm_after_s)``."""
        policy = DetectionPolicy(confirm_after_s=confirm_after)
        families = {"target": None, "bystander": None}
        state = JudgeState.initial()

        def run(seconds: float, failing: Mapping[str, Outcome], probed: Sequence[str]) -> Decision:
            at = T0 + timedelta(seconds=seconds)
            observations = control_observations(at)
            observations += observe("target", at, shape, failing if "target" in probed else {})
            observations += observe("bystander", at)
            return judge(
                observations=observations,
                state=state,
                now=at,
                policy=policy,
                families=families,
                probed=probed,
            )

        for k in range(healthy_rounds):
            state = run(k * INTERVAL_S, {}, list(families)).state
        start = healthy_rounds * INTERVAL_S
        failing = {c.name: data.draw(st.sampled_from(hard_failures_for(c))) for c in shape}
        decision = run(start, failing, list(families))
        state = decision.state
        confirmed = list(decision.incident_events)
        for request in decision.reprobe:
            assert request.platform == "target"
            decision = run(start + request.delay_s, failing, ["target"])
            state = decision.state
            confirmed += decision.incident_events
        assert [(c.event, c.incident.kind, c.incident.platforms) for c in confirmed] == [
            (IncidentEvent.confirmed, IncidentKind.unreachable, ("target",))
        ]
        assert confirmed[0].incident.confirmed_at == T0 + timedelta(
            seconds=start + max(confirm_after, default=0.0)
        )
        assert confirmed[0].incident.opened_at == T0 + timedelta(seconds=start)


ALL_OUTCOMES = tuple(Outcome)


class TestNothingOpensWithoutConnectivity:
    """Below the control quorum, no platform incident opens whatever the platforms show."""

    @settings(max_examples=40, deadline=None)
    @given(
        rounds=st.lists(
            st.tuples(
                st.integers(2, 3),
                st.lists(st.sampled_from(ALL_OUTCOMES), min_size=8, max_size=8),
            ),
            min_size=1,
            max_size=25,
        ),
        with_open_incident=st.booleans(),
    )
    def test_controls_below_quorum_open_and_resolve_nothing(
        self, rounds: list[tuple[int, list[Outcome]]], with_open_incident: bool
    ) -> None:
        """Every verdict is unknown; no event, no transition, no re-probe; open incidents stay open."""
        watch = Watch()
        if with_open_incident:
            for seconds in (0, 2, 5):
                watch.round(seconds, {"whatsapp": OUTAGE})
        opened = watch.open_incidents
        already = len(watch.decisions)
        for index, (controls_failing, outcomes) in enumerate(rounds):
            conditions = {
                platform: {check.name: outcome for check, outcome in zip(META_SHAPE, chunk, strict=True)}
                for platform, chunk in (("whatsapp", outcomes[:4]), ("facebook", outcomes[4:]))
            }
            decision = watch.round(60 + 2 * index, conditions, controls_failing=controls_failing)
            assert decision.connectivity.ok is False
            assert {v.health for v in decision.verdicts.values()} == {"unknown"}
        for decision in watch.decisions[already:]:
            assert not decision.incident_events
            assert not decision.incident_updates
            assert not decision.transitions
            assert not decision.reprobe
        assert watch.open_incidents == opened
