"""One failing source that lasts: the ``degraded_after`` rule.

A single failing source is never believed at once (a glitch, see test_verdict). When the
*same* source fails in every look for ``degraded_after`` and at least ``LINGER_MIN_LOOKS``
looks, the platform is degraded: Instagram answering HTTP 500 for minutes, Facebook
answering 200 without its login form (5 March 2024), the status page's own word.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from failover.detect import JudgeState
from failover.detect._machine import LINGER_MIN_LOOKS
from failover.domain import DetectionPolicy, Health, IncidentEvent, IncidentKind, Outcome
from tests.detect import (
    META_SHAPE,
    OK,
    ONE_FAILING,
    STATUS_UNREACHABLE,
    Condition,
    Watch,
)

#: the scheduled rounds of a platform at the default 15 s interval
INTERVAL = 15.0
HTTP_500: Condition = {"front-door": Outcome.http_status}
LOGGED_OUT: Condition = {"front-door": Outcome.http_body_mismatch}
STATUS_MINOR: Condition = {"metastatus": Outcome.status_minor}
CONFIRMED = (IncidentEvent.confirmed, "platform:instagram")
RESOLVED = (IncidentEvent.resolved, "platform:instagram")


def rounds(watch: Watch, condition: Condition, start: float, count: int) -> float:
    """``count`` scheduled looks from ``start``; returns when the next one would be."""
    for n in range(count):
        watch.round(start + n * INTERVAL, {"instagram": condition})
    return start + count * INTERVAL


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param(HTTP_500, id="http-500"),
        pytest.param(LOGGED_OUT, id="body-pattern-mismatch"),
        pytest.param(STATUS_MINOR, id="status-page-minor"),
        pytest.param(ONE_FAILING, id="one-door-unreachable"),
    ],
)
def test_one_source_failing_for_degraded_after_is_a_degraded_incident(condition: Condition) -> None:
    watch = Watch()
    # 2 min at 15 s: looks at 0 … 120 s, nine of them; the eighth (105 s) is still too early
    rounds(watch, condition, 0, 8)
    assert watch.status("instagram").health is Health.up
    assert watch.event_names == []
    watch.round(120, {"instagram": condition})
    assert watch.status("instagram").health is Health.degraded
    assert watch.event_names == [CONFIRMED]
    (incident,) = watch.open_incidents
    assert incident.kind is IncidentKind.degraded
    # opened when the source first failed, with the cause in words
    assert incident.opened_at == watch.decisions[0].state.platforms["instagram"].lingering.first_failing_at  # type: ignore[union-attr]
    assert "for 2.0 min" in watch.transitions[-1].reason


def test_it_resolves_with_the_same_hysteresis_as_any_incident() -> None:
    watch = Watch()
    after = rounds(watch, HTTP_500, 0, 9)
    assert watch.event_names == [CONFIRMED]
    # the source still failing keeps it open, however long
    after = rounds(watch, HTTP_500, after, 20)
    assert watch.status("instagram").health is Health.degraded
    # two healthy looks are not enough (recover_after = 3)
    after = rounds(watch, OK, after, 2)
    assert watch.event_names == [CONFIRMED]
    rounds(watch, OK, after, 1)
    assert watch.status("instagram").health is Health.up
    assert watch.event_names == [CONFIRMED, RESOLVED]


def test_a_passing_look_restarts_the_clock() -> None:
    watch = Watch()
    after = rounds(watch, HTTP_500, 0, 8)
    after = rounds(watch, OK, after, 1)
    rounds(watch, HTTP_500, after, 8)
    assert watch.status("instagram").health is Health.up
    assert watch.event_names == []


def test_a_different_source_failing_restarts_the_clock() -> None:
    watch = Watch()
    for n in range(16):
        condition = HTTP_500 if n % 2 == 0 else {"authoritative": Outcome.dns_timeout}
        watch.round(n * INTERVAL, {"instagram": condition})
    assert watch.event_names == []


def test_time_alone_is_not_enough_it_takes_enough_looks() -> None:
    # a platform looked at every minute: 2 min pass after three looks
    watch = Watch()
    for n in range(LINGER_MIN_LOOKS - 1):
        watch.round(n * 60.0, {"instagram": HTTP_500})
    assert watch.event_names == []
    watch.round((LINGER_MIN_LOOKS - 1) * 60.0, {"instagram": HTTP_500})
    assert watch.event_names == [CONFIRMED]


def test_a_status_page_we_cannot_read_never_degrades_anything() -> None:
    watch = Watch()
    rounds(watch, STATUS_UNREACHABLE, 0, 40)
    assert watch.status("instagram").health is Health.up
    assert watch.event_names == []


def test_lost_connectivity_restarts_the_clock() -> None:
    watch = Watch()
    for n in range(12):
        watch.round(n * INTERVAL, {"instagram": HTTP_500}, controls_failing=3 if n == 6 else 0)
    # 0 … 75 s, then unknown at 90 s, then 105 … 165 s: never eight agreeing looks in a row
    assert watch.event_names == []


def test_the_period_is_configurable() -> None:
    watch = Watch(policy=DetectionPolicy(degraded_after=timedelta(minutes=10)))
    rounds(watch, HTTP_500, 0, 40)  # 9 min 45 s
    assert watch.event_names == []
    watch.round(600, {"instagram": HTTP_500})
    assert watch.event_names == [CONFIRMED]


def test_the_clock_survives_a_restart() -> None:
    watch = Watch()
    after = rounds(watch, HTTP_500, 0, 5)
    restarted = Watch(state=JudgeState.from_json(watch.state.to_json()))
    rounds(restarted, HTTP_500, after, 4)
    assert restarted.event_names == [CONFIRMED]


def test_a_state_written_before_the_rule_still_loads() -> None:
    watch = Watch()
    rounds(watch, HTTP_500, 0, 3)
    data = watch.state.to_json()
    for platform in data["platforms"].values():
        del platform["lingering"]
    assert JudgeState.from_json(data).platforms["instagram"].lingering is None


@pytest.mark.slow
def test_a_flaky_door_failing_one_look_in_ten_never_degrades_in_a_day() -> None:
    """10 % of looks failing at random on one door, every other check passing: a day of
    15 s rounds (5,760 looks) opens nothing. Seeded, so it cannot flake."""
    draw = random.Random(20240305)
    watch = Watch()
    for n in range(5760):
        failing = {check.name: Outcome.http_status for check in META_SHAPE[2:3] if draw.random() < 0.1}
        watch.round(n * INTERVAL, {"instagram": failing})
    assert watch.event_names == []
