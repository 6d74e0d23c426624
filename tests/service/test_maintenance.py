"""Recurring maintenance windows: when they occur (DST included), how the configuration
refuses a bad one, what they do to notices in the outbox (SQLite, a real SMTP server on
127.0.0.1), how the platforms fared across one, and ``failover maintenance``."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.config import Config, MaintenanceWindow, parse_config
from failover.domain import Health, Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.errors import ConfigError
from failover.service import NoticePump, open_store, plan_notices
from failover.service._maintenance import (
    MaintenanceHold,
    MaintenanceQuiet,
    MaintenanceWatch,
    maintenance_verdict,
    next_occurrence,
    occurrence_at,
)
from failover.store import Store
from tests.kit import FakeClock, SmtpSink
from tests.service.test_notices import Servers, by_recipient, notify_sections, platform_sections

PARIS = "Europe/Paris"
#: a Sunday
T0 = datetime(2026, 10, 4, 15, 40, tzinfo=UTC)
#: ``[[maintenance]]`` for the tests' platforms: every day 15:00-17:00 UTC on telegram
NIGHTLY = """
[[maintenance]]
name = "telegram-upgrade"
platforms = ["telegram"]
days = "daily"
start = "15:00"
duration = "2h"
timezone = "UTC"
"""


def window(*, days: tuple[int, ...] = (6,), start: str = "02:00", hours: float = 2.0) -> MaintenanceWindow:
    hour, minute = (int(part) for part in start.split(":"))
    return MaintenanceWindow(
        name="w",
        platforms=("*",),
        days=frozenset(days),
        start=clock_time(hour, minute),
        duration=timedelta(hours=hours),
        timezone=PARIS,
    )


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def make_config(tmp_path: Path, servers: Servers | None = None, extra: str = NIGHTLY) -> Config:
    text = platform_sections() + notify_sections(servers or Servers()) + extra
    text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
    return parse_config(text, source="failover.toml", env={}, cwd=tmp_path)


def telegram_incident(*, opened_at: datetime, resolved_at: datetime | None = None) -> Incident:
    return Incident(
        key=f"platform:telegram:{opened_at:%Y%m%dT%H%MZ}",
        scope=IncidentScope.platform,
        kind=IncidentKind.unreachable,
        name="telegram",
        platforms=("telegram",),
        opened_at=opened_at,
        confirmed_at=opened_at + timedelta(seconds=5),
        resolved_at=resolved_at,
    )


class TestRecurrence:
    """Occurrences start at the wall-clock time in the window's zone and last elapsed time."""

    def test_a_weekly_window_in_force_and_next(self) -> None:
        """Sunday 02:00 Paris (CEST, UTC+2) is 00:00 UTC; in force until 02:00 UTC."""
        weekly = window()
        occurrence = occurrence_at(weekly, utc(2026, 6, 7, 1, 30))
        assert occurrence is not None
        assert (occurrence.start, occurrence.end) == (utc(2026, 6, 7, 0, 0), utc(2026, 6, 7, 2, 0))
        assert occurrence_at(weekly, utc(2026, 6, 7, 2, 0)) is None  # the end is excluded
        assert occurrence_at(weekly, utc(2026, 6, 6, 23, 59)) is None
        following = next_occurrence(weekly, utc(2026, 6, 7, 0, 0))
        assert following is not None
        assert following.start == utc(2026, 6, 14, 0, 0)

    def test_spring_forward_a_skipped_start_falls_after_the_jump(self) -> None:
        """Paris, last Sunday of March 2026: 02:00-03:00 does not exist. A 02:30 start
        is read at the winter offset (01:30 UTC, 03:30 CEST) and lasts 2 real hours."""
        occurrence = next_occurrence(window(start="02:30"), utc(2026, 3, 28, 12, 0))
        assert occurrence is not None
        assert occurrence.start == utc(2026, 3, 29, 1, 30)
        assert occurrence.end == utc(2026, 3, 29, 3, 30)
        # the Sunday before (CET, UTC+1) and after (CEST, UTC+2)
        before = next_occurrence(window(start="02:30"), utc(2026, 3, 21, 12, 0))
        after = next_occurrence(window(start="02:30"), utc(2026, 3, 29, 12, 0))
        assert before is not None
        assert after is not None
        assert (before.start, after.start) == (utc(2026, 3, 22, 1, 30), utc(2026, 4, 5, 0, 30))

    def test_fall_back_a_repeated_start_is_its_first_passing(self) -> None:
        """Paris, last Sunday of October 2026: 02:00-03:00 happens twice. A 02:30 start is
        the first one (CEST: 00:30 UTC); a 2h window ends 2 real hours later."""
        occurrence = next_occurrence(window(start="02:30"), utc(2026, 10, 24, 12, 0))
        assert occurrence is not None
        assert (occurrence.start, occurrence.end) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30))
        assert occurrence_at(window(start="02:30"), utc(2026, 10, 25, 2, 29)) == occurrence

    def test_daily_across_the_spring_change(self) -> None:
        """Daily 02:00 Paris: 01:00 UTC on Saturday, 01:00 UTC (the skipped hour, read at
        the winter offset) on Sunday, 00:00 UTC on Monday."""
        daily = window(days=tuple(range(7)), hours=1)
        starts = []
        at = utc(2026, 3, 27, 12, 0)
        for _ in range(3):
            occurrence = next_occurrence(daily, at)
            assert occurrence is not None
            starts.append(occurrence.start)
            at = occurrence.start
        assert starts == [utc(2026, 3, 28, 1, 0), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 0)]

    def test_a_window_past_midnight_is_in_force_the_next_day(self) -> None:
        """Saturday 23:00 Paris for 3h: still in force at Sunday 01:00 Paris."""
        late = window(days=(5,), start="23:00", hours=3)
        occurrence = occurrence_at(late, utc(2026, 6, 6, 23, 0))
        assert occurrence is not None
        assert occurrence.start == utc(2026, 6, 6, 21, 0)


