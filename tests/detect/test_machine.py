"""The state machine of one platform: suspect, confirmation, recovery, escalation, flapping,
and what lost connectivity does to all of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from failover.detect import Reprobe
from failover.domain import DetectionPolicy, Health, IncidentEvent, IncidentKind, Outcome
from tests.detect import (
    ALL_FAILING,
    DEGRADED,
    OK,
    ONE_FAILING,
    OUTAGE,
    STATUS_MAJOR,
    STATUS_UNREACHABLE,
    THIN_OUTAGE,
    TWO_DOOR_SHAPE,
    CheckSpec,
    Condition,
    Watch,
    at,
)

UP, DEGRADED_, DOWN, UNKNOWN = Health.up, Health.degraded, Health.down, Health.unknown
CONFIRMED = (IncidentEvent.confirmed, "platform:whatsapp")
RESOLVED = (IncidentEvent.resolved, "platform:whatsapp")
#: a different story than OUTAGE: resolvers and a major status, doors answering
OTHER_TROUBLE: Condition = {"resolvers": Outcome.dns_servfail, "metastatus": Outcome.status_major}
#: an outage caught half-way: the names fail first, then the door goes too
NAMES_FAILING: Condition = {"authoritative": Outcome.dns_servfail, "resolvers": Outcome.dns_servfail}
NAMES_AND_DOOR: Condition = {**NAMES_FAILING, "front-door": Outcome.tcp_timeout}


@dataclass(frozen=True, kw_only=True, slots=True)
class Look:
    seconds: float
    condition: Condition
    controls_failing: int = 0


def looks(condition: Condition, *seconds: float, controls_failing: int = 0) -> tuple[Look, ...]:
    return tuple(Look(seconds=s, condition=condition, controls_failing=controls_failing) for s in seconds)


def outage_then_recovery(start: float, condition: Condition = OUTAGE) -> tuple[Look, ...]:
    """Confirmed by the two re-probes, recovered by three healthy rounds: two health changes."""
    return (*looks(condition, start, start + 2, start + 5), *looks(OK, start + 30, start + 60, start + 90))


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    steps: tuple[Look, ...]
    #: ``health_of`` after the last step
    health: Health
    events: tuple[tuple[IncidentEvent, str], ...] = ()
    transitions: tuple[tuple[Health, Health, bool], ...] = ()
    shape: Sequence[CheckSpec] | None = None
    policy: DetectionPolicy = field(default_factory=DetectionPolicy)


CASES: dict[str, Case] = {
    "up-stays-up": Case(steps=looks(OK, 0, 30, 60), health=UP),
    "a-single-failing-check-never-leaves-up": Case(steps=looks(ONE_FAILING, 0, 2, 5, 30, 60, 90), health=UP),
    "weak-status-evidence-never-leaves-up": Case(
        steps=looks(STATUS_UNREACHABLE, 0, 2, 5, 30, 60, 90), health=UP
    ),
    "up-suspect-down-confirmed-by-the-reprobes": Case(
        steps=looks(OUTAGE, 0, 2, 5), health=DOWN, events=(CONFIRMED,), transitions=((UP, DOWN, False),)
    ),
    "a-suspect-is-not-down-before-the-last-reprobe": Case(steps=looks(OUTAGE, 0, 2), health=UP),
    "a-suspect-cleared-by-a-passing-reprobe-is-forgotten": Case(
        steps=(*looks(OUTAGE, 0), *looks(OK, 2, 5, 30)), health=UP
    ),
    "evidence-that-does-not-recur-is-not-confirmed": Case(
        steps=(*looks(OUTAGE, 0), *looks(OTHER_TROUBLE, 2), *looks(OUTAGE, 5)), health=UP
    ),
    "thin-evidence-is-not-confirmed-by-the-reprobes-alone": Case(
        steps=looks(THIN_OUTAGE, 0, 2, 5, 30), health=UP
    ),
    "thin-evidence-is-confirmed-after-two-more-rounds": Case(
        steps=looks(THIN_OUTAGE, 0, 2, 5, 30, 60),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "a-status-page-reporting-major-is-degraded-once-it-persists": Case(
        steps=looks(STATUS_MAJOR, 0, 2, 5, 30, 60),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DEGRADED_, False),),
    ),
    "down-recovering-up-after-three-healthy-rounds": Case(
        steps=outage_then_recovery(0),
        health=UP,
        events=(CONFIRMED, RESOLVED),
        transitions=((UP, DOWN, False), (DOWN, UP, False)),
    ),
    "two-healthy-rounds-are-not-a-recovery": Case(
        steps=(*looks(OUTAGE, 0, 2, 5), *looks(OK, 30, 60)),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "a-failing-round-restarts-the-recovery-count": Case(
        steps=(*looks(OUTAGE, 0, 2, 5), *looks(OK, 30, 60), *looks(OUTAGE, 90), *looks(OK, 120, 150)),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "recovery-after-a-restarted-count": Case(
        steps=(*looks(OUTAGE, 0, 2, 5), *looks(OK, 30, 60), *looks(OUTAGE, 90), *looks(OK, 120, 150, 180)),
        health=UP,
        events=(CONFIRMED, RESOLVED),
        transitions=((UP, DOWN, False), (DOWN, UP, False)),
    ),
    "an-outage-caught-half-way-is-confirmed-down-not-degraded": Case(
        steps=(*looks(NAMES_FAILING, 0), *looks(NAMES_AND_DOOR, 2, 4, 7, 30)),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "a-one-look-spike-on-a-degraded-platform-still-confirms-degraded": Case(
        steps=(
            *looks(NAMES_FAILING, 0),
            *looks(NAMES_AND_DOOR, 2),
            *looks(NAMES_FAILING, 5, 30, 60, 90, 120),
        ),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DEGRADED_, False),),
    ),
    "up-suspect-degraded-confirmed": Case(
        shape=TWO_DOOR_SHAPE,
        steps=looks(DEGRADED, 0, 2, 5),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DEGRADED_, False),),
    ),
    "degraded-recovering-up": Case(
        shape=TWO_DOOR_SHAPE,
        steps=(*looks(DEGRADED, 0, 2, 5), *looks(OK, 30, 60, 90)),
        health=UP,
        events=(CONFIRMED, RESOLVED),
        transitions=((UP, DEGRADED_, False), (DEGRADED_, UP, False)),
    ),
    "degraded-escalates-to-down-without-a-new-incident": Case(
        shape=TWO_DOOR_SHAPE,
        steps=(*looks(DEGRADED, 0, 2, 5), *looks(ALL_FAILING, 30, 32, 35)),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DEGRADED_, False), (DEGRADED_, DOWN, False)),
    ),
    "an-unconfirmed-escalation-stays-degraded": Case(
        shape=TWO_DOOR_SHAPE,
        steps=(*looks(DEGRADED, 0, 2, 5), *looks(ALL_FAILING, 30), *looks(DEGRADED, 32)),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DEGRADED_, False),),
    ),
    "down-improves-to-degraded-and-the-incident-stays-open": Case(
        shape=TWO_DOOR_SHAPE,
        steps=(*looks(ALL_FAILING, 0, 2, 5), *looks(DEGRADED, 30, 60, 90)),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False), (DOWN, DEGRADED_, False)),
    ),
    "down-partly-recovered-improves-to-the-worst-of-the-rounds": Case(
        shape=TWO_DOOR_SHAPE,
        steps=(*looks(ALL_FAILING, 0, 2, 5), *looks(OK, 30), *looks(DEGRADED, 60), *looks(OK, 90)),
        health=DEGRADED_,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False), (DOWN, DEGRADED_, False)),
    ),
    "lost-connectivity-makes-everything-unknown-and-opens-nothing": Case(
        steps=looks(OUTAGE, 0, 2, 5, 30, 60, controls_failing=2), health=UNKNOWN
    ),
    "a-suspect-is-dropped-when-connectivity-is-lost": Case(
        steps=(*looks(OUTAGE, 0), *looks(OUTAGE, 2, controls_failing=3), *looks(OUTAGE, 5)), health=UP
    ),
    "an-open-incident-stays-open-while-connectivity-is-lost": Case(
        steps=(*looks(OUTAGE, 0, 2, 5), *looks(OK, 30, 60, 90, 120, controls_failing=2)),
        health=UNKNOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "lost-connectivity-interrupts-a-recovery": Case(
        steps=(
            *looks(OUTAGE, 0, 2, 5),
            *looks(OK, 30, 60),
            *looks(OK, 90, controls_failing=2),
            *looks(OK, 120, 150),
        ),
        health=DOWN,
        events=(CONFIRMED,),
        transitions=((UP, DOWN, False),),
    ),
    "recovery-resumes-after-connectivity-is-restored": Case(
        steps=(*looks(OUTAGE, 0, 2, 5), *looks(OK, 30, 60, controls_failing=2), *looks(OK, 90, 120, 150)),
        health=UP,
        events=(CONFIRMED, RESOLVED),
        transitions=((UP, DOWN, False), (DOWN, UP, False)),
    ),
    "flapping-holds-the-worse-state": Case(
        steps=(*outage_then_recovery(0), *outage_then_recovery(120), *outage_then_recovery(240)),
        health=DOWN,
        # the fifth change (down again) starts the hold: its incident opens and stays open
        events=(CONFIRMED, RESOLVED, CONFIRMED, RESOLVED, CONFIRMED),
        transitions=(
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, True),
        ),
    ),
    "flapping-hides-further-changes": Case(
        steps=(
            *outage_then_recovery(0),
            *outage_then_recovery(120),
            *outage_then_recovery(240),
            *outage_then_recovery(360),
        ),
        health=DOWN,
        events=(CONFIRMED, RESOLVED, CONFIRMED, RESOLVED, CONFIRMED),
        transitions=(
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, True),
        ),
    ),
    "flapping-is-released-when-calm": Case(
        steps=(
            *outage_then_recovery(0),
            *outage_then_recovery(120),
            *outage_then_recovery(240),
            *looks(OK, 240 + 31 * 60),
        ),
        health=UP,
        events=(CONFIRMED, RESOLVED, CONFIRMED, RESOLVED, CONFIRMED, RESOLVED),
        transitions=(
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, False),
            (DOWN, UP, False),
            (UP, DOWN, True),
            (DOWN, UP, False),
        ),
    ),
    "a-recovery-that-starts-the-hold-keeps-the-incident-open": Case(
        policy=DetectionPolicy(flap_max_transitions=3),
        steps=(*outage_then_recovery(0), *outage_then_recovery(120)),
        health=DOWN,
        events=(CONFIRMED, RESOLVED, CONFIRMED),
        transitions=((UP, DOWN, False), (DOWN, UP, False), (UP, DOWN, False), (DOWN, DOWN, True)),
    ),
    "changes-spread-wider-than-the-window-are-not-flapping": Case(
        policy=DetectionPolicy(flap_window=DetectionPolicy().flap_window / 10),
        steps=(*outage_then_recovery(0), *outage_then_recovery(120), *outage_then_recovery(240)),
        health=UP,
        events=(CONFIRMED, RESOLVED) * 3,
        transitions=((UP, DOWN, False), (DOWN, UP, False)) * 3,
    ),
}


class TestPlatformMachine:
    """Every transition of a platform's state machine, as a table of rounds and outcomes."""

    @pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in CASES.items()])
    def test_transition(self, case: Case) -> None:
        """After the rounds, the platform's health, incident events and transitions are as listed."""
        watch = Watch(policy=case.policy, shapes={"whatsapp": case.shape} if case.shape else None)
        for step in case.steps:
            watch.round(step.seconds, {"whatsapp": step.condition}, controls_failing=step.controls_failing)
        assert watch.status("whatsapp").health is case.health
        assert watch.event_names == list(case.events)
        assert [(t.previous, t.current, t.flapping) for t in watch.transitions] == list(case.transitions)


