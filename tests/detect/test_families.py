"""Family grouping: Meta falling together is one family incident, not four."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from failover.detect import JudgeState
from failover.domain import DetectionPolicy, IncidentEvent, IncidentScope
from tests.detect import OK, OUTAGE, STATUS_MAJOR, THIN_OUTAGE, Condition, Watch, at

CONFIRMED, RESOLVED, UPDATED = IncidentEvent.confirmed, IncidentEvent.resolved, IncidentEvent.updated
META_ALL = ("facebook", "instagram", "messenger", "whatsapp")


@dataclass(frozen=True, kw_only=True, slots=True)
class Round:
    seconds: float
    down: Sequence[str] = ()
    condition: Condition = field(default_factory=lambda: OUTAGE)

    def conditions(self) -> Mapping[str, Condition]:
        """Every Meta platform and telegram probed; those in ``down`` fail."""
        return {p: self.condition if p in self.down else OK for p in (*META_ALL, "telegram", "signal")}


def confirming(start: float, *down: str, condition: Condition = OUTAGE) -> tuple[Round, ...]:
    """A first failing round and its two re-probes."""
    return tuple(Round(seconds=start + d, down=down, condition=condition) for d in (0, 2, 5))


def healthy(*seconds: float, down: Sequence[str] = (), condition: Condition = OUTAGE) -> tuple[Round, ...]:
    """Regular rounds in which only the platforms in ``down`` still fail."""
    return tuple(Round(seconds=s, down=down, condition=condition) for s in seconds)


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    rounds: tuple[Round, ...]
    events: tuple[tuple[IncidentEvent, str], ...]
    #: (scope:name, platforms) of the incidents open at the end
    open: tuple[tuple[str, tuple[str, ...]], ...]
    policy: DetectionPolicy = field(default_factory=DetectionPolicy)


CASES: dict[str, Case] = {
    "one-member-down-is-a-platform-incident": Case(
        rounds=confirming(0, "whatsapp"),
        events=((CONFIRMED, "platform:whatsapp"),),
        open=(("platform:whatsapp", ("whatsapp",)),),
    ),
    "members-confirmed-in-the-same-round-are-one-family-incident": Case(
        rounds=confirming(0, *META_ALL),
        events=((CONFIRMED, "family:meta"),),
        open=(("family:meta", META_ALL),),
    ),
    "a-second-member-within-the-window-folds-the-first": Case(
        rounds=(*confirming(0, "facebook"), *confirming(60, "facebook", "whatsapp")),
        events=((CONFIRMED, "platform:facebook"), (CONFIRMED, "family:meta")),
        open=(("family:meta", ("facebook", "whatsapp")),),
    ),
    "a-second-member-after-the-window-is-its-own-incident": Case(
        rounds=(*confirming(0, "facebook"), *confirming(400, "facebook", "whatsapp")),
        events=((CONFIRMED, "platform:facebook"), (CONFIRMED, "platform:whatsapp")),
        open=(("platform:facebook", ("facebook",)), ("platform:whatsapp", ("whatsapp",))),
    ),
    "a-later-member-joins-the-open-family-incident-with-an-update": Case(
        rounds=(
            *confirming(0, "facebook", "whatsapp"),
            *confirming(3600, "facebook", "whatsapp", "instagram"),
        ),
        events=((CONFIRMED, "family:meta"), (UPDATED, "family:meta")),
        open=(("family:meta", ("facebook", "instagram", "whatsapp")),),
    ),
    "the-family-incident-waits-for-every-member": Case(
        rounds=(*confirming(0, "facebook", "whatsapp"), *healthy(30, 60, 90, down=("whatsapp",))),
        events=((CONFIRMED, "family:meta"),),
        open=(("family:meta", ("facebook", "whatsapp")),),
    ),
    "the-family-incident-resolves-when-all-members-recovered": Case(
        rounds=(
            *confirming(0, "facebook", "whatsapp"),
            *healthy(30, 60, 90, down=("whatsapp",)),
            *healthy(120, 150, 180),
        ),
        events=((CONFIRMED, "family:meta"), (RESOLVED, "family:meta")),
        open=(),
    ),
    "a-recovered-member-going-down-again-stays-in-the-family-incident": Case(
        rounds=(
            *confirming(0, "facebook", "whatsapp"),
            *healthy(30, 60, 90, down=("whatsapp",)),
            *confirming(120, "facebook", "whatsapp"),
        ),
        events=((CONFIRMED, "family:meta"),),
        open=(("family:meta", ("facebook", "whatsapp")),),
    ),
    "platforms-without-a-family-are-never-grouped": Case(
        rounds=confirming(0, "telegram", "signal"),
        events=((CONFIRMED, "platform:signal"), (CONFIRMED, "platform:telegram")),
        open=(("platform:signal", ("signal",)), ("platform:telegram", ("telegram",))),
    ),
    "degraded-members-are-not-grouped": Case(
        rounds=(
            *confirming(0, "facebook", "whatsapp", condition=STATUS_MAJOR),
            *healthy(30, 60, down=("facebook", "whatsapp"), condition=STATUS_MAJOR),
        ),
        events=((CONFIRMED, "platform:facebook"), (CONFIRMED, "platform:whatsapp")),
        open=(("platform:facebook", ("facebook",)), ("platform:whatsapp", ("whatsapp",))),
    ),
    "family-min-platforms-is-respected": Case(
        policy=DetectionPolicy(family_min_platforms=3),
        rounds=confirming(0, "facebook", "whatsapp"),
        events=((CONFIRMED, "platform:facebook"), (CONFIRMED, "platform:whatsapp")),
        open=(("platform:facebook", ("facebook",)), ("platform:whatsapp", ("whatsapp",))),
    ),
}


def _run(case: Case) -> Watch:
    watch = Watch(policy=case.policy)
    for round_ in case.rounds:
        watch.round(round_.seconds, round_.conditions())
    return watch


class TestFamilyGrouping:
    """Which incidents open when members of a family go down together or apart."""

    @pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in CASES.items()])
    def test_grouping(self, case: Case) -> None:
        """The incident events and the open incidents are as listed."""
        watch = _run(case)
        assert watch.event_names == list(case.events)
        assert [(i.key.rsplit(":", 1)[0], i.platforms) for i in watch.open_incidents] == list(case.open)


class TestFamilyIncident:
    """The family incident's key, times, cause, and what happens to folded platform incidents."""

    def test_family_incident_of_the_same_round(self) -> None:
        """Named after the family, with every member and one cause line for all."""
        watch = _run(CASES["members-confirmed-in-the-same-round-are-one-family-incident"])
        [change] = watch.events
        incident = change.incident
        assert incident.key == "family:meta:20211004T154000Z"
        assert (incident.scope, incident.name) == (IncidentScope.family, "meta")
        assert incident.cause == (
            "facebook, instagram, messenger and whatsapp: authoritative DNS SERVFAIL, "
            "HTTPS unreachable and status page unreachable"
        )
        assert "whatsapp: front-door (front_door): tcp_timeout" in incident.evidence
        for platform in META_ALL:
            assert watch.status(platform).incident == incident.key

    def test_a_folded_platform_incident_is_closed_without_a_resolved_event(self) -> None:
        """The folded incident is an update: closed, cause "merged into family incident …"."""
        watch = _run(CASES["a-second-member-within-the-window-folds-the-first"])
        first, family = (change.incident for change in watch.events)
        [folded] = [i for i in watch.updates if i.key == first.key]
        assert folded.resolved_at is not None
        assert folded.cause.startswith(f"merged into family incident {family.key}; was: ")
        assert RESOLVED not in [c.event for c in watch.events]

    def test_the_family_incident_opens_when_its_first_member_failed(self) -> None:
        """opened_at and the key come from the earliest member's first failure."""
        watch = _run(CASES["a-second-member-within-the-window-folds-the-first"])
        first, family = (change.incident for change in watch.events)
        assert family.opened_at == first.opened_at
        assert family.key == "family:meta:20211004T154000Z"
        assert family.confirmed_at is not None
        assert family.confirmed_at > first.confirmed_at  # type: ignore[operator]

    def test_a_joining_member_is_an_update_of_the_family_incident(self) -> None:
        """The join is an ``updated`` event carrying the new member list (told once)."""
        watch = _run(CASES["a-later-member-joins-the-open-family-incident-with-an-update"])
        joined = watch.events[-1]
        assert joined.event is IncidentEvent.updated
        assert joined.incident.platforms == ("facebook", "instagram", "whatsapp")
        assert joined.incident.is_open

    def test_a_member_going_down_again_changes_nothing(self) -> None:
        """A recovered member failing again is already covered: no event, no update."""
        watch = _run(CASES["a-recovered-member-going-down-again-stays-in-the-family-incident"])
        assert watch.updates == []


