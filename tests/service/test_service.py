"""The round path (probe → judge → record) against the loopback test kit, and what
survives a restart of the process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from failover.config import Config, load_config
from failover.domain import Health, Incident, IncidentEvent, IncidentKind, IncidentScope
from failover.probes import Prober
from failover.service import Watcher, open_store, status_report
from failover.store import Store
from tests.kit import (
    DnsServer,
    FakeClock,
    HttpTarget,
    come_back,
    go_dark,
    healthy,
    tcp_controls,
    whatsapp_platform,
)


def write_config(tmp_path: Path, *, dns: DnsServer, front_door: HttpTarget, control: HttpTarget) -> Path:
    """whatsapp with authoritative DNS, resolver DNS and an HTTP front door; three controls."""
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[probes]
resolvers = ["{dns.endpoint}"]

[detection]
confirm_after = ["2s", "5s"]
recover_after = 2
"""
        + whatsapp_platform(dns=dns.endpoint, front_door=front_door.url)
        + tcp_controls(control.port)
    )
    return path


@pytest.fixture
def world(
    dns_server: DnsServer, http_target: HttpTarget
) -> Iterator[tuple[DnsServer, HttpTarget, HttpTarget]]:
    """A healthy whatsapp and a healthy control target."""
    healthy(dns_server)
    with HttpTarget() as control:
        yield dns_server, http_target, control


def watcher_for(config: Config, clock: FakeClock, prober: Prober) -> tuple[Watcher, Store]:
    store = open_store(config)
    return Watcher(config=config, store=store, prober=prober, clock=clock), store


class TestRounds:
    """One function runs a round; the judge's decisions land in the store."""

    async def test_outage_confirmed_by_reprobes_then_resolved_after_a_restart(
        self, tmp_path: Path, world: tuple[DnsServer, HttpTarget, HttpTarget]
    ) -> None:
        """A dark platform is confirmed by the re-probes the judge asks for; the incident
        survives a restart, and recovery after the restart resolves it."""
        dns, front_door, control = world
        config = load_config(write_config(tmp_path, dns=dns, front_door=front_door, control=control), env={})
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            watcher, store = watcher_for(config, clock, prober)
            first = await watcher.run_round()
            assert first.connectivity.ok is True
            assert not first.incident_events

            go_dark(dns, front_door)
            clock.advance(30)
            suspect = await watcher.run_round()
            assert not suspect.incident_events
            assert [(r.platform, r.delay_s) for r in suspect.reprobe] == [
                ("whatsapp", 2.0),
                ("whatsapp", 5.0),
            ]
            decisions = []
            elapsed = 0.0
            for reprobe in suspect.reprobe:
                clock.advance(reprobe.delay_s - elapsed)
                elapsed = reprobe.delay_s
                decisions.append(await watcher.run_round(only={reprobe.platform}))
            confirmed = [c for d in decisions for c in d.incident_events]
            assert [c.event for c in confirmed] == [IncidentEvent.confirmed]
            open_incidents = store.open_incidents()
            assert [i.platforms for i in open_incidents] == [("whatsapp",)]
            assert open_incidents[0].confirmed_at == clock.now
            store.close()

        # the process restarts: a new prober, a new store handle, the same database
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            restarted, store = watcher_for(config, clock, prober)
            assert [i.key for i in store.open_incidents()] == [open_incidents[0].key]
            come_back(dns, front_door)
            events = []
            for _ in range(config.detection.recover_after):
                clock.advance(30)
                events += (await restarted.run_round()).incident_events
            assert [e.event for e in events] == [IncidentEvent.resolved]
            assert store.open_incidents() == []
            resolved = store.incident(open_incidents[0].key)
            assert resolved is not None
            assert resolved.resolved_at == clock.now
            observations = store.observations(since=clock.now - timedelta(hours=1))
            assert len(observations) >= 6 * 6
            store.close()

        report = status_report(config)
        assert report.judged
        assert [(p.platform, p.health) for p in report.platforms] == [("whatsapp", Health.up)]

    async def test_lost_connectivity_opens_nothing_and_is_recorded(
        self, tmp_path: Path, world: tuple[DnsServer, HttpTarget, HttpTarget]
    ) -> None:
        """When our own controls fail, the platform is unknown and the store keeps a
        'connectivity lost' record instead of an incident."""
        dns, front_door, control = world
        config = load_config(write_config(tmp_path, dns=dns, front_door=front_door, control=control), env={})
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            watcher, store = watcher_for(config, clock, prober)
            await watcher.run_round()
            go_dark(dns, front_door)
            control.stop()
            with structlog.testing.capture_logs() as logs:
                clock.advance(5)
                await watcher.run_round()
            lost = [entry for entry in logs if entry["event"] == "connectivity_lost"]
            assert [(e["log_level"], e["controls_passing"], e["controls_total"]) for e in lost] == [
                ("warning", 0, 3)
            ]
            for _ in range(3):
                clock.advance(5)
                decision = await watcher.run_round()
                assert decision.connectivity.ok is False
                assert not decision.incident_events
                assert not decision.reprobe
            assert store.open_incidents() == []
            assert [e.kind.value for e in store.connectivity_events()] == ["lost"]
            store.close()
        report = status_report(config)
        assert report.connectivity_lost_since is not None
        assert report.platforms[0].health is Health.unknown

    async def test_a_round_without_controls_is_confirmed_only_with_them(
        self, tmp_path: Path, world: tuple[DnsServer, HttpTarget, HttpTarget]
    ) -> None:
        """A scheduled round of one platform leaves the controls to their own job; if our
        uplink died meanwhile, the re-probes (which check the controls) see it and nothing
        opens."""
        dns, front_door, control = world
        config = load_config(write_config(tmp_path, dns=dns, front_door=front_door, control=control), env={})
        clock = FakeClock()
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            watcher, store = watcher_for(config, clock, prober)
            await watcher.run_round()
            go_dark(dns, front_door)
            control.stop()
            clock.advance(30)
            suspect = await watcher.run_round({"whatsapp"}, with_controls=False)
            assert suspect.connectivity.ok is True  # the last connectivity seen
            assert suspect.reprobe
            recorded = store.observations(since=clock.now - timedelta(seconds=1))
            assert {o.target for o in recorded} == {"whatsapp"}
            for reprobe in suspect.reprobe:
                clock.advance(reprobe.delay_s)
                decision = await watcher.run_round({reprobe.platform})
                assert decision.connectivity.ok is False
                assert not decision.incident_events
            assert store.open_incidents() == []
            store.close()