class TestConfirmation:
    """A confirmed outage opens one incident with its times, key, cause and evidence."""

    def test_incident_of_a_confirmed_outage(self) -> None:
        """opened_at is the first failing observation, confirmed_at the confirming round."""
        watch = Watch()
        for seconds in (0, 2, 5):
            watch.round(seconds, {"whatsapp": THIN_OUTAGE})
        assert watch.events == []
        for seconds in (30, 60):
            watch.round(seconds, {"whatsapp": THIN_OUTAGE})
        [change] = watch.events
        incident = change.incident
        assert incident.key == "platform:whatsapp:20211004T154000Z"
        assert (incident.opened_at, incident.confirmed_at, incident.resolved_at) == (at(0), at(60), None)
        assert incident.kind is IncidentKind.unreachable
        assert incident.platforms == ("whatsapp",)
        assert incident.cause == "authoritative DNS SERVFAIL and HTTPS unreachable"
        assert incident.evidence == (
            "authoritative (authoritative): dns_servfail",
            "front-door (front_door): http_timeout",
        )
        assert watch.open_incidents == (incident,)

    def test_an_outage_caught_half_way_is_told_as_an_outage_from_its_first_failure(self) -> None:
        """A round that saw only the names fail, then rounds that see the door go too: the
        incident is unreachable (what people are told) and dates from the first failure."""
        watch = Watch()
        watch.round(0, {"whatsapp": NAMES_FAILING})
        grown = watch.round(2, {"whatsapp": NAMES_AND_DOOR})
        assert [r.delay_s for r in grown.reprobe if r.platform == "whatsapp"] == [2.0, 5.0]
        assert grown.verdicts["whatsapp"].summary.endswith("confirming down, look 1 of 3")
        watch.round(4, {"whatsapp": NAMES_AND_DOOR})
        [change] = watch.round(7, {"whatsapp": NAMES_AND_DOOR}).incident_events
        assert change.incident.kind is IncidentKind.unreachable
        assert (change.incident.opened_at, change.incident.confirmed_at) == (at(0), at(7))

    def test_opened_at_is_the_first_failing_observation_not_the_round(self) -> None:
        """Observations made before ``now`` date the incident."""
        watch = Watch()
        watch.round(0, {"whatsapp": OUTAGE}, observed_early_s=3)
        watch.round(2, {"whatsapp": OUTAGE})
        decision = watch.round(5, {"whatsapp": OUTAGE})
        [change] = decision.incident_events
        assert change.incident.opened_at == at(-3)
        assert change.incident.key == "platform:whatsapp:20211004T153957Z"

    def test_a_first_failing_round_asks_for_the_reprobes(self) -> None:
        """The re-probes follow ``confirm_after_s``, once per suspect phase."""
        watch = Watch()
        first = watch.round(0, {"telegram": OUTAGE, "signal": OK})
        assert first.reprobe == (
            Reprobe(platform="telegram", delay_s=2.0),
            Reprobe(platform="telegram", delay_s=5.0),
        )
        assert watch.round(2, {"telegram": OUTAGE}).reprobe == ()

    def test_a_family_member_looking_down_has_its_siblings_looked_at_at_once(self) -> None:
        """Siblings not probed in this round are looked at now, not at their next round,
        so a family falling together is confirmed together; other platforms are not."""
        watch = Watch()
        first = watch.round(0, {"whatsapp": OUTAGE, "facebook": OK, "telegram": OK})
        assert first.reprobe == (
            Reprobe(platform="instagram", delay_s=0.0),
            Reprobe(platform="messenger", delay_s=0.0),
            Reprobe(platform="whatsapp", delay_s=2.0),
            Reprobe(platform="whatsapp", delay_s=5.0),
        )
        # a sibling already being confirmed is not asked for twice
        second = watch.round(1, {"instagram": OUTAGE})
        assert [r.platform for r in second.reprobe] == ["facebook", "messenger", "instagram", "instagram"]

    def test_a_glitch_asks_for_nothing(self) -> None:
        """A single failing check does not even start a suspect phase."""
        decision = Watch().round(0, {"whatsapp": ONE_FAILING})
        assert decision.reprobe == ()

    def test_a_suspect_shows_in_the_summary_and_status(self) -> None:
        """While confirming, the verdict reads down and the judged health is still up."""
        watch = Watch()
        decision = watch.round(0, {"whatsapp": OUTAGE})
        assert decision.verdicts["whatsapp"].health is Health.down
        assert decision.verdicts["whatsapp"].summary.endswith("; confirming down, look 1 of 3")
        status = watch.status("whatsapp")
        assert (status.health, status.suspect, status.incident) == (Health.up, True, None)

    def test_no_reprobes_configured_confirms_strong_evidence_at_once(self) -> None:
        """With ``confirm_after_s=()`` strong evidence is confirmed by the first round."""
        watch = Watch(policy=DetectionPolicy(confirm_after_s=()))
        decision = watch.round(0, {"whatsapp": OUTAGE})
        assert [c.event for c in decision.incident_events] == [IncidentEvent.confirmed]
        assert decision.reprobe == ()

    def test_escalation_updates_the_incident_kind(self) -> None:
        """Degraded to down keeps the incident and its key, with kind unreachable."""
        watch = Watch(shapes={"whatsapp": TWO_DOOR_SHAPE})
        for seconds in (0, 2, 5):
            watch.round(seconds, {"whatsapp": DEGRADED})
        [opened] = watch.events
        assert opened.incident.kind is IncidentKind.degraded
        for seconds in (30, 32, 35):
            watch.round(seconds, {"whatsapp": ALL_FAILING})
        [escalated] = watch.updates
        assert escalated.key == opened.incident.key
        assert escalated.kind is IncidentKind.unreachable
        assert escalated.is_open
        assert watch.open_incidents == (escalated,)

    def test_recovery_resolves_the_incident(self) -> None:
        """The resolved event carries the incident with resolved_at set."""
        watch = Watch()
        for step in outage_then_recovery(0):
            watch.round(step.seconds, {"whatsapp": step.condition})
        confirmed, resolved = watch.events
        assert resolved.incident.key == confirmed.incident.key
        assert resolved.incident.resolved_at == at(90)
        assert watch.open_incidents == ()
        assert watch.transitions[-1].reason == "recovered after 3 healthy rounds"


