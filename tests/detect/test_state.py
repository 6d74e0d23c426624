"""The judge's state survives a restart, decisions replay identically, and the front door is complete."""

from __future__ import annotations

import json
from typing import Any

import pytest

import failover.detect
from failover.detect import JudgeState, health_of, judge
from failover.domain import Health, IncidentEvent
from tests.detect import (
    DEGRADED,
    FAMILIES,
    OK,
    OUTAGE,
    POLICY,
    THIN_OUTAGE,
    TWO_DOOR_SHAPE,
    Watch,
    at,
    control_observations,
    observe,
)


def restarted(watch: Watch) -> Watch:
    """A new watch resuming from the state as the store would persist it (through JSON text)."""
    persisted = json.dumps(watch.state.to_json())
    return Watch(
        families=watch.families,
        policy=watch.policy,
        shapes=watch.shapes,
        state=JudgeState.from_json(json.loads(persisted)),
    )


class TestJsonRoundTrip:
    """``to_json`` is JSON-safe and ``from_json`` restores the state exactly."""

    def test_initial_state(self) -> None:
        """The initial state survives the round trip."""
        state = JudgeState.initial()
        assert JudgeState.from_json(json.loads(json.dumps(state.to_json()))) == state

    def test_datetimes_are_iso_strings(self) -> None:
        """Timestamps are written as ISO 8601 with their offset."""
        watch = Watch()
        watch.round(0, {"whatsapp": OK})
        assert watch.state.to_json()["platforms"]["whatsapp"]["since"] == "2021-10-04T15:40:00+00:00"

    def test_every_kind_of_state_survives(self) -> None:
        """Suspects, counters, flapping history, family and platform incidents all come back equal."""
        watch = Watch(shapes={"telegram": TWO_DOOR_SHAPE})
        for seconds in (0, 2, 5):
            watch.round(seconds, {"facebook": OUTAGE, "whatsapp": OUTAGE, "telegram": DEGRADED})
        watch.round(30, {"facebook": OK, "whatsapp": OUTAGE, "instagram": THIN_OUTAGE, "telegram": DEGRADED})
        assert watch.state.platforms["instagram"].suspect is not None
        assert watch.state.platforms["facebook"].better_looks == 1
        assert len(watch.state.incidents) == 2
        assert restarted(watch).state == watch.state

    def test_a_restart_in_the_middle_of_a_suspect_phase(self) -> None:
        """The re-probes after a restart confirm the outage exactly as without the restart."""
        uninterrupted = Watch()
        interrupted = Watch()
        for seconds in (0, 2):
            uninterrupted.round(seconds, {"whatsapp": OUTAGE})
            interrupted.round(seconds, {"whatsapp": OUTAGE})
        resumed = restarted(interrupted)
        expected = uninterrupted.round(5, {"whatsapp": OUTAGE})
        actual = resumed.round(5, {"whatsapp": OUTAGE})
        assert actual == expected
        assert [c.event for c in actual.incident_events] == [IncidentEvent.confirmed]

    def test_a_restart_with_an_open_incident(self) -> None:
        """The incident stays open after a restart, and recovery afterwards resolves it."""
        watch = Watch()
        for seconds in (0, 2, 5):
            watch.round(seconds, {"whatsapp": OUTAGE})
        watch.round(30, {"whatsapp": OK})
        resumed = restarted(watch)
        [incident] = resumed.open_incidents
        assert resumed.status("whatsapp").health is Health.down
        resumed.round(60, {"whatsapp": OK})
        decision = resumed.round(90, {"whatsapp": OK})
        [resolved] = decision.incident_events
        assert (resolved.event, resolved.incident.key) == (IncidentEvent.resolved, incident.key)

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param({}, id="empty"),
            pytest.param({"version": 99}, id="unknown-version"),
            pytest.param({"version": 1, "connectivity": None}, id="malformed"),
            pytest.param(
                {
                    "version": 1,
                    "connectivity": {"ok": "yes", "passing": 0, "required": 0, "total": 0, "since": None},
                    "platforms": {},
                    "incidents": {},
                },
                id="not-a-boolean",
            ),
        ],
    )
    def test_anything_else_is_rejected(self, data: dict[str, Any]) -> None:
        """A document that is not a judge state raises ValueError."""
        with pytest.raises(ValueError, match=r"judge state|expected"):
            JudgeState.from_json(data)

    def test_naive_timestamps_are_rejected(self) -> None:
        """Every timestamp must carry its offset."""
        watch = Watch()
        watch.round(0, {"whatsapp": OK})
        data = watch.state.to_json()
        data["platforms"]["whatsapp"]["since"] = "2021-10-04T15:40:00"
        with pytest.raises(ValueError, match="timezone"):
            JudgeState.from_json(data)


class TestReplay:
    """The same round judged twice gives the same decision: replay after a crash opens nothing new."""

    def test_replayed_confirmation_has_the_same_incident_key(self) -> None:
        """Judging the confirming round again yields the identical decision."""
        watch = Watch()
        for seconds in (0, 2):
            watch.round(seconds, {"whatsapp": OUTAGE})
        observations = [*control_observations(at(5)), *observe("whatsapp", at(5), failing=OUTAGE)]

        def decide() -> object:
            return judge(
                observations=observations,
                state=watch.state,
                now=at(5),
                policy=POLICY,
                families=FAMILIES,
                probed=["whatsapp"],
            )

        assert decide() == decide()


class TestHealthOf:
    """``health_of`` answers the CLI's status: health, since, flapping, suspect, incident."""

    def test_a_platform_never_judged_is_unknown(self) -> None:
        """Before its first round nothing is known."""
        status = health_of(JudgeState.initial(), "whatsapp")
        assert (status.health, status.since, status.incident) == (Health.unknown, None, None)

    def test_a_confirmed_outage(self) -> None:
        """Down since the confirming round, with the incident's key."""
        watch = Watch()
        for seconds in (0, 2, 5):
            decision = watch.round(seconds, {"whatsapp": OUTAGE})
        status = watch.status("whatsapp")
        assert (status.health, status.since, status.flapping, status.suspect) == (
            Health.down,
            at(5),
            False,
            False,
        )
        assert status.incident == decision.open_incidents[0].key


class TestFrontDoor:
    """``failover.detect`` exports exactly its public names."""

    def test_all_is_complete(self) -> None:
        """Every public attribute is in ``__all__`` and every name in ``__all__`` exists."""
        public = {name for name in dir(failover.detect) if not name.startswith("_")}
        assert public == set(failover.detect.__all__)
