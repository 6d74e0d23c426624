"""The past as the site shows it: minutes per day cut at the organisation's midnights,
which days count as watched, the availability, and which incidents are listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from failover.domain import Health, Incident, IncidentEvent, IncidentKind, IncidentScope, Transition
from failover.status_page import PlatformNow, daily_history, days_observed, shown_incidents, window_days
from failover.status_page._history import availability, day_edges, feed_events

PARIS = ZoneInfo("Europe/Paris")
#: 4 October 2021, 20:00 in Paris (18:00 UTC)
NOW = datetime(2021, 10, 4, 18, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    """``"10-04 15:40"`` → that UTC time in 2021."""
    return datetime.strptime(f"2021-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def change(platform: str, previous: Health, current: Health, when: str) -> Transition:
    return Transition(platform=platform, previous=previous, current=current, at=at(when), reason="test")


UP, DOWN, DEGRADED, UNKNOWN = Health.up, Health.down, Health.degraded, Health.unknown


def history(
    transitions: Sequence[Transition] = (),
    *,
    health: Health = UP,
    days: int = 3,
    observed: Sequence[date] = (),
    first_seen: datetime | None = None,
    watched_from: datetime | None = None,
    now: datetime = NOW,
) -> list[tuple[str, int, int, bool]]:
    """(date, down minutes, degraded minutes, watched) per day, oldest first."""
    window = window_days(now, days=days, zone=PARIS)
    result = daily_history(
        PlatformNow(name="whatsapp", health=health, since=None),
        transitions=transitions,
        observed=observed,
        first_seen=first_seen,
        watched_from=watched_from,
        now=now,
        days=window,
        edges=day_edges(window, zone=PARIS),
    )
    return [(d.day.isoformat()[5:], d.down_minutes, d.degraded_minutes, d.watched) for d in result]


@dataclass(frozen=True)
class Case:
    name: str
    transitions: tuple[Transition, ...]
    health: Health
    expected: list[tuple[str, int, int, bool]]


CASES = [
    Case(
        "the 2021 outage: six hours down, all on the 4th",
        (change("whatsapp", UP, DOWN, "10-04 15:40"),),
        DOWN,
        [("10-02", 0, 0, False), ("10-03", 0, 0, False), ("10-04", 140, 0, True)],
    ),
    Case(
        "an outage across the organisation's midnight (22:00 UTC is midnight in Paris)",
        (change("whatsapp", UP, DOWN, "10-02 21:30"), change("whatsapp", DOWN, UP, "10-02 22:45")),
        UP,
        [("10-02", 30, 0, True), ("10-03", 45, 0, True), ("10-04", 0, 0, False)],
    ),
    Case(
        "degraded, then down (escalation), then up: each counted apart",
        (
            change("whatsapp", UP, DEGRADED, "10-03 08:00"),
            change("whatsapp", DEGRADED, DOWN, "10-03 08:20"),
            change("whatsapp", DOWN, UP, "10-03 09:00"),
        ),
        UP,
        [("10-02", 0, 0, False), ("10-03", 40, 20, True), ("10-04", 0, 0, False)],
    ),
    Case(
        "down since before the window: the first transition's previous health is the start",
        (change("whatsapp", DOWN, UP, "10-03 00:00"),),
        UP,
        [("10-02", 1440, 0, True), ("10-03", 120, 0, True), ("10-04", 0, 0, False)],
    ),
    Case(
        "no transition at all: the health now is the health throughout (up to now)",
        (),
        DEGRADED,
        [("10-02", 0, 1440, True), ("10-03", 0, 1440, True), ("10-04", 0, 1200, True)],
    ),
    Case(
        "unknown (our own network was down) is neither down nor degraded",
        (change("whatsapp", UP, UNKNOWN, "10-03 10:00"), change("whatsapp", UNKNOWN, UP, "10-03 11:00")),
        UP,
        [("10-02", 0, 0, False), ("10-03", 0, 0, False), ("10-04", 0, 0, False)],
    ),
    Case(
        "a change undone at the same moment counts nothing",
        (change("whatsapp", UP, DOWN, "10-03 10:00"), change("whatsapp", DOWN, UP, "10-03 10:00")),
        UP,
        [("10-02", 0, 0, False), ("10-03", 0, 0, False), ("10-04", 0, 0, False)],
    ),
]


class TestDailyHistory:
    """Minutes down and degraded per day, in the organisation's time zone."""

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_minutes_per_day(self, case: Case) -> None:
        """Each case's transitions give these minutes on these days."""
        assert history(case.transitions, health=case.health) == case.expected

    def test_a_part_of_a_minute_counts_as_a_minute(self) -> None:
        """Twenty seconds down are one minute, never zero: a short outage stays visible."""
        moment = at("10-03 10:00")
        transitions = [
            Transition(platform="whatsapp", previous=UP, current=DOWN, at=moment, reason=""),
            Transition(
                platform="whatsapp", previous=DOWN, current=UP, at=moment + timedelta(seconds=20), reason=""
            ),
        ]
        assert history(transitions)[1] == ("10-03", 1, 0, True)

    def test_a_day_of_daylight_saving_change_has_its_own_length(self) -> None:
        """31 October 2021 lasted 25 hours in Paris: down all of it is 1500 minutes."""
        now = datetime(2021, 11, 1, 12, 0, tzinfo=UTC)
        transitions = [
            change("whatsapp", UP, DOWN, "10-30 22:00"),
            change("whatsapp", DOWN, UP, "10-31 23:00"),
        ]
        assert history(transitions, now=now)[1] == ("10-31", 1500, 0, True)

    def test_a_rollup_or_the_live_hours_make_a_day_watched(self) -> None:
        """A day is watched when a rollup says so, or when it lies in the hours not rolled up
        yet after the platform was first seen; before that it is not."""
        days = history(
            observed=[date(2021, 10, 2)],
            first_seen=at("10-01 12:00"),
            watched_from=at("10-04 09:00"),
        )
        assert [watched for *_, watched in days] == [True, False, True]

    def test_days_observed_groups_hours_by_local_day(self) -> None:
        """An hour watched at 22:00 UTC belongs to the next day in Paris."""
        hours = {"whatsapp": [at("10-02 22:00"), at("10-02 21:00")], "signal": [at("10-02 10:00")]}
        assert days_observed(hours, zone=PARIS) == {
            "whatsapp": {date(2021, 10, 2), date(2021, 10, 3)},
            "signal": {date(2021, 10, 2)},
        }