class TestFlapping:
    """A flapping platform is held in its worse state with one notice, and released when calm."""

    def _flap(self, watch: Watch, cycles: int) -> None:
        for cycle in range(cycles):
            for step in outage_then_recovery(120 * cycle):
                watch.round(step.seconds, {"whatsapp": step.condition})

    def test_one_flapping_transition_per_hold(self) -> None:
        """However long it flaps, exactly one transition is marked flapping."""
        watch = Watch()
        self._flap(watch, 6)
        assert sum(t.flapping for t in watch.transitions) == 1
        status = watch.status("whatsapp")
        assert (status.health, status.flapping) == (Health.down, True)
        assert len(watch.open_incidents) == 1

    def test_the_flapping_transition_says_why(self) -> None:
        """Its reason names the count and the window."""
        watch = Watch()
        self._flap(watch, 3)
        [flapping] = [t for t in watch.transitions if t.flapping]
        assert flapping.reason.startswith("flapping: 5 health changes within 0:30:00; holding down")

    def test_release_ends_with_one_transition_and_resolves(self) -> None:
        """Once calm, one transition ends the hold and the held incident resolves."""
        watch = Watch()
        self._flap(watch, 3)
        decision = watch.round(240 + 31 * 60, {"whatsapp": OK})
        [released] = decision.transitions
        assert (released.previous, released.current, released.flapping) == (Health.down, Health.up, False)
        assert released.reason.startswith("flapping ended")
        assert [c.event for c in decision.incident_events] == [IncidentEvent.resolved]
        assert not watch.status("whatsapp").flapping

    def test_release_while_down_keeps_the_incident(self) -> None:
        """A platform calm but down is released into down; its incident stays open."""
        watch = Watch()
        self._flap(watch, 2)
        for seconds in (240, 242, 245):
            watch.round(seconds, {"whatsapp": OUTAGE})
        decision = watch.round(245 + 31 * 60, {"whatsapp": OUTAGE})
        [released] = decision.transitions
        assert (released.previous, released.current, released.flapping) == (Health.down, Health.down, False)
        assert decision.incident_events == ()
        assert len(watch.open_incidents) == 1

    def test_a_worsening_during_the_hold_is_shown(self) -> None:
        """Held at degraded, a confirmed outage is still shown (and marked flapping)."""
        watch = Watch(shapes={"whatsapp": TWO_DOOR_SHAPE})
        for cycle in range(3):
            for step in outage_then_recovery(120 * cycle, DEGRADED):
                watch.round(step.seconds, {"whatsapp": step.condition})
        assert watch.status("whatsapp").health is Health.degraded
        for seconds in (400, 402, 405):
            decision = watch.round(seconds, {"whatsapp": ALL_FAILING})
        [worse] = decision.transitions
        assert (worse.previous, worse.current, worse.flapping) == (Health.degraded, Health.down, True)
        assert worse.reason.endswith("(while flapping)")
        [escalated] = decision.incident_updates
        assert escalated.kind is IncidentKind.unreachable
