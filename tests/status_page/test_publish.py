"""Publishing the site: a directory written atomically that a static host can serve, what
the journal may show (a manual failover only once its hold has passed), and the daemon's
publisher, which serves and writes a new build when asked."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import structlog

from failover.config import Config
from failover.domain import (
    CheckKind,
    CheckRole,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    Observation,
    Outcome,
)
from failover.service._status_page import (
    MANIFEST,
    NotifierWording,
    ObservedDays,
    StatusPagePublisher,
    read_snapshot,
    write_site,
)
from failover.status_page import Site, days_observed
from failover.store import NoticeDraft, Store
from tests.kit import free_port
from tests.status_page.conftest import site_config

NOW = datetime(2021, 10, 4, 18, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestDirectory:
    def test_a_first_build_writes_every_file_readable_by_a_web_server(
        self, outage: Site, tmp_path: Path
    ) -> None:
        """The directory is created; every file is there with the build's bytes, readable by
        everyone (a web server under another user), whatever the daemon's umask."""
        target = tmp_path / "public" / "status"
        old_umask = os.umask(0o077)
        try:
            written = write_site(outage, target)
        finally:
            os.umask(old_umask)
        assert written == len(outage.files)
        for path, site_file in outage.files.items():
            assert (target / path).read_bytes() == site_file.content, path
            assert mode(target / path) == 0o644, path
        assert mode(target / "badges") == 0o755
        assert mode(target) == 0o755
        assert not list(target.rglob("*.tmp"))

    def test_an_unchanged_file_is_left_alone(self, outage: Site, recovered: Site, tmp_path: Path) -> None:
        """The same build again writes nothing (a sync tool sees no change); the next build
        replaces only what changed, each file by a rename (a new inode, never a file half
        written in place)."""
        write_site(outage, tmp_path)
        schema_inode = (tmp_path / "status.schema.json").stat().st_ino
        page_inode = (tmp_path / "index.html").stat().st_ino
        assert write_site(outage, tmp_path) == 0
        written = write_site(recovered, tmp_path)
        assert 0 < written < len(recovered.files)
        assert (tmp_path / "status.schema.json").stat().st_ino == schema_inode
        assert (tmp_path / "index.html").stat().st_ino != page_inode
        assert (tmp_path / "index.html").read_bytes() == recovered["index.html"].content

    def test_leftovers_of_an_earlier_build_go_and_nothing_else(self, outage: Site, tmp_path: Path) -> None:
        """A platform no longer configured loses its badges; a file the operator put there
        (robots.txt) stays; the manifest lists the build's files."""
        (tmp_path / "robots.txt").write_text("User-agent: *\n")
        write_site(outage, tmp_path)
        fewer = replace(outage, files={k: v for k, v in outage.files.items() if "whatsapp" not in k})
        write_site(fewer, tmp_path)
        assert not (tmp_path / "badges" / "whatsapp.svg").exists()
        assert (tmp_path / "badges" / "telegram.svg").exists()
        assert (tmp_path / "robots.txt").exists()
        assert sorted((tmp_path / MANIFEST).read_text().split()) == sorted(fewer.files)

    def test_a_manifest_cannot_remove_files_outside_the_directory(self, outage: Site, tmp_path: Path) -> None:
        """A manifest edited to name ../something removes nothing outside the directory."""
        site_dir = tmp_path / "site"
        outside = tmp_path / "precious.txt"
        outside.write_text("keep")
        site_dir.mkdir()
        (site_dir / MANIFEST).write_text("../precious.txt\n/etc/hostname\n")
        write_site(outage, site_dir)
        assert outside.read_text() == "keep"


def manual(key: str, *, opened: datetime, message: str) -> Incident:
    return Incident(
        key=key,
        scope=IncidentScope.custom,
        kind=IncidentKind.manual,
        name="website",
        platforms=(),
        opened_at=opened,
        message=message,
    )


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    with Store.open(config.daemon.database_url) as opened:
        opened.upgrade()
        opened.record_platforms(config.platforms, now=NOW - timedelta(days=10))
        yield opened