class TestConfig:
    """Every mistake names its key path."""

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            pytest.param(
                'platforms = ["nope"]\nstart = "02:00"\nduration = "1h"',
                r"maintenance\[0\]\.platforms\[0\]: unknown platform or family 'nope'",
                id="unknown platform",
            ),
            pytest.param(
                'platforms = ["meta"]\ndays = ["sun", "sunday"]\nstart = "02:00"\nduration = "1h"',
                r"maintenance\[0\]\.days\[1\]: Input should be 'mon'",
                id="bad day",
            ),
            pytest.param(
                'platforms = ["meta"]\ndays = "weekly"\nstart = "02:00"\nduration = "1h"',
                r"maintenance\[0\]\.days: expected \"daily\" or a list of days",
                id="bad recurrence",
            ),
            pytest.param(
                'platforms = ["*"]\nstart = "24:00"\nduration = "1h"',
                r"maintenance\[0\]\.start: expected a time of day",
                id="bad time",
            ),
            pytest.param(
                'platforms = ["*"]\nstart = "02:00"\nduration = "0s"',
                r"maintenance\[0\]\.duration: Input should be greater than 0",
                id="zero duration",
            ),
            pytest.param(
                'platforms = ["*"]\nstart = "02:00"\nduration = "7d"',
                r"maintenance\[0\]\.duration: a maintenance window lasts less than 7 days",
                id="a week or more",
            ),
            pytest.param(
                'platforms = ["*"]\nstart = "02:00"\nduration = "1h"\ntimezone = "Mars/Base"',
                r"maintenance\[0\]\.timezone: unknown time zone",
                id="unknown zone",
            ),
        ],
    )
    def test_errors_name_the_key(self, tmp_path: Path, entry: str, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            make_config(tmp_path, extra=f'\n[[maintenance]]\nname = "w"\n{entry}\n')

    def test_a_window_takes_the_daemon_zone_unless_it_names_its_own(self, tmp_path: Path) -> None:
        extra = (
            '\n[[maintenance]]\nname = "a"\nplatforms = ["meta", "telegram"]\n'
            'start = "02:00"\nduration = "90m"\n'
        )
        text = platform_sections() + notify_sections(Servers()) + extra
        text = text.replace("[daemon]", f'[daemon]\ntimezone = "{PARIS}"', 1)
        config = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
        [parsed] = config.maintenance
        assert parsed.timezone == PARIS
        assert parsed.days == frozenset(range(7))
        assert (parsed.start, parsed.duration) == (clock_time(2, 0), timedelta(minutes=90))
        assert make_config(tmp_path).maintenance[0].timezone == "UTC"


class TestVerdict:
    """What a window does to a notice, decided from the incident and the time."""

    def test_held_during_the_window_quiet_when_it_came_and_went_inside(self, tmp_path: Path) -> None:
        config = make_config(tmp_path)
        during = T0 + timedelta(minutes=1)
        held = maintenance_verdict(config, telegram_incident(opened_at=T0), IncidentEvent.confirmed, during)
        assert isinstance(held, MaintenanceHold)
        assert held.occurrence.end == utc(2026, 10, 4, 17, 0)
        within = telegram_incident(opened_at=T0, resolved_at=T0 + timedelta(minutes=10))
        quiet = maintenance_verdict(config, within, IncidentEvent.resolved, utc(2026, 10, 4, 17, 1))
        assert isinstance(quiet, MaintenanceQuiet)
        assert quiet.detail.startswith("maintenance telegram-upgrade")
        # resolved after the window: told as usual once it ends
        after = telegram_incident(opened_at=T0, resolved_at=utc(2026, 10, 4, 17, 30))
        assert maintenance_verdict(config, after, IncidentEvent.resolved, utc(2026, 10, 4, 17, 31)) is None

    def test_other_platforms_and_manual_failovers_are_not_held(self, tmp_path: Path) -> None:
        config = make_config(tmp_path)
        during = T0 + timedelta(minutes=1)
        whatsapp = Incident(
            key="platform:whatsapp:x",
            scope=IncidentScope.platform,
            kind=IncidentKind.unreachable,
            name="whatsapp",
            platforms=("whatsapp",),
            opened_at=T0,
        )
        assert maintenance_verdict(config, whatsapp, IncidentEvent.confirmed, during) is None
        manual = telegram_incident(opened_at=T0)
        assert maintenance_verdict(config, manual, IncidentEvent.manual, during) is None


def queue(config: Config, store: Store, events: list[tuple[IncidentEvent, Incident]], *, at: datetime) -> int:
    [stored, *_] = store.record_decision(
        at=at, incident_events=events, notices=plan_notices(config, events, now=at)
    )
    assert stored.id is not None
    return stored.id


async def settle(pump: NoticePump, store: Store, incident_id: int) -> set[NoticeState]:
    """Delivery passes until no notice of the incident is pending or sending."""
    cap = time.monotonic() + 60.0
    while True:
        await pump.deliver_due()
        states = {n.state for n in store.notices(incident_id)}
        if not states & {NoticeState.pending, NoticeState.sending}:
            return states
        assert time.monotonic() < cap, f"notices still unsettled: {states}"
        await asyncio.sleep(0.05)


class TestOutbox:
    """Over SQLite and a real SMTP server; the pump runs on a clock the test moves."""

    async def test_held_during_the_window_then_sent_once_it_ends(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """A telegram outage confirmed at 15:40 (window 15:00-17:00): no mail while the
        window lasts, even after passes; its notices are due at 17:00 and go out then."""
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port))
        clock = FakeClock(T0)
        with open_store(config) as store:
            outage = telegram_incident(opened_at=T0)
            incident_id = queue(config, store, [(IncidentEvent.confirmed, outage)], at=T0)
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                clock.advance(60)
                await pump.deliver_due()
                clock.advance(3600)
                await pump.deliver_due()
                notices = store.notices(incident_id)
                assert sorted(n.contact_ref for n in notices) == ["alice", "bob"]
                assert {n.state for n in notices} == {NoticeState.pending}
                assert {n.next_attempt_at for n in notices} == {utc(2026, 10, 4, 17, 0)}
                assert {n.attempts for n in notices} == {0}
                assert smtp_sink.messages == []

                clock.now = utc(2026, 10, 4, 17, 0, 1)
                assert await settle(pump, store, incident_id) == {NoticeState.sent}
        mails = by_recipient(smtp_sink.messages)
        assert sorted(mails) == ["alice@example.org", "bob@example.org"]
        assert all(len(m) == 1 for m in mails.values())

    async def test_opened_and_resolved_within_the_window_tells_nobody(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """Outage at 15:40, recovery at 15:50, both inside the window: once it ends, both
        notices end silenced, naming the window, and no mail is sent. A manual failover
        during the window goes out at once."""
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port))
        clock = FakeClock(T0)
        with open_store(config) as store:
            outage = telegram_incident(opened_at=T0)
            incident_id = queue(config, store, [(IncidentEvent.confirmed, outage)], at=T0)
            async with NoticePump(config=config, store=store, clock=clock) as pump:
                clock.advance(60)
                await pump.deliver_due()
                resolved = telegram_incident(opened_at=T0, resolved_at=T0 + timedelta(minutes=10))
                clock.now = resolved.resolved_at or T0
                store.record_decision(
                    at=clock.now,
                    incident_updates=[resolved],
                    incident_events=[(IncidentEvent.resolved, resolved)],
                    notices=plan_notices(config, [(IncidentEvent.resolved, resolved)], now=clock.now),
                )
                clock.now = utc(2026, 10, 4, 17, 0, 1)
                assert await settle(pump, store, incident_id) == {NoticeState.silenced}
            notices = store.notices(incident_id)
            assert sorted((n.contact_ref, n.event) for n in notices) == [
                ("alice", IncidentEvent.confirmed),
                ("alice", IncidentEvent.resolved),
                ("bob", IncidentEvent.confirmed),
                ("bob", IncidentEvent.resolved),
            ]
            assert all((n.last_error or "").startswith("maintenance telegram-upgrade") for n in notices)
        assert smtp_sink.messages == []