class TestAvailability:
    def test_down_time_over_watched_time(self) -> None:
        """One day in two watched and down for 144 minutes: 90 % available; unwatched days
        do not count; a window never watched has no figure at all."""
        window = window_days(NOW, days=2, zone=PARIS)
        edges = day_edges(window, zone=PARIS)
        transitions = [
            change("whatsapp", UP, DOWN, "10-03 08:00"),
            change("whatsapp", DOWN, UP, "10-03 10:24"),
        ]
        days = daily_history(
            PlatformNow(name="whatsapp", health=UP),
            transitions=transitions,
            observed=(),
            first_seen=None,
            watched_from=None,
            now=NOW,
            days=window,
            edges=edges,
        )
        share = availability(days, now=NOW, zone=PARIS)
        assert share == pytest.approx(0.9)
        assert availability([d for d in days if not d.watched], now=NOW, zone=PARIS) is None


def incident(
    key: str,
    *,
    scope: IncidentScope = IncidentScope.platform,
    platforms: tuple[str, ...] = ("whatsapp",),
    opened: str = "10-04 15:40",
    resolved: str | None = None,
    kind: IncidentKind = IncidentKind.unreachable,
) -> Incident:
    return Incident(
        key=key,
        scope=scope,
        kind=kind,
        name=platforms[0] if scope is IncidentScope.platform else "meta",
        platforms=platforms,
        opened_at=at(opened),
        confirmed_at=at(opened) + timedelta(minutes=1),
        resolved_at=at(resolved) if resolved else None,
    )


class TestIncidents:
    def test_a_platform_incident_folded_into_its_family_is_listed_once(self) -> None:
        """WhatsApp's own incident, closed when the Meta family incident took it over, is
        not repeated; an older incident of the same platform still is."""
        family = incident("family", scope=IncidentScope.family, platforms=("whatsapp", "facebook"))
        folded = incident("whatsapp-own", resolved="10-04 15:42")
        older = incident("whatsapp-older", opened="10-01 10:00", resolved="10-01 11:00")
        shown = shown_incidents([folded, family, older], since=at("09-01 00:00"))
        assert [i.key for i in shown] == ["family", "whatsapp-older"]

    def test_only_the_incidents_of_the_window(self) -> None:
        """An incident resolved before the window began is left out; one still open is kept."""
        old = incident("old", opened="08-01 10:00", resolved="08-01 11:00")
        ongoing = incident("ongoing", opened="08-01 10:00")
        assert [i.key for i in shown_incidents([old, ongoing], since=at("09-01 00:00"))] == ["ongoing"]

    def test_the_feed_has_a_start_and_an_end_per_incident_newest_first(self) -> None:
        """A resolved incident gives two entries (confirmed, resolved); a manual one starts
        with its announcement; the newest come first and the limit holds."""
        resolved = incident("a", opened="10-01 10:00", resolved="10-01 11:00")
        manual = incident("b", opened="10-02 10:00", kind=IncidentKind.manual)
        events = feed_events([resolved, manual], limit=10)
        assert [(e.incident.key, e.event) for e in events] == [
            ("b", IncidentEvent.manual),
            ("a", IncidentEvent.resolved),
            ("a", IncidentEvent.confirmed),
        ]
        assert len({e.id for e in events}) == 3
        assert len(feed_events([resolved, manual], limit=2)) == 2
