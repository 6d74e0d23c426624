"""The verdict of one look: which evidence makes a platform up, degraded or down."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from failover.detect import JudgeState, judge
from failover.domain import CheckKind, CheckRole, DetectionPolicy, Health, Observation, Outcome
from tests.detect import (
    ALL_FAILING,
    API_DOOR,
    AUTHORITATIVE,
    FAMILIES,
    FRONT_DOOR,
    META_SHAPE,
    METASTATUS,
    OK,
    ONE_FAILING,
    OUTAGE,
    RESOLVERS,
    STATUS_MAJOR,
    STATUS_UNREACHABLE,
    T0,
    THIN_OUTAGE,
    TWO_DOOR_SHAPE,
    CheckSpec,
    Condition,
    Watch,
    control_observations,
    observe,
)

PUBLIC_RESOLVERS = CheckSpec(name="public-resolvers", kind=CheckKind.dns, role=CheckRole.resolver)
TLS_DOOR = CheckSpec(name="service", kind=CheckKind.tls, role=CheckRole.front_door)

SERVFAIL = Outcome.dns_servfail

VERDICTS: list[tuple[str, Sequence[CheckSpec], Condition, Health]] = [
    ("every-check-passing", META_SHAPE, OK, Health.up),
    ("one-front-door-failing-alone", META_SHAPE, ONE_FAILING, Health.up),
    ("authoritative-dns-failing-alone", META_SHAPE, {"authoritative": SERVFAIL}, Health.up),
    ("status-unreachable-alone-is-weak", META_SHAPE, STATUS_UNREACHABLE, Health.up),
    ("status-parse-error-alone-is-weak", META_SHAPE, {"metastatus": Outcome.parse_error}, Health.up),
    ("status-minor-alone", META_SHAPE, {"metastatus": Outcome.status_minor}, Health.up),
    ("a-lone-5xx-out-of-four-checks", META_SHAPE, {"front-door": Outcome.http_status}, Health.up),
    ("authoritative-dns-and-front-door", META_SHAPE, THIN_OUTAGE, Health.down),
    (
        "resolvers-and-front-door",
        META_SHAPE,
        {"resolvers": SERVFAIL, "front-door": Outcome.tcp_refused},
        Health.down,
    ),
    (
        "front-door-and-status-unreachable",
        META_SHAPE,
        {"front-door": Outcome.tcp_timeout, "metastatus": Outcome.status_unreachable},
        Health.down,
    ),
    ("the-first-minute-of-4-oct-2021", META_SHAPE, OUTAGE, Health.down),
    ("every-check-failing", META_SHAPE, ALL_FAILING, Health.down),
    (
        "expired-certificate-and-resolvers",
        META_SHAPE,
        {"front-door": Outcome.tls_expired, "resolvers": Outcome.dns_nxdomain},
        Health.down,
    ),
    (
        "dns-failing-while-the-door-answers",
        META_SHAPE,
        {"authoritative": SERVFAIL, "resolvers": SERVFAIL},
        Health.degraded,
    ),
    ("status-major-while-probes-pass", META_SHAPE, STATUS_MAJOR, Health.degraded),
    (
        "slow-front-door-and-status-major",
        META_SHAPE,
        {"front-door": Outcome.http_slow, "metastatus": Outcome.status_major},
        Health.degraded,
    ),
    (
        "5xx-and-status-minor",
        META_SHAPE,
        {"front-door": Outcome.http_status, "metastatus": Outcome.status_minor},
        Health.degraded,
    ),
    ("one-of-two-doors-down", TWO_DOOR_SHAPE, {"front-door": Outcome.tcp_timeout}, Health.up),
    (
        "both-doors-answer-5xx",
        TWO_DOOR_SHAPE,
        {"front-door": Outcome.http_status, "api": Outcome.http_status},
        Health.degraded,
    ),
    (
        "one-door-down-one-slow",
        TWO_DOOR_SHAPE,
        {"front-door": Outcome.tcp_timeout, "api": Outcome.http_slow},
        Health.degraded,
    ),
    (
        "one-door-down-and-dns-failing-while-the-other-answers",
        TWO_DOOR_SHAPE,
        {"front-door": Outcome.tcp_timeout, "authoritative": SERVFAIL},
        Health.degraded,
    ),
    (
        "both-doors-down",
        TWO_DOOR_SHAPE,
        {"front-door": Outcome.tcp_timeout, "api": Outcome.tcp_refused},
        Health.down,
    ),
    (
        "one-of-two-resolver-checks-failing-is-no-resolver-failure",
        (RESOLVERS, PUBLIC_RESOLVERS, FRONT_DOOR),
        {"resolvers": SERVFAIL, "front-door": Outcome.tcp_timeout},
        Health.up,
    ),
    (
        "every-resolver-check-failing-is-a-resolver-failure",
        (RESOLVERS, PUBLIC_RESOLVERS, FRONT_DOOR),
        {"resolvers": SERVFAIL, "public-resolvers": Outcome.dns_timeout, "front-door": Outcome.tcp_timeout},
        Health.down,
    ),
    ("a-single-check-platform-failing", (FRONT_DOOR,), {"front-door": Outcome.tcp_timeout}, Health.down),
    ("a-single-check-platform-slow", (FRONT_DOOR,), {"front-door": Outcome.http_slow}, Health.degraded),
    (
        "resolver-and-door-platform-both-failing",
        (RESOLVERS, FRONT_DOOR),
        {"resolvers": SERVFAIL, "front-door": Outcome.http_timeout},
        Health.down,
    ),
    (
        "a-dns-only-platform-with-every-group-failing",
        (AUTHORITATIVE, RESOLVERS),
        {"authoritative": SERVFAIL, "resolvers": SERVFAIL},
        Health.down,
    ),
    (
        "a-dns-only-platform-with-one-group-failing",
        (AUTHORITATIVE, RESOLVERS),
        {"resolvers": SERVFAIL},
        Health.up,
    ),
    ("a-status-only-platform-unreachable", (METASTATUS,), STATUS_UNREACHABLE, Health.up),
    ("a-status-only-platform-major", (METASTATUS,), STATUS_MAJOR, Health.degraded),
    (
        "tls-service-and-door-failing",
        (RESOLVERS, TLS_DOOR, API_DOOR),
        {"service": Outcome.tls_error, "api": Outcome.http_timeout},
        Health.down,
    ),
]


class TestVerdictRules:
    """One look's verdict needs corroboration: a single failing source is noted, not believed."""

    @pytest.mark.parametrize(
        ("shape", "failing", "expected"),
        [pytest.param(shape, failing, expected, id=name) for name, shape, failing, expected in VERDICTS],
    )
    def test_verdict(self, shape: Sequence[CheckSpec], failing: Condition, expected: Health) -> None:
        """The round's verdict for the platform is the expected health."""
        watch = Watch(shapes={"whatsapp": shape})
        decision = watch.round(0, {"whatsapp": failing})
        assert decision.verdicts["whatsapp"].health is expected

    def test_evidence_is_the_failing_observations(self) -> None:
        """The verdict carries the failing observations, nothing else."""
        decision = Watch().round(0, {"whatsapp": THIN_OUTAGE})
        verdict = decision.verdicts["whatsapp"]
        assert [(o.check, o.outcome) for o in verdict.evidence] == [
            ("authoritative", Outcome.dns_servfail),
            ("front-door", Outcome.http_timeout),
        ]

    def test_summary_names_the_cause(self) -> None:
        """The summary says what failed, in words."""
        decision = Watch().round(0, {"whatsapp": THIN_OUTAGE})
        assert decision.verdicts["whatsapp"].summary.startswith(
            "down: authoritative DNS SERVFAIL and HTTPS unreachable (2 of 4 checks failing)"
        )

    def test_summary_of_an_uncorroborated_failure(self) -> None:
        """A single failing check is named but the platform stays up."""
        decision = Watch().round(0, {"whatsapp": ONE_FAILING})
        assert decision.verdicts["whatsapp"].summary == (
            "up: 1 of 4 checks failing, not corroborated (HTTPS unreachable); "
            "degraded if it lasts 2 min (look 1)"
        )

    def test_a_plain_http_door_is_named_http_not_https(self) -> None:
        """The cause names the protocol the door really speaks."""
        plain = [
            replace(o, secure=o.check != "front-door") for o in observe("whatsapp", T0, META_SHAPE, OUTAGE)
        ]
        secure = [replace(o, secure=True) for o in observe("whatsapp", T0, META_SHAPE, OUTAGE)]
        assert "HTTP unreachable" in _summary(plain)
        assert "HTTPS" not in _summary(plain)
        assert "HTTPS unreachable" in _summary(secure)

    def test_incident_evidence_lines_carry_the_detail(self) -> None:
        """Each failing check becomes one evidence line with its outcome and detail."""
        failing = [
            replace(o, detail="no answer from 129.134.30.12") if o.check == "authoritative" else o
            for o in observe("whatsapp", T0, META_SHAPE, OUTAGE)
        ]
        decision = judge(
            observations=[*control_observations(T0), *failing],
            state=Watch().state,
            now=T0,
            policy=DetectionPolicy(confirm_after_s=()),
            families=FAMILIES,
            probed=["whatsapp"],
        )
        [change] = decision.incident_events
        assert change.incident.evidence == (
            "authoritative (authoritative): dns_servfail, no answer from 129.134.30.12",
            "front-door (front_door): tcp_timeout",
            "metastatus (status): status_unreachable",
        )

    def test_only_the_latest_observation_of_a_check_counts(self) -> None:
        """A check observed twice in one round is judged by its latest observation."""
        early = observe("whatsapp", T0, META_SHAPE, THIN_OUTAGE)
        late = observe("whatsapp", T0.replace(second=1), META_SHAPE, OK)
        decision = judge(
            observations=[*control_observations(T0), *early, *late],
            state=Watch().state,
            now=T0.replace(second=1),
            policy=Watch().policy,
            families=FAMILIES,
            probed=["whatsapp"],
        )
        assert decision.verdicts["whatsapp"].health is Health.up