class TestAroundTheWindow:
    """The health just before a window, compared with the health at its end."""

    def test_platforms_not_back_to_their_state_before(self, tmp_path: Path) -> None:
        extra = NIGHTLY.replace('platforms = ["telegram"]', 'platforms = ["*"]')
        config = make_config(tmp_path, extra=extra)
        watch = MaintenanceWatch()
        up = {"whatsapp": Health.up, "telegram": Health.up}
        assert watch.observe(config, utc(2026, 10, 4, 14, 59), up) == []
        assert watch.active(config, utc(2026, 10, 4, 15, 0)) == {"telegram-upgrade": True}
        assert (
            watch.observe(config, utc(2026, 10, 4, 15, 1), {"whatsapp": Health.down, "telegram": Health.down})
            == []
        )
        [ended] = watch.observe(
            config, utc(2026, 10, 4, 17, 1), {"whatsapp": Health.up, "telegram": Health.down}
        )
        assert ended.window == "telegram-upgrade"
        assert ended.started_at == utc(2026, 10, 4, 15, 0)
        assert ended.not_back == ["telegram"]
        assert ended.before == {"whatsapp": Health.up, "telegram": Health.up}
        assert watch.observe(config, utc(2026, 10, 4, 17, 2), up) == []  # reported once


class TestCommand:
    """``failover maintenance --json`` lists the windows and their next occurrence."""

    def test_json_lists_the_window(self, tmp_path: Path) -> None:
        config = tmp_path / "failover.toml"
        text = platform_sections() + notify_sections(Servers()) + NIGHTLY
        text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
        config.write_text(text)
        result = CliRunner().invoke(main, ["--config", str(config), "maintenance", "--json"])
        assert result.exit_code == 0, result.output
        [listed] = json.loads(result.output)
        assert listed["name"] == "telegram-upgrade"
        assert listed["platforms"] == ["telegram"]
        assert listed["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        assert (listed["start"], listed["duration_s"], listed["timezone"]) == ("15:00", 7200.0, "UTC")
        start = datetime.fromisoformat(listed["next"]["start"])
        assert (start.hour, start.minute) == (15, 0)
        assert datetime.fromisoformat(listed["next"]["end"]) - start == timedelta(hours=2)
