"""Metrics: each fact moves its series, in an injected registry, with bounded labels."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from failover.domain import (
    CONTROL_FAMILY,
    CheckKind,
    CheckRole,
    DnsCheck,
    DnsVia,
    Health,
    HttpCheck,
    Incident,
    IncidentKind,
    IncidentScope,
    Observation,
    Outcome,
    Platform,
    StatusCheck,
    StatusFormat,
    TcpCheck,
    TlsCheck,
)
from failover.metrics import NOTICE_BUCKETS, PROBE_BUCKETS, AlertIgnored, Metrics, NoticeOutcome, render

AT = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)

FACEBOOK = Platform(
    name="facebook",
    display_name="Facebook",
    family="meta",
    checks=(
        DnsCheck(name="dns-auth", qname="facebook.com", via=DnsVia.authoritative),
        HttpCheck(name="https", url="https://www.facebook.com/"),
        StatusCheck(name="status", url="https://metastatus.com/data/orgs.json", format=StatusFormat.meta),
    ),
)
WHATSAPP = Platform(
    name="whatsapp",
    display_name="WhatsApp",
    family="meta",
    checks=(TlsCheck(name="tls", host="web.whatsapp.com"), HttpCheck(name="http", url="http://wa.me/")),
)
TELEGRAM = Platform(
    name="telegram",
    display_name="Telegram",
    family=None,
    checks=(TcpCheck(name="tcp", host="149.154.167.50", port=443),),
)
CLOUDFLARE = Platform(
    name="cloudflare",
    display_name="Cloudflare",
    family=CONTROL_FAMILY,
    checks=(HttpCheck(name="https", url="https://1.1.1.1/"),),
)
PLATFORMS = (FACEBOOK, WHATSAPP, TELEGRAM, CLOUDFLARE)


def observation(
    *,
    target: str = "facebook",
    check: str = "https",
    kind: CheckKind = CheckKind.http,
    outcome: Outcome = Outcome.ok,
    at: datetime = AT,
    latency_s: float | None = 0.2,
    detail: str = "",
    phases: dict[str, float] | None = None,
    cert_days_left: float | None = None,
) -> Observation:
    return Observation(
        target=target,
        check=check,
        kind=kind,
        role=CheckRole.front_door,
        outcome=outcome,
        at=at,
        latency_s=latency_s,
        detail=detail,
        phases=phases or {},
        cert_days_left=cert_days_left,
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, version="1.2.3")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def label_values(registry: CollectorRegistry) -> Iterator[tuple[str, str, str]]:
    """(series, label, value) for every sample in the registry."""
    for family in registry.collect():
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                yield sample.name, label, label_value


def exercised_registry() -> CollectorRegistry:
    """A registry after a realistic stretch: a Meta outage seen, judged, notified, resolved.

    Used here for ``promtool check metrics`` and by the Prometheus file tests to know which
    series exist.
    """
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.init_platforms(PLATFORMS)
    metrics.init_channels(["mailtos", "signal", "tgram", "mastodons"])
    for minute in range(10):
        at = AT + timedelta(minutes=minute)
        failing = 3 <= minute < 7
        metrics.observe_all(
            [
                observation(
                    check="dns-auth",
                    kind=CheckKind.dns,
                    at=at,
                    latency_s=3.0 if failing else 0.012,
                    outcome=Outcome.dns_servfail if failing else Outcome.ok,
                    detail="SERVFAIL from a.ns.facebook.com (129.134.30.12)" if failing else "",
                ),
                observation(
                    at=at,
                    latency_s=10.0 if failing else 0.31,
                    outcome=Outcome.http_timeout if failing else Outcome.ok,
                    phases={}
                    if failing
                    else {"connect": 0.021, "tls": 0.064, "first_byte": 0.2, "total": 0.31},
                    cert_days_left=None if failing else 41.5,
                ),
                observation(
                    target="whatsapp",
                    check="tls",
                    kind=CheckKind.tls,
                    at=at,
                    latency_s=0.09,
                    phases={"connect": 0.02, "tls": 0.07},
                    cert_days_left=12.25,
                ),
                observation(target="telegram", check="tcp", kind=CheckKind.tcp, at=at, latency_s=0.03),
                observation(target="cloudflare", at=at, latency_s=0.05),
            ]
        )
        metrics.connectivity(ok=True)
        for platform in ("facebook", "whatsapp"):
            metrics.platform_health(platform, Health.down if failing else Health.up, flapping=False)
        metrics.platform_health(
            "telegram", Health.degraded if minute == 5 else Health.up, flapping=minute == 5
        )
        metrics.round_completed(1.4 if failing else 0.35, at.timestamp())
    metrics.incident_opened(IncidentScope.family, IncidentKind.unreachable)
    metrics.open_incidents({"facebook": 1, "whatsapp": 1})
    for outcome, latency in [("sent", 2.1), ("sent", 3.4), ("failed", 0.0), ("skipped", 0.0)]:
        metrics.notice("mailtos", outcome)
        if outcome == "sent":
            metrics.notice_latency(latency)
    metrics.notice("signal", NoticeOutcome.silenced)
    metrics.outbox_pending(3)
    metrics.open_incidents({})
    metrics.outbox_pending(0)
    return registry


def promtool_or_skip() -> str:
    """Debian's promtool; on CI (``CI=true``) its absence fails the test, elsewhere skips it."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required on CI (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return path