class TestFamilyHold:
    """A member confirmed down while a sibling is still being confirmed waits for it, so
    the family's outage is one incident, told once, naming both."""

    @staticmethod
    def _look(watch: Watch, seconds: float, **conditions: Condition) -> None:
        watch.round(seconds, conditions)

    def test_a_member_confirmed_first_waits_for_its_sibling(self) -> None:
        watch = Watch()
        self._look(watch, 0, whatsapp=OUTAGE)
        self._look(watch, 2, whatsapp=OUTAGE)
        self._look(watch, 3, facebook=OUTAGE)  # the family look the judge asked for
        self._look(watch, 5, whatsapp=OUTAGE)  # whatsapp confirmed: held, nobody told yet
        assert watch.event_names == []
        assert watch.state.platforms["whatsapp"].held is not None
        self._look(watch, 5.5, facebook=OUTAGE)
        self._look(watch, 8, facebook=OUTAGE)
        assert watch.event_names == [(CONFIRMED, "family:meta")]
        (family,) = watch.open_incidents
        assert family.platforms == ("facebook", "whatsapp")
        assert watch.state.platforms["whatsapp"].held is None

    def test_a_held_member_opens_alone_when_its_sibling_clears(self) -> None:
        watch = Watch()
        for seconds in (0, 2):
            self._look(watch, seconds, whatsapp=OUTAGE)
        self._look(watch, 3, facebook=OUTAGE)
        self._look(watch, 5, whatsapp=OUTAGE)
        assert watch.event_names == []
        self._look(watch, 6, facebook=OK)  # a glitch: the sibling's suspect is dropped
        assert watch.event_names == [(CONFIRMED, "platform:whatsapp")]
        (incident,) = watch.open_incidents
        assert incident.opened_at == at(0)  # when it first failed, not when it was released
        assert incident.confirmed_at == at(6)

    def test_a_member_is_held_no_longer_than_family_hold(self) -> None:
        watch = Watch(policy=DetectionPolicy(family_hold=timedelta(seconds=15)))
        for seconds in (0, 2):
            self._look(watch, seconds, whatsapp=OUTAGE)
        self._look(watch, 3, facebook=THIN_OUTAGE)  # thin evidence: confirmed in five looks
        self._look(watch, 5, whatsapp=OUTAGE)
        self._look(watch, 15, facebook=THIN_OUTAGE)
        assert watch.event_names == []
        self._look(watch, 20, facebook=THIN_OUTAGE)  # 15 s after whatsapp was held
        assert watch.event_names == [(CONFIRMED, "platform:whatsapp")]

    def test_a_held_member_that_recovers_tells_nobody(self) -> None:
        watch = Watch(policy=DetectionPolicy(recover_after=1))
        for seconds in (0, 2):
            self._look(watch, seconds, whatsapp=OUTAGE)
        self._look(watch, 3, facebook=OUTAGE)
        self._look(watch, 5, whatsapp=OUTAGE)
        self._look(watch, 6, whatsapp=OK)
        assert watch.state.platforms["whatsapp"].held is None
        self._look(watch, 6.5, facebook=OK)
        assert watch.event_names == []

    def test_the_hold_survives_a_restart(self) -> None:
        watch = Watch()
        for seconds in (0, 2):
            self._look(watch, seconds, whatsapp=OUTAGE)
        self._look(watch, 3, facebook=OUTAGE)
        self._look(watch, 5, whatsapp=OUTAGE)
        restarted = Watch(state=JudgeState.from_json(watch.state.to_json()))
        self._look(restarted, 5.5, facebook=OUTAGE)
        self._look(restarted, 8, facebook=OUTAGE)
        assert restarted.event_names == [(CONFIRMED, "family:meta")]

    def test_two_members_confirmed_wait_for_a_third_being_confirmed(self) -> None:
        """Enough members for a family incident, but another still being confirmed: it is
        waited for, so the one notice names all three."""
        watch = Watch()
        for seconds in (0, 2):
            self._look(watch, seconds, whatsapp=OUTAGE, messenger=OUTAGE)
        self._look(watch, 3, facebook=OUTAGE)
        self._look(watch, 5, whatsapp=OUTAGE, messenger=OUTAGE)
        assert watch.event_names == []
        self._look(watch, 5.5, facebook=OUTAGE)
        self._look(watch, 8, facebook=OUTAGE)
        assert watch.event_names == [(CONFIRMED, "family:meta")]
        (family,) = watch.open_incidents
        assert family.platforms == ("facebook", "messenger", "whatsapp")