class TestCoverage:
    """Only platforms of ``families`` that this round probed are judged."""

    def test_unprobed_platforms_get_no_verdict(self) -> None:
        """A re-probe round judges only the platforms it covered."""
        decision = Watch().round(0, {"whatsapp": OK, "facebook": OK}, probed=["whatsapp"])
        assert set(decision.verdicts) == {"whatsapp"}

    def test_unknown_platforms_are_ignored(self) -> None:
        """Observations of a platform outside ``families`` are not judged."""
        decision = Watch().round(0, {"myspace": OUTAGE})
        assert decision.verdicts == {}

    def test_a_probed_platform_without_observations_is_unknown(self) -> None:
        """No observations is no evidence: unknown, and the state does not move."""
        watch = Watch()
        decision = watch.round(0, {"whatsapp": OK}, probed=["whatsapp", "facebook"])
        assert decision.verdicts["facebook"].health is Health.unknown
        assert "facebook" not in watch.state.platforms

    def test_default_probed_is_every_platform(self) -> None:
        """Without ``probed`` every platform in ``families`` is judged."""
        observations = [*control_observations(T0), *observe("whatsapp", T0)]
        decision = judge(
            observations=observations,
            state=Watch().state,
            now=T0,
            policy=Watch().policy,
            families=FAMILIES,
        )
        assert set(decision.verdicts) == set(FAMILIES)
        assert decision.verdicts["whatsapp"].health is Health.up
        assert decision.verdicts["telegram"].health is Health.unknown

    def test_now_must_be_timezone_aware(self) -> None:
        """A naive ``now`` is a programming error."""
        with pytest.raises(ValueError, match="timezone"):
            judge(
                observations=[],
                state=Watch().state,
                now=T0.replace(tzinfo=None),
                policy=Watch().policy,
                families=FAMILIES,
            )


def _summary(observations: Sequence[Observation]) -> str:
    decision = judge(
        observations=observations,
        state=JudgeState.initial(),
        now=T0,
        policy=DetectionPolicy(),
        families={"whatsapp": "meta"},
    )
    return decision.verdicts["whatsapp"].summary