class TestAlreadyTold:
    """An operator's trigger or an alert told people first: the judge's confirmation of
    the same outage sends nothing more; its recovery is still told."""

    async def test_a_manual_incident_covering_the_platform_silences_the_judges_outage_notice(
        self, tmp_path: Path, world: tuple[DnsServer, HttpTarget, HttpTarget]
    ) -> None:
        dns, front_door, control = world
        path = write_config(tmp_path, dns=dns, front_door=front_door, control=control)
        path.write_text(
            path.read_text()
            + """
[groups.team]
description = "everyone"

[[contacts]]
name = "Alice"
id = "alice"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:9?from=failover@example.org&to=alice@example.org"

[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
"""
        )
        config = load_config(path, env={})
        clock = FakeClock()
        manual = Incident(
            key="manual:whatsapp:20211004T153000Z",
            scope=IncidentScope.platform,
            kind=IncidentKind.manual,
            name="whatsapp",
            platforms=("whatsapp",),
            opened_at=clock.now - timedelta(minutes=10),
            message="WhatsApp is down, write to us by e-mail",
        )
        async with Prober(user_agent="failover-test", clock=clock) as prober:
            watcher, store = watcher_for(config, clock, prober)
            (stored,) = store.record_decision(at=clock.now, incident_events=[(IncidentEvent.manual, manual)])
            await watcher.run_round()
            go_dark(dns, front_door)
            clock.advance(30)
            suspect = await watcher.run_round()
            for reprobe in suspect.reprobe:
                clock.advance(reprobe.delay_s)
                await watcher.run_round(only={reprobe.platform})
            judged = [i for i in store.open_incidents() if i.kind is not IncidentKind.manual]
            assert [i.platforms for i in judged] == [("whatsapp",)]
            assert judged[0].id is not None
            assert store.notices(judged[0].id) == []  # nobody told twice
            noted = store.incident(stored.key)
            assert noted is not None
            assert any(line.startswith("note: the judge confirmed") for line in noted.evidence)

            come_back(dns, front_door)
            for _ in range(config.detection.recover_after):
                clock.advance(30)
                await watcher.run_round()
            recovery = store.notices(judged[0].id)
            assert [(n.event, n.contact_ref) for n in recovery] == [(IncidentEvent.resolved, "alice")]
            store.close()
