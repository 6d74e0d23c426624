"""The notice pump feeds the metrics: every notice's end by channel scheme and outcome,
and a delivered notice's latency from its incident event. Over the real loopback SMTP
sink and fake Signal API, on SQLite."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from failover.config import parse_config
from failover.metrics import Metrics
from failover.service import NoticePump, open_store
from tests.kit import FakeMastodon, FakeSignal, SmtpSink
from tests.service.test_notices import (
    Servers,
    deliver_until_settled,
    incident,
    make_config,
    notify_sections,
    now,
    platform_sections,
    queue_outage,
)


def metered() -> tuple[CollectorRegistry, Metrics]:
    registry = CollectorRegistry()
    return registry, Metrics(registry, version="0.0.0-test")


def notices(registry: CollectorRegistry, channel: str, outcome: str) -> float | None:
    return registry.get_sample_value("failover_notices_total", {"channel": channel, "outcome": outcome})


def latency(registry: CollectorRegistry, suffix: str, le: str | None = None) -> float | None:
    labels = {} if le is None else {"le": le}
    return registry.get_sample_value(f"failover_notice_latency_seconds_{suffix}", labels)


@pytest.mark.slow
class TestNoticeMetrics:
    async def test_channels_start_at_zero_for_every_outcome(self, tmp_path: Path) -> None:
        """Every configured scheme has its four outcomes at zero before any notice."""
        registry, metrics = metered()
        config = make_config(tmp_path)
        with open_store(config) as store:
            NoticePump(config=config, store=store, clock=now, metrics=metrics)
        for scheme in ("mailto", "signal", "json", "mastodon"):
            for outcome in ("sent", "failed", "skipped", "silenced"):
                assert notices(registry, scheme, outcome) == 0.0, (scheme, outcome)

    async def test_sent_notices_count_by_the_scheme_used_with_their_latency(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal, fake_mastodon: FakeMastodon
    ) -> None:
        """carol's Signal fails twice, then e-mail delivers: her notice counts once, as a
        mailto send. Each latency runs from the incident's confirmation, 7 s ago."""
        registry, metrics = metered()
        config = make_config(
            tmp_path, Servers(smtp=smtp_sink.port, signal=fake_signal.port, mastodon=fake_mastodon.port)
        )
        fake_signal.set_status(500)
        confirmed = now() - timedelta(seconds=7)
        the_incident = replace(incident(), opened_at=confirmed - timedelta(seconds=5), confirmed_at=confirmed)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now(), the_incident=the_incident)
            async with NoticePump(config=config, store=store, clock=now, metrics=metrics) as pump:
                await deliver_until_settled(pump, store, incident_id)
        # alice, bob, carol (after Signal failed), dave (his WhatsApp bridge is down): e-mail
        assert notices(registry, "mailto", "sent") == 4
        assert notices(registry, "mastodon", "sent") == 1
        assert notices(registry, "signal", "sent") == 0
        assert notices(registry, "signal", "failed") == 0  # a failed attempt is not an end
        assert latency(registry, "count") == 5
        assert latency(registry, "bucket", "5.0") == 0  # none below the 7 s since confirmation
        assert latency(registry, "bucket", "10.0") == 5
        total = latency(registry, "sum")
        assert total is not None
        assert 5 * 7.0 <= total < 5 * 10.0

    async def test_failed_notices_count_against_the_last_channel_tried(
        self, tmp_path: Path, smtp_sink: SmtpSink, fake_signal: FakeSignal
    ) -> None:
        registry, metrics = metered()
        config = make_config(tmp_path, Servers(smtp=smtp_sink.port, signal=fake_signal.port))
        fake_signal.set_status(500)
        smtp_sink.fail_with(550)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now, metrics=metrics) as pump:
                await deliver_until_settled(pump, store, incident_id)
        assert notices(registry, "mailto", "failed") == 4  # carol's went Signal, then e-mail
        assert notices(registry, "signal", "failed") == 0
        assert notices(registry, "mastodon", "failed") == 1  # nothing listens on its port
        assert notices(registry, "mailto", "sent") == 0
        assert latency(registry, "count") == 0

    async def test_dry_run_and_silences_count_as_silenced(self, tmp_path: Path) -> None:
        """A dry run sends nothing on purpose: silenced, under the channel it would use;
        notices held by a silence are silenced too; nothing has a latency."""
        registry, metrics = metered()
        config = make_config(tmp_path, dry_run=True)
        start = now()
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=start)
            async with NoticePump(config=config, store=store, clock=now, metrics=metrics) as pump:
                await deliver_until_settled(pump, store, incident_id)
            assert notices(registry, "mailto", "silenced") == 3  # alice, bob, dave (bridge down)
            assert notices(registry, "signal", "silenced") == 1  # carol
            assert notices(registry, "mastodon", "silenced") == 1
            assert notices(registry, "mailto", "skipped") == 0

            other = incident(platforms=("telegram",), name="telegram")
            other_id = queue_outage(config, store, at=start, the_incident=other)
            store.add_silence(name="*", until=start + timedelta(hours=1), reason="", now=start)
            async with NoticePump(config=config, store=store, clock=now, metrics=metrics) as pump:
                await deliver_until_settled(pump, store, other_id)
        # telegram's route reaches the team only: alice and bob, held at claim time
        assert notices(registry, "mailto", "silenced") == 5
        assert latency(registry, "count") == 0

    async def test_no_eligible_channel_counts_as_skipped(self, tmp_path: Path) -> None:
        """dave's only channel needs WhatsApp, which is down: skipped under its scheme,
        before the dry run is even considered."""
        registry, metrics = metered()
        text = platform_sections() + notify_sections(Servers(), dry_run=True)
        text = text.replace('  { email = "dave@example.org" },\n', "")
        text = text.replace("[daemon]", f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/failover.db"', 1)
        config = parse_config(text, source="failover.toml", env={}, cwd=tmp_path)
        with open_store(config) as store:
            incident_id = queue_outage(config, store, at=now())
            async with NoticePump(config=config, store=store, clock=now, metrics=metrics) as pump:
                await deliver_until_settled(pump, store, incident_id)
        assert notices(registry, "json", "skipped") == 1
        assert notices(registry, "json", "silenced") == 0
        assert notices(registry, "mailto", "silenced") == 2  # alice and bob