class TestDeclaration:
    """Every series is declared once, in the injected registry, with the failover_ prefix."""

    def test_every_series_is_prefixed_and_in_the_given_registry(self, registry: CollectorRegistry) -> None:
        """Ours carry the failover_ prefix; beside them only the runtime's own collectors."""
        Metrics(registry)
        names = {family.name for family in registry.collect()}
        ours = {name for name in names if name.startswith("failover_")}
        assert ours
        assert {name for name in names - ours if not name.startswith("process_")} == {"python_info"}
        assert not any(family.name.startswith("failover_") for family in REGISTRY.collect())

    def test_the_process_and_platform_collectors_are_registered(self, registry: CollectorRegistry) -> None:
        """Resident memory (BENCHMARKS.md's budget), CPU time and the interpreter, from /proc."""
        Metrics(registry)
        resident = value(registry, "process_resident_memory_bytes")
        assert resident is not None
        assert resident > 1024 * 1024
        assert value(registry, "process_cpu_seconds_total") is not None
        assert value(registry, "process_open_fds") is not None
        infos = [s for f in registry.collect() if f.name == "python_info" for s in f.samples]
        assert [s.labels["version"] for s in infos] == [".".join(map(str, sys.version_info[:3]))]

    def test_no_series_has_a_created_twin(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        """Counters and histograms expose no ``*_created`` series, in either format."""
        metrics.init_platforms(PLATFORMS)
        metrics.init_channels(["mailtos"])
        metrics.incident_opened(IncidentScope.platform, IncidentKind.unreachable)
        metrics.notice_latency(1.0)
        assert not [s.name for f in registry.collect() for s in f.samples if s.name.endswith("_created")]
        assert b"_created" not in render(registry)
        assert b"_created" not in openmetrics_latest(registry)

    def test_two_instances_on_two_registries_do_not_collide(self) -> None:
        first, second = CollectorRegistry(), CollectorRegistry()
        Metrics(first).outbox_pending(4)
        Metrics(second)
        assert value(first, "failover_outbox_pending") == 4
        assert value(second, "failover_outbox_pending") == 0

    def test_a_second_instance_on_one_registry_is_refused(self, registry: CollectorRegistry) -> None:
        Metrics(registry)
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            Metrics(registry)

    def test_build_info_names_the_version_and_python(self, registry: CollectorRegistry) -> None:
        Metrics(registry, version="1.2.3")
        samples = [s for f in registry.collect() if f.name == "failover_build_info" for s in f.samples]
        assert len(samples) == 1
        assert samples[0].value == 1
        assert samples[0].labels["version"] == "1.2.3"
        assert re.fullmatch(r"3\.\d+\.\d+", samples[0].labels["python"])

    def test_build_info_defaults_to_the_installed_version(self, registry: CollectorRegistry) -> None:
        from failover import __version__

        Metrics(registry)
        samples = [s for f in registry.collect() if f.name == "failover_build_info" for s in f.samples]
        assert samples[0].labels["version"] == __version__

    def test_every_incident_scope_and_kind_exists_at_zero(self, registry: CollectorRegistry) -> None:
        Metrics(registry)
        for scope in IncidentScope:
            for kind in IncidentKind:
                assert value(registry, "failover_incidents_total", scope=scope, kind=kind) == 0

    def test_render_is_the_text_exposition_format(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.outbox_pending(7)
        text = render(registry).decode()
        assert "# TYPE failover_outbox_pending gauge" in text
        assert "failover_outbox_pending 7.0" in text.splitlines()


class TestInitPlatforms:
    """Known series exist at zero before any event, so rate() and absent() behave."""

    def test_platform_series_exist_at_zero_with_their_family(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.init_platforms(PLATFORMS)
        assert value(registry, "failover_platform_up", platform="facebook", family="meta") == 0
        assert value(registry, "failover_platform_up", platform="telegram", family="") == 0
        for health in Health:
            assert (
                value(registry, "failover_platform_state", platform="whatsapp", family="meta", state=health)
                == 0
            )
        assert value(registry, "failover_incident_open", platform="telegram") == 0
        assert value(registry, "failover_platform_flapping", platform="facebook") == 0
        assert value(registry, "failover_last_success_timestamp_seconds", platform="telegram") == 0

    def test_a_control_gets_probe_series_but_no_platform_state(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.init_platforms([CLOUDFLARE])
        labels = {"platform": "cloudflare", "check": "https"}
        assert value(registry, "failover_probe_results_total", outcome="ok", **labels) == 0
        assert value(registry, "failover_last_success_timestamp_seconds", platform="cloudflare") == 0
        assert not [v for name, _, v in label_values(registry) if name.startswith("failover_platform_")]
        assert value(registry, "failover_incident_open", platform="cloudflare") is None

    def test_each_check_gets_the_outcomes_its_kind_produces(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.init_platforms(PLATFORMS)
        dns = {"platform": "facebook", "check": "dns-auth"}
        assert value(registry, "failover_probe_results_total", outcome="dns_servfail", **dns) == 0
        assert value(registry, "failover_probe_results_total", outcome="ok", **dns) == 0
        assert value(registry, "failover_probe_results_total", outcome="http_status", **dns) is None
        status = {"platform": "facebook", "check": "status"}
        assert value(registry, "failover_probe_results_total", outcome="status_major", **status) == 0
        assert value(registry, "failover_probe_duration_seconds_count", kind="statuspage", **status) == 0

    @pytest.mark.parametrize(
        ("platform", "check", "phases"),
        [
            ("facebook", "https", {"connect", "tls", "first_byte"}),
            ("whatsapp", "http", {"connect", "first_byte"}),
            ("whatsapp", "tls", {"connect", "tls"}),
            ("telegram", "tcp", {"connect"}),
            ("facebook", "dns-auth", set()),
        ],
    )
    def test_each_check_gets_the_phases_its_kind_measures(
        self, metrics: Metrics, registry: CollectorRegistry, platform: str, check: str, phases: set[str]
    ) -> None:
        metrics.init_platforms(PLATFORMS)
        present = {
            phase
            for phase in ("connect", "tls", "first_byte")
            if value(
                registry, "failover_probe_phase_seconds_count", platform=platform, check=check, phase=phase
            )
            == 0
        }
        assert present == phases

    def test_a_bare_name_is_a_platform_without_family(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.init_platforms(["signal"])
        assert value(registry, "failover_platform_up", platform="signal", family="") == 0

    def test_channels_get_every_notice_outcome(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.init_channels(["mailtos", "SIGNAL"])
        for channel in ("mailtos", "signal"):
            for outcome in NoticeOutcome:
                assert value(registry, "failover_notices_total", channel=channel, outcome=outcome) == 0


class TestObserve:
    """observe() counts the outcome, the duration and phases, the last success and the certificate."""

    def test_counts_the_outcome(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.observe(observation(outcome=Outcome.http_status))
        metrics.observe(observation(outcome=Outcome.http_status))
        metrics.observe(observation())
        labels = {"platform": "facebook", "check": "https"}
        assert value(registry, "failover_probe_results_total", outcome="http_status", **labels) == 2
        assert value(registry, "failover_probe_results_total", outcome="ok", **labels) == 1

    def test_records_the_duration_in_seconds(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.observe(observation(latency_s=0.004))
        metrics.observe(observation(latency_s=0.7))
        labels = {"platform": "facebook", "check": "https", "kind": "http"}
        assert value(registry, "failover_probe_duration_seconds_count", **labels) == 2
        assert value(registry, "failover_probe_duration_seconds_sum", **labels) == pytest.approx(0.704)
        assert value(registry, "failover_probe_duration_seconds_bucket", le="0.005", **labels) == 1
        assert value(registry, "failover_probe_duration_seconds_bucket", le="1.0", **labels) == 2

    def test_without_latency_only_the_outcome_counts(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.observe(observation(latency_s=None, outcome=Outcome.parse_error))
        labels = {"platform": "facebook", "check": "https"}
        assert value(registry, "failover_probe_results_total", outcome="parse_error", **labels) == 1
        assert value(registry, "failover_probe_duration_seconds_count", kind="http", **labels) == 0

    def test_records_the_three_phases_and_nothing_else(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.observe(
            observation(phases={"connect": 0.01, "tls": 0.03, "first_byte": 0.12, "total": 0.2, "dns": 0.001})
        )
        labels = {"platform": "facebook", "check": "https"}
        for phase, seconds in {"connect": 0.01, "tls": 0.03, "first_byte": 0.12}.items():
            assert value(registry, "failover_probe_phase_seconds_sum", phase=phase, **labels) == seconds
        for phase in ("total", "dns"):
            assert value(registry, "failover_probe_phase_seconds_count", phase=phase, **labels) is None

    def test_last_success_moves_only_on_success(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.observe(observation())
        metrics.observe(observation(at=AT + timedelta(minutes=1), outcome=Outcome.http_timeout))
        assert (
            value(registry, "failover_last_success_timestamp_seconds", platform="facebook") == AT.timestamp()
        )
        metrics.observe(observation(at=AT + timedelta(minutes=2)))
        assert (
            value(registry, "failover_last_success_timestamp_seconds", platform="facebook")
            == (AT + timedelta(minutes=2)).timestamp()
        )

    def test_the_certificate_expiry_is_a_timestamp(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.observe(observation(cert_days_left=30.5))
        expected = (AT + timedelta(days=30.5)).timestamp()
        assert value(
            registry, "failover_certificate_expiry_timestamp_seconds", platform="facebook", check="https"
        ) == pytest.approx(expected)

    def test_no_certificate_no_series(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.observe(observation(kind=CheckKind.dns, check="dns-auth"))
        assert not [n for n, _, _ in label_values(registry) if n.startswith("failover_certificate")]

    def test_probe_buckets_span_5_ms_to_30_s(self) -> None:
        assert PROBE_BUCKETS[0] == 0.005
        assert PROBE_BUCKETS[-1] == 30.0
        assert list(PROBE_BUCKETS) == sorted(PROBE_BUCKETS)


class TestJudgement:
    """platform_health(), connectivity() and the incident series follow the judge."""

    def test_up_is_one_only_when_up(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.init_platforms([FACEBOOK])
        expected = {Health.up: 1, Health.degraded: 0, Health.down: 0, Health.unknown: 0}
        for health, up in expected.items():
            metrics.platform_health("facebook", health, flapping=False)
            assert value(registry, "failover_platform_up", platform="facebook", family="meta") == up

    @pytest.mark.parametrize("health", list(Health))
    def test_the_state_is_one_hot(
        self, metrics: Metrics, registry: CollectorRegistry, health: Health
    ) -> None:
        metrics.init_platforms([FACEBOOK])
        metrics.platform_health("facebook", Health.up, flapping=False)
        metrics.platform_health("facebook", health, flapping=False)
        for state in Health:
            assert value(
                registry, "failover_platform_state", platform="facebook", family="meta", state=state
            ) == (1 if state is health else 0)

    def test_flapping_is_its_own_series(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.platform_health("telegram", Health.degraded, flapping=True)
        assert value(registry, "failover_platform_flapping", platform="telegram") == 1
        metrics.platform_health("telegram", Health.up, flapping=False)
        assert value(registry, "failover_platform_flapping", platform="telegram") == 0

    def test_an_unannounced_platform_gets_an_empty_family(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.platform_health("discord", Health.down, flapping=False)
        assert value(registry, "failover_platform_state", platform="discord", family="", state="down") == 1
        assert value(registry, "failover_incident_open", platform="discord") == 0

    @pytest.mark.parametrize(("ok", "expected"), [(True, 1.0), (False, 0.0)])
    def test_connectivity(
        self, metrics: Metrics, registry: CollectorRegistry, ok: bool, expected: float
    ) -> None:
        metrics.connectivity(ok)
        assert value(registry, "failover_connectivity_up") == expected

    def test_connectivity_not_checked_is_nan(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.connectivity(ok=None)
        reading = value(registry, "failover_connectivity_up")
        assert reading is not None
        assert math.isnan(reading)

    def test_incident_opened_counts_by_scope_and_kind(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.incident_opened(IncidentScope.family, IncidentKind.unreachable)
        metrics.incident_opened(IncidentScope.family, IncidentKind.unreachable)
        metrics.incident_opened(IncidentScope.platform, IncidentKind.degraded)
        assert value(registry, "failover_incidents_total", scope="family", kind="unreachable") == 2
        assert value(registry, "failover_incidents_total", scope="platform", kind="degraded") == 1
        assert value(registry, "failover_incidents_total", scope="platform", kind="unreachable") == 0

    def test_open_incidents_from_counts_fall_back_to_zero(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.init_platforms([FACEBOOK, TELEGRAM])
        metrics.open_incidents({"facebook": 1, "slack": 2})
        assert value(registry, "failover_incident_open", platform="facebook") == 1
        assert value(registry, "failover_incident_open", platform="slack") == 2
        assert value(registry, "failover_incident_open", platform="telegram") == 0
        metrics.open_incidents({"telegram": 1})
        assert value(registry, "failover_incident_open", platform="facebook") == 0
        assert value(registry, "failover_incident_open", platform="slack") == 0
        assert value(registry, "failover_incident_open", platform="telegram") == 1

    def test_open_incidents_from_incidents_count_each_member(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        family = Incident(
            key="family:meta:20211004T154000Z",
            scope=IncidentScope.family,
            kind=IncidentKind.unreachable,
            name="meta",
            platforms=("facebook", "whatsapp"),
            opened_at=AT,
        )
        manual = Incident(
            key="custom:x",
            scope=IncidentScope.custom,
            kind=IncidentKind.manual,
            name="x",
            platforms=("facebook",),
            opened_at=AT,
        )
        metrics.open_incidents([family, manual])
        assert value(registry, "failover_incident_open", platform="facebook") == 2
        assert value(registry, "failover_incident_open", platform="whatsapp") == 1


class TestNotices:
    """notice(), outbox_pending(), notice_latency() and round_completed()."""

    def test_counts_by_channel_scheme_and_outcome(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.notice("mailtos", "sent")
        metrics.notice("mailtos", NoticeOutcome.failed)
        metrics.notice("mailtos", "sent")
        assert value(registry, "failover_notices_total", channel="mailtos", outcome="sent") == 2
        assert value(registry, "failover_notices_total", channel="mailtos", outcome="failed") == 1

    @pytest.mark.parametrize(
        ("given", "label"),
        [
            ("tgram://123456789:AAbbCC/-100123", "tgram"),
            ("mailtos://alice:secret@mail.example.org?to=bob@example.org", "mailtos"),
            ("Signal", "signal"),
            ("", "other"),
            ("bob@example.org", "other"),
            ("1http", "other"),
        ],
    )
    def test_the_channel_label_is_only_ever_a_scheme(
        self, metrics: Metrics, registry: CollectorRegistry, given: str, label: str
    ) -> None:
        metrics.notice(given, "sent")
        assert value(registry, "failover_notices_total", channel=label, outcome="sent") == 1

    def test_an_unknown_outcome_is_refused(self, metrics: Metrics) -> None:
        with pytest.raises(ValueError, match="delivered"):
            metrics.notice("mailtos", "delivered")

    def test_outbox_pending(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.outbox_pending(12)
        metrics.outbox_pending(3)
        assert value(registry, "failover_outbox_pending") == 3

    def test_notice_latency_buckets_span_half_a_second_to_ten_minutes(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        assert NOTICE_BUCKETS[0] == 0.5
        assert NOTICE_BUCKETS[-1] == 600.0
        metrics.notice_latency(0.3)
        metrics.notice_latency(240.0)
        assert value(registry, "failover_notice_latency_seconds_bucket", le="0.5") == 1
        assert value(registry, "failover_notice_latency_seconds_bucket", le="300.0") == 2
        assert value(registry, "failover_notice_latency_seconds_count") == 2

    def test_round_completed(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.round_completed(0.8, 1_633_362_000.0)
        assert value(registry, "failover_round_duration_seconds_count") == 1
        assert value(registry, "failover_round_duration_seconds_sum") == 0.8
        assert value(registry, "failover_last_round_timestamp_seconds") == 1_633_362_000.0

    def test_round_interval_per_platform(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.round_interval("whatsapp", 15.2)
        metrics.round_interval("whatsapp", 16.0)
        metrics.round_interval("control-0", 30.0)
        assert value(registry, "failover_round_interval_seconds", platform="whatsapp") == 16.0
        assert value(registry, "failover_round_interval_seconds", platform="control-0") == 30.0


#: Enum values and fixed names every label value must come from, besides config names.
_FIXED_LABEL_VALUES = (
    {str(v) for v in Outcome}
    | {str(v) for v in Health}
    | {str(v) for v in CheckKind}
    | {str(v) for v in IncidentScope}
    | {str(v) for v in IncidentKind}
    | {str(v) for v in NoticeOutcome}
    | {str(v) for v in AlertIgnored}
    | {"connect", "tls", "first_byte", "other", "_invalid", ""}
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class TestBoundedLabels:
    """No URL, address or error text ever becomes a label value."""

    LEAKS = ("https://", "@", "example.org", "SERVFAIL", "Connection refused", " ")

    def test_details_never_reach_a_label(self, metrics: Metrics, registry: CollectorRegistry) -> None:
        metrics.init_platforms(PLATFORMS)
        for outcome in Outcome:
            metrics.observe(
                observation(
                    outcome=outcome,
                    detail="GET https://alice:pw@www.example.org/x failed for bob@example.org: "
                    "SERVFAIL; Connection refused",
                    cert_days_left=3.0,
                    phases={"connect": 0.1, "https://evil.example.org": 1.0},
                )
            )
        metrics.notice("mailtos://alice:pw@mail.example.org/?to=bob@example.org", "failed")
        for name, label, label_value in label_values(registry):
            if label in {"version", "python", "le"}:
                continue
            assert not any(leak in label_value for leak in self.LEAKS), (name, label, label_value)

    def test_a_name_breaking_the_name_rule_becomes_invalid(
        self, metrics: Metrics, registry: CollectorRegistry
    ) -> None:
        metrics.observe(observation(target="https://bob@example.org/", check="a b"))
        metrics.platform_health("bob@example.org", Health.down, flapping=False)
        assert (
            value(
                registry, "failover_probe_results_total", platform="_invalid", check="_invalid", outcome="ok"
            )
            == 1
        )
        assert value(registry, "failover_platform_up", platform="_invalid", family="") == 0

    @given(
        target=st.text(max_size=80),
        check=st.text(max_size=80),
        channel=st.text(max_size=80),
        detail=st.text(max_size=200),
    )
    def test_every_label_value_is_a_name_or_a_fixed_word(
        self, target: str, check: str, channel: str, detail: str
    ) -> None:
        registry = CollectorRegistry()
        metrics = Metrics(registry, version="0")
        metrics.observe(observation(target=target, check=check, detail=detail, cert_days_left=1.0))
        metrics.platform_health(target, Health.down, flapping=False)
        metrics.open_incidents({target: 1})
        metrics.notice(channel, "sent")
        for name, label, label_value in label_values(registry):
            if label in {"version", "python", "le"} or name == "python_info":  # the interpreter's own
                continue
            assert label_value in _FIXED_LABEL_VALUES or (
                _NAME.fullmatch(label_value)
                and label_value in {target, check, channel.split(":", 1)[0].strip().lower()}
            )


class TestPromtool:
    """``promtool check metrics`` has nothing to say about a realistic exposition."""

    def test_promtool_check_metrics_is_silent(self) -> None:
        promtool = promtool_or_skip()
        text = render(exercised_registry())
        assert b"failover_platform_state{" in text
        result = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
        assert result.stdout.strip() == b""
        assert result.stderr.strip() == b""

    def test_promtool_does_complain_about_a_bad_exposition(self) -> None:
        """The check above can fail: promtool flags a non-base unit."""
        promtool = promtool_or_skip()
        bad = b"# HELP failover_expiry_days d\n# TYPE failover_expiry_days gauge\nfailover_expiry_days 1\n"
        result = subprocess.run(
            [promtool, "check", "metrics"], input=bad, capture_output=True, timeout=60, check=False
        )
        assert result.returncode != 0
        assert b"base unit" in result.stdout + result.stderr
