"""Controls first: our own connectivity decides whether platforms can be judged at all."""

from __future__ import annotations

import pytest

from failover.detect import Connectivity, JudgeState, judge
from failover.domain import (
    CheckKind,
    CheckRole,
    ConnectivityEvent,
    DetectionPolicy,
    Health,
    Observation,
    Outcome,
)
from tests.detect import FAMILIES, OK, OUTAGE, POLICY, T0, Watch, at, control_observations, observe


class TestQuorum:
    """A control target passes when its checks pass; a quorum of targets must pass."""

    @pytest.mark.parametrize(
        ("failing", "ok", "passing"),
        [
            pytest.param(0, True, 3, id="all-three-pass"),
            pytest.param(1, True, 2, id="two-of-three-is-the-quorum"),
            pytest.param(2, False, 1, id="one-of-three-is-lost"),
            pytest.param(3, False, 0, id="none-pass"),
        ],
    )
    def test_quorum_of_three(self, failing: int, ok: bool, passing: int) -> None:
        """With the default quorum of 2, the count of passing targets decides."""
        decision = Watch().round(0, {"whatsapp": OK}, controls_failing=failing)
        assert decision.connectivity == Connectivity(ok=ok, passing=passing, required=2, total=3)

    def test_a_target_with_one_failing_check_fails(self) -> None:
        """Every check of a control target must pass for the target to pass."""
        dns = Observation(
            target="wikipedia",
            check="dns",
            kind=CheckKind.dns,
            role=CheckRole.resolver,
            outcome=Outcome.dns_timeout,
            at=T0,
            is_control=True,
        )
        decision = judge(
            observations=[*control_observations(T0, failing=1), dns],
            state=JudgeState.initial(),
            now=T0,
            policy=POLICY,
            families=FAMILIES,
            probed=[],
        )
        assert decision.connectivity == Connectivity(ok=False, passing=1, required=2, total=3)

    def test_a_quorum_larger_than_the_controls_requires_all_of_them(self) -> None:
        """Three required of two observed targets means both must pass."""
        policy = DetectionPolicy(control_quorum=3)
        decision = judge(
            observations=control_observations(T0, names=("a", "b")),
            state=JudgeState.initial(),
            now=T0,
            policy=policy,
            families=FAMILIES,
            probed=[],
        )
        assert decision.connectivity == Connectivity(ok=True, passing=2, required=2, total=2)

    def test_without_any_controls_platforms_are_judged(self) -> None:
        """No control ever observed: connectivity is not known to be lost, platforms are judged."""
        watch = Watch()
        for seconds in (0, 2, 5):
            decision = watch.round(seconds, {"whatsapp": OUTAGE}, with_controls=False)
        assert decision.connectivity.ok is None
        assert [c.event for c in decision.incident_events] == ["confirmed"]


class TestConnectivityEvents:
    """Losing and regaining our own connectivity is recorded once each, not as platform incidents."""

    def test_lost_then_restored(self) -> None:
        """One lost record when it goes, one restored when it returns, none in between."""
        watch = Watch()
        watch.round(0, {"whatsapp": OK})
        lost = watch.round(30, {"whatsapp": OUTAGE}, controls_failing=2)
        still = watch.round(60, {"whatsapp": OUTAGE}, controls_failing=3)
        restored = watch.round(90, {"whatsapp": OK})
        assert [(e.event, e.at) for e in lost.connectivity_events] == [(ConnectivityEvent.lost, at(30))]
        assert still.connectivity_events == ()
        assert [(e.event, e.at) for e in restored.connectivity_events] == [
            (ConnectivityEvent.restored, at(90))
        ]
        assert watch.transitions == []
        assert watch.events == []

    def test_lost_on_the_very_first_round(self) -> None:
        """Starting without connectivity is recorded as lost."""
        decision = Watch().round(0, {"whatsapp": OK}, controls_failing=3)
        assert [e.event for e in decision.connectivity_events] == [ConnectivityEvent.lost]

    def test_every_verdict_is_unknown_while_lost(self) -> None:
        """The verdict says why it is unknown."""
        decision = Watch().round(0, {"whatsapp": OUTAGE, "facebook": OK}, controls_failing=2)
        assert {v.health for v in decision.verdicts.values()} == {Health.unknown}
        assert decision.verdicts["whatsapp"].summary == (
            "unknown: local connectivity lost (1 of 3 controls passing, 2 required)"
        )

    def test_health_of_is_unknown_since_the_loss(self) -> None:
        """The CLI's status shows unknown since connectivity was lost."""
        watch = Watch()
        watch.round(0, {"whatsapp": OK})
        watch.round(30, {"whatsapp": OK}, controls_failing=2)
        status = watch.status("whatsapp")
        assert (status.health, status.since) == (Health.unknown, at(30))


class TestReprobeRoundsWithoutControls:
    """A re-probe round that skips the controls reuses the last connectivity."""

    def test_reprobes_without_controls_confirm_when_connectivity_was_ok(self) -> None:
        """The last round's working connectivity carries over."""
        watch = Watch()
        watch.round(0, {"whatsapp": OUTAGE})
        watch.round(2, {"whatsapp": OUTAGE}, with_controls=False)
        decision = watch.round(5, {"whatsapp": OUTAGE}, with_controls=False)
        assert decision.connectivity == Connectivity(ok=True, passing=3, required=2, total=3)
        assert [c.event for c in decision.incident_events] == ["confirmed"]

    def test_reprobes_without_controls_stay_unknown_when_connectivity_was_lost(self) -> None:
        """The last round's lost connectivity carries over too."""
        watch = Watch()
        watch.round(0, {"whatsapp": OUTAGE}, controls_failing=2)
        decision = watch.round(2, {"whatsapp": OUTAGE}, with_controls=False)
        assert decision.connectivity.ok is False
        assert decision.verdicts["whatsapp"].health is Health.unknown
        assert decision.connectivity_events == ()

    def test_platform_observations_are_not_controls(self) -> None:
        """Only observations marked ``is_control`` count towards the quorum."""
        observations = observe("cloudflare", T0, failing={"front-door": Outcome.tcp_timeout})
        decision = judge(
            observations=[*control_observations(T0), *observations],
            state=JudgeState.initial(),
            now=T0,
            policy=POLICY,
            families=FAMILIES,
            probed=[],
        )
        assert decision.connectivity.total == 3