class TestWhatTheJournalMayShow:
    def test_a_manual_failover_is_public_once_its_hold_has_passed(self, store: Store, config: Config) -> None:
        """Held for ten minutes (it can still be cancelled, nobody has been told): not on
        the site; once the hold has passed: on it."""
        incident = manual("manual:held", opened=NOW, message="Maintenance du site")
        draft = NoticeDraft(
            incident_key=incident.key,
            event=IncidentEvent.manual,
            contact_ref="contacts[alice]",
            template="manual",
            not_before=NOW + timedelta(minutes=10),
        )
        store.record_decision(at=NOW, incident_events=[(IncidentEvent.manual, incident)], notices=[draft])
        during = read_snapshot(store, config, now=NOW + timedelta(minutes=5), state=None)
        after = read_snapshot(store, config, now=NOW + timedelta(minutes=11), state=None)
        assert [i.key for i in during.incidents] == []
        assert [i.key for i in after.incidents] == ["manual:held"]

    def test_a_manual_failover_cancelled_in_its_hold_is_never_shown(
        self, store: Store, config: Config
    ) -> None:
        """Cancelled before any notice went out: not on the site, then or later."""
        incident = manual("manual:cancelled", opened=NOW, message="Oups")
        draft = NoticeDraft(
            incident_key=incident.key,
            event=IncidentEvent.manual,
            contact_ref="contacts[alice]",
            template="manual",
            not_before=NOW + timedelta(minutes=10),
        )
        stored = store.record_decision(
            at=NOW, incident_events=[(IncidentEvent.manual, incident)], notices=[draft]
        )
        assert stored[0].id is not None
        store.cancel_notices(stored[0].id)
        store.record_decision(
            at=NOW, incident_updates=[replace(incident, resolved_at=NOW + timedelta(minutes=1))]
        )
        later = read_snapshot(store, config, now=NOW + timedelta(hours=1), state=None)
        assert later.incidents == []


def observe(store: Store, target: str, at: datetime) -> None:
    store.record_observations(
        [
            Observation(
                target=target,
                check="door",
                kind=CheckKind.tcp,
                role=CheckRole.front_door,
                outcome=Outcome.ok,
                at=at,
            )
        ]
    )


class TestWatchedDays:
    def test_the_hours_rolled_up_per_target(self, store: Store) -> None:
        """The store tells the hours each target was watched, from ``since`` on, once each
        (several checks in an hour are one hour)."""
        for hour in (1, 2, 2, 30):
            observe(store, "whatsapp", NOW - timedelta(hours=hour, minutes=-10))
        observe(store, "signal", NOW - timedelta(hours=2, minutes=-10))
        store.roll_up(NOW)
        hours = store.watched_hours(since=NOW - timedelta(hours=24))
        assert hours == {
            "whatsapp": {NOW - timedelta(hours=1), NOW - timedelta(hours=2)},
            "signal": {NOW - timedelta(hours=2)},
        }

    def test_the_spans_holding_a_watched_hour_per_target(self, store: Store) -> None:
        """The store tells, per target asked for, which spans between the edges hold a
        watched hour: an hour on an edge belongs to the span it begins; hours before the
        first edge or after the last, and targets not asked for, are left out."""
        edges = [NOW - timedelta(hours=h) for h in (48, 24, 12, 0)]
        for hours_ago in (60, 30, 24, 1):
            observe(store, "whatsapp", NOW - timedelta(hours=hours_ago, minutes=-10))
        observe(store, "signal", NOW - timedelta(hours=13, minutes=-10))
        observe(store, "telegram", NOW - timedelta(hours=13, minutes=-10))
        store.roll_up(NOW + timedelta(hours=1))
        observe(store, "whatsapp", NOW + timedelta(minutes=10))  # after the last edge
        store.roll_up(NOW + timedelta(hours=2))
        assert store.watched_spans({"whatsapp", "signal", "instagram"}, edges=edges) == {
            "whatsapp": {0, 1, 2},
            "signal": {1},
        }
        assert store.watched_spans({"whatsapp"}, edges=edges[:1]) == {}
        assert store.newest_watched_hour(since=edges[0]) == NOW
        assert store.newest_watched_hour(since=NOW + timedelta(hours=1)) is None

    @pytest.mark.parametrize("timezone", ["Europe/Paris", "Asia/Kathmandu", "UTC"])
    def test_the_days_read_are_those_of_the_hours_in_the_time_zone(self, store: Store, timezone: str) -> None:
        """Read in days, the watched days are exactly the days (in the zone) of the watched
        hours, across a change of summer time and at a first build as at the next ones."""
        now = datetime(2021, 11, 2, 18, 0, tzinfo=UTC)
        since = datetime(2021, 10, 25, 22, 0, tzinfo=UTC)
        hours = [*range(0, 24 * 8, 5), 171, 172, 173]
        for hour in hours:
            observe(store, "whatsapp", since + timedelta(hours=hour, minutes=15))
        observe(store, "signal", since + timedelta(hours=140, minutes=15))
        store.roll_up(now - timedelta(hours=12))
        observed = ObservedDays()
        observed.refresh(store, since=since, timezone=timezone, targets=["whatsapp", "signal"])
        zone = ZoneInfo(timezone)
        assert observed.days == days_observed(store.watched_hours(since=since), zone=zone)
        observe(store, "whatsapp", now - timedelta(hours=2))
        store.roll_up(now)
        observed.refresh(store, since=since, timezone=timezone, targets=["whatsapp", "signal"])
        assert observed.days == days_observed(store.watched_hours(since=since), zone=zone)
        assert observed.read_until == now - timedelta(hours=1)

    def test_the_daemon_reads_only_the_hours_rolled_up_since_its_last_build(
        self, store: Store, config: Config
    ) -> None:
        """A first build reads the window; the next ones, only what was rolled up since,
        and the hours after the newest rollup count as watched (not rolled up yet)."""
        observe(store, "whatsapp", NOW - timedelta(days=3))
        store.roll_up(NOW - timedelta(days=2))
        observed = ObservedDays()
        first = read_snapshot(store, config, now=NOW, state=None, observed=observed)
        assert first.observed_days["whatsapp"] == {(NOW - timedelta(days=3)).date()}
        assert first.watched_from == NOW.replace(minute=0) - timedelta(days=3) + timedelta(hours=1)
        observe(store, "whatsapp", NOW - timedelta(days=1))
        store.roll_up(NOW)
        later = read_snapshot(store, config, now=NOW, state=None, observed=observed)
        assert later.observed_days["whatsapp"] == {(NOW - timedelta(days=d)).date() for d in (1, 3)}
        assert later.watched_from == NOW - timedelta(days=1) + timedelta(hours=1)


class TestPublisher:
    """The daemon's publisher, over a real store, a real directory and a real listener."""

    @pytest.mark.slow
    async def test_serves_and_writes_a_new_build_when_asked(self, tmp_path: Path) -> None:
        """At start it builds, serves and writes; after an incident is recorded and
        publish_soon() is called, the listener and the directory both say so."""
        port = free_port()
        directory = tmp_path / "public"
        config = site_config(
            tmp_path,
            status_page=f'listen = "127.0.0.1:{port}"\ndirectory = "{directory}"\npublish_every = "10m"',
        )
        clock = Clock(NOW)
        with Store.open(config.daemon.database_url) as store:
            store.upgrade()
            publisher = StatusPagePublisher(
                config=lambda: config, store=store, state=lambda: None, clock=clock
            )
            async with (
                publisher,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
            ):
                first = (await client.get("/status.json")).json()
                assert first["incidents"] == []
                assert json.loads((directory / "status.json").read_text())["incidents"] == []

                incident = manual("manual:now", opened=NOW, message="Le site est en maintenance.")
                store.record_decision(at=NOW, incident_events=[(IncidentEvent.manual, incident)])
                clock.now = NOW + timedelta(minutes=1)
                publisher.publish_soon()

                async with asyncio.timeout(20):
                    # polling the listener until it serves the new build
                    while not (await client.get("/status.json")).json()["incidents"]:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    # the directory is written right after the listener has the build
                    while not json.loads((directory / "status.json").read_text())["incidents"]:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                on_disk = json.loads((directory / "status.json").read_text())
                assert on_disk["incidents"][0]["name"] == "website"
                page = (await client.get("/", headers={"Accept-Language": "fr"})).text
                assert "Le site est en maintenance." in page

    async def test_a_directory_it_cannot_write_leaves_the_listener_serving(self, tmp_path: Path) -> None:
        """The directory is a file: the failure is logged (status_page_not_written), and the
        listener still serves the new build."""
        port = free_port()
        blocked = tmp_path / "not-a-directory"
        blocked.write_text("")
        config = site_config(tmp_path, status_page=f'listen = "127.0.0.1:{port}"\ndirectory = "{blocked}"')
        with Store.open(config.daemon.database_url) as store:
            store.upgrade()
            publisher = StatusPagePublisher(
                config=lambda: config, store=store, state=lambda: None, clock=Clock(NOW)
            )
            with structlog.testing.capture_logs() as logs:
                async with (
                    publisher,
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
                ):
                    assert (await client.get("/status.json")).status_code == 200
        assert [entry["event"] for entry in logs if entry["log_level"] == "warning"] == [
            "status_page_not_written"
        ]

    @pytest.mark.slow
    async def test_a_build_that_fails_leaves_the_last_one_served(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A build that breaks (here: the public texts) is logged, and the listener keeps
        serving the last good build; the publisher goes on."""
        port = free_port()
        config = site_config(tmp_path, status_page=f'listen = "127.0.0.1:{port}"')
        with Store.open(config.daemon.database_url) as store:
            store.upgrade()
            publisher = publisher_for(config, store, Clock(NOW))
            async with publisher, client_for(port) as client:
                good = (await client.get("/status.json")).content

                def broken(*args: object, **kwargs: object) -> None:
                    raise RuntimeError("template exploded")

                monkeypatch.setattr(NotifierWording, "incident_text", broken)
                incident = manual("manual:now", opened=NOW, message="Maintenance")
                store.record_decision(at=NOW, incident_events=[(IncidentEvent.manual, incident)])
                with structlog.testing.capture_logs() as logs:
                    assert await publisher.publish() is None
                assert [entry["event"] for entry in logs] == ["status_page_not_built"]
                assert (await client.get("/status.json")).content == good
                monkeypatch.undo()
                assert await publisher.publish() is not None
                assert (await client.get("/status.json")).json()["incidents"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def publisher_for(config: Config, store: Store, clock: Clock) -> StatusPagePublisher:
    return StatusPagePublisher(config=lambda: config, store=store, state=lambda: None, clock=clock)


def client_for(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
