"""Every ``failover_*`` series, declared once against an injected registry.

:class:`Metrics` takes a :class:`prometheus_client.CollectorRegistry` (never the global
one) and offers one method per fact the daemon learns: an observation, a platform's judged
health, our own connectivity, an incident opened, a notice's outcome, the outbox backlog,
a round completed. :func:`exposition_app` serves the registry over HTTP as Prometheus's
own client serves it; :func:`render` turns it into the text exposition format.

The registry also carries the process's own series (``process_resident_memory_bytes``,
``process_cpu_seconds_total``, open file descriptors, start time: what BENCHMARKS.md's memory
budget is watched by) and ``python_info``. No counter or histogram exposes a ``*_created``
series: prometheus_client's creation timestamps double the series count and nothing reads
them (``disable_created_metrics``, a process-wide switch of the library, is thrown before
any series is declared).

Labels are bounded: platform and check names (validated by the configuration's name rule,
anything else becomes ``_invalid``), domain enums (check kind, outcome, health, incident
scope and kind), the three probe phases, notice outcomes, why an alert was ignored, and a
channel's URL *scheme* (``mailtos``, ``signal``) — never a URL, a contact, an error text or
an observation's detail.

Series (all in base units):

=================================================  =========  ==============================
name                                               type       labels
=================================================  =========  ==============================
failover_build_info                                gauge      version, python
failover_probe_duration_seconds                    histogram  platform, check, kind
failover_probe_phase_seconds                       histogram  platform, check, phase
failover_probe_results_total                       counter    platform, check, outcome
failover_last_success_timestamp_seconds            gauge      platform
failover_certificate_expiry_timestamp_seconds      gauge      platform, check
failover_platform_up                               gauge      platform, family
failover_platform_state                            gauge      platform, family, state
failover_platform_flapping                         gauge      platform
failover_connectivity_up                           gauge      —
failover_incidents_total                           counter    scope, kind
failover_incident_open                             gauge      platform
failover_notices_total                             counter    channel, outcome
failover_outbox_pending                            gauge      —
failover_notice_latency_seconds                    histogram  —
failover_round_duration_seconds                    histogram  —
failover_last_round_timestamp_seconds              gauge      —
failover_round_interval_seconds                    gauge      platform
failover_alerts_ignored_total                      counter    reason
failover_maintenance_active                        gauge      window
process_*                                          (various)  — (prometheus_client's process collector)
python_info                                        gauge      implementation, version, major, minor, …
=================================================  =========  ==============================
"""

from __future__ import annotations

import enum
import platform as _python_platform
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Final, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    make_asgi_app,
)

from failover import __version__
from failover.domain import (
    NAME,
    Check,
    CheckKind,
    Health,
    HttpCheck,
    Incident,
    IncidentKind,
    IncidentScope,
    Observation,
    Outcome,
    Platform,
)

__all__ = [
    "INVALID",
    "NOTICE_BUCKETS",
    "OTHER_CHANNEL",
    "PHASES",
    "PROBE_BUCKETS",
    "ROUND_BUCKETS",
    "AlertIgnored",
    "ExpositionApp",
    "Metrics",
    "NoticeOutcome",
    "channel_label",
    "exposition_app",
    "name_label",
    "render",
]

_Message = MutableMapping[str, Any]
#: An ASGI application (scope, receive, send), as starlette and uvicorn spell it.
ExpositionApp = Callable[
    [_Message, Callable[[], Awaitable[_Message]], Callable[[_Message], Awaitable[None]]], Awaitable[None]
]

#: Probe and phase durations: 5 ms (loopback, a warm resolver) to 30 s (the longest timeout).
PROBE_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Incident event to delivery: 0.5 s (a local SMTP relay) to 10 min (retries and rate limits).
NOTICE_BUCKETS: Final = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: One round of every check: concurrent, so bounded by the slowest check's timeout.
ROUND_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: The phases of a fresh connection worth a histogram; probes also report ``total``,
#: which is the probe duration already.
PHASES: Final = ("connect", "tls", "first_byte")

#: Label value standing for a name that breaks the configuration's name rule.
INVALID: Final = "_invalid"
#: Label value for a channel whose scheme cannot be read.
OTHER_CHANNEL: Final = "other"

# The configuration's rule for platform, control and check names: no ':', '/' or '@',
# so no URL or address can pass as one.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")

# Outcomes each kind of check can produce, pre-initialised so that rate() sees the first
# failure of a kind (a series born with its first increment loses it). Others still count.
_DNS_FAILURES = frozenset({Outcome.dns_nxdomain, Outcome.dns_servfail, Outcome.dns_timeout})
_EXPECTED_OUTCOMES: Final[Mapping[CheckKind, AbstractSet[Outcome]]] = {
    CheckKind.dns: _DNS_FAILURES | {Outcome.ok, Outcome.dns_refused, Outcome.dns_no_answer},
    CheckKind.tcp: _DNS_FAILURES
    | {Outcome.ok, Outcome.tcp_refused, Outcome.tcp_timeout, Outcome.tcp_unreachable},
    CheckKind.tls: {
        Outcome.ok,
        Outcome.tcp_timeout,
        Outcome.tls_invalid,
        Outcome.tls_expired,
        Outcome.tls_error,
        Outcome.tls_timeout,
    },
    CheckKind.http: {
        Outcome.ok,
        Outcome.http_status,
        Outcome.http_timeout,
        Outcome.http_error,
        Outcome.http_body_mismatch,
        Outcome.http_slow,
    },
    CheckKind.statuspage: {
        Outcome.ok,
        Outcome.status_minor,
        Outcome.status_major,
        Outcome.status_unreachable,
        Outcome.parse_error,
    },
}
_KIND_PHASES: Final[Mapping[CheckKind, tuple[str, ...]]] = {
    CheckKind.tcp: ("connect",),
    CheckKind.tls: ("connect", "tls"),
}


class NoticeOutcome(enum.StrEnum):
    """How one notice ended, as counted by ``failover_notices_total``."""

    sent = "sent"
    failed = "failed"
    #: no eligible channel (every one depends on a platform that is down, or none fits)
    skipped = "skipped"
    #: deliberately not sent: dry run, quiet hours, a route muted
    silenced = "silenced"


class AlertIgnored(enum.StrEnum):
    """Why an Alertmanager alert was ignored, as counted by ``failover_alerts_ignored_total``."""

    #: no label names a platform, a family or a custom incident
    no_target = "no_target"
    #: it names a platform or family that is not configured (a typo must not page everyone)
    unknown_target = "unknown_target"
    #: the name it gives a custom incident breaks the configuration's name rule
    invalid_target = "invalid_target"
    #: its message may not go where the incident's notices would (personal data in a public text)
    refused_message = "refused_message"


def name_label(name: str) -> str:
    """``name`` when it follows the configuration's name rule, else ``_invalid``."""
    return name if NAME.fullmatch(name) else INVALID


def channel_label(channel_kind: str) -> str:
    """A channel's scheme as a label: lower case, and only the scheme even if handed a
    whole URL (whose user, token or address must never become a label)."""
    scheme = channel_kind.split(":", 1)[0].strip().lower()
    return scheme if _SCHEME.fullmatch(scheme) else OTHER_CHANNEL


@dataclass(slots=True)
class _CheckSeries:
    """The children of one (platform, check), resolved once: ``labels()`` is the costly part
    of an update, and the probe path runs it for every observation."""

    duration: Histogram
    results: dict[Outcome, Counter] = field(default_factory=dict)
    phases: dict[str, Histogram] = field(default_factory=dict)
    last_success: Gauge | None = None
    cert_expiry: Gauge | None = None


class Metrics:
    """The daemon's series in ``registry``; one instance per registry.

    Call :meth:`init_platforms` (and :meth:`init_channels`) with the configuration at
    start-up so that every known series exists at zero before its first event. The
    process and platform collectors (``process_*``, ``python_info``) are registered too.
    """

    def __init__(self, registry: CollectorRegistry, *, version: str | None = None) -> None:
        if version is None:
            version = __version__
        # prometheus_client decides per series, when it is declared, whether it gets a
        # `_created` twin: off before the first declaration (idempotent, process-wide)
        disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
        self._families: dict[str, str] = {}
        self._checks: dict[tuple[str, str, CheckKind], _CheckSeries] = {}
        self._open_platforms: set[str] = set()

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        self.maintenance_active_gauge = gauge(
            "failover_maintenance_active",
            "1 while the recurring maintenance window is in force, else 0.",
            ("window",),
        )
        self.build_info = gauge(
            "failover_build_info", "Always 1; the labels name the running build.", ("version", "python")
        )
        self.build_info.labels(version=version, python=_python_platform.python_version()).set(1)

        self.probe_duration = histogram(
            "failover_probe_duration_seconds",
            "Wall time of one check, from start to result (timeouts included).",
            ("platform", "check", "kind"),
            PROBE_BUCKETS,
        )
        self.probe_phase = histogram(
            "failover_probe_phase_seconds",
            "Time spent in one phase of a fresh connection: connect, tls, first_byte.",
            ("platform", "check", "phase"),
            PROBE_BUCKETS,
        )
        self.probe_results = counter(
            "failover_probe_results",
            "Checks run, by outcome (ok or the bounded failure reason).",
            ("platform", "check", "outcome"),
        )
        self.last_success = gauge(
            "failover_last_success_timestamp_seconds",
            "Unix time of the latest successful check of the platform or control (0: none yet).",
            ("platform",),
        )
        self.certificate_expiry = gauge(
            "failover_certificate_expiry_timestamp_seconds",
            "Unix time at which the certificate seen by a TLS or HTTPS check expires.",
            ("platform", "check"),
        )
        self.platform_up = gauge(
            "failover_platform_up",
            "1 when the platform's judged health is up, else 0 (degraded, down or unknown).",
            ("platform", "family"),
        )
        self.platform_state = gauge(
            "failover_platform_state",
            "1 for the platform's judged health, 0 for every other health value.",
            ("platform", "family", "state"),
        )
        self.platform_flapping = gauge(
            "failover_platform_flapping",
            "1 while the platform's state is held because it flaps.",
            ("platform",),
        )
        self.connectivity_up = gauge(
            "failover_connectivity_up",
            "1 when enough control targets answer (our own network works), 0 when not, "
            "NaN when no control is configured.",
        )
        self.incidents = counter(
            "failover_incidents",
            "Incidents opened, by scope (platform, family, custom) and kind.",
            ("scope", "kind"),
        )
        self.incident_open = gauge(
            "failover_incident_open",
            "Open incidents covering the platform (a family incident counts for each member).",
            ("platform",),
        )
        self.notices = counter(
            "failover_notices",
            "Notices finished, by channel scheme and outcome (sent, failed, skipped, silenced).",
            ("channel", "outcome"),
        )
        self.outbox_pending_gauge = gauge(
            "failover_outbox_pending", "Notices in the outbox not yet sent, failed or skipped."
        )
        self.notice_latency_seconds = Histogram(
            "failover_notice_latency_seconds",
            "Time from the incident event to the notice's delivery.",
            registry=registry,
            buckets=NOTICE_BUCKETS,
        )
        self.round_duration = Histogram(
            "failover_round_duration_seconds",
            "Wall time of one round of checks and the decision that follows.",
            registry=registry,
            buckets=ROUND_BUCKETS,
        )
        self.last_round = gauge(
            "failover_last_round_timestamp_seconds", "Unix time at which the latest round completed."
        )
        self.round_interval_gauge = gauge(
            "failover_round_interval_seconds",
            "Time between the last two scheduled rounds of the platform or control (its achieved interval).",
            ("platform",),
        )

        self.alerts_ignored = counter(
            "failover_alerts_ignored",
            "Alertmanager alerts the webhook ignored (opened or attached to nothing), by reason.",
            ("reason",),
        )

        for scope in IncidentScope:
            for kind in IncidentKind:
                self.incidents.labels(scope=scope.value, kind=kind.value)
        for reason in AlertIgnored:
            self.alerts_ignored.labels(reason=reason.value)

        # the process's memory, CPU and descriptors (from /proc; nothing elsewhere) and
        # the interpreter's version: the runtime's own series, next to ours
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)

    # --- start-up -----------------------------------------------------------------------------

    def init_platforms(self, platforms: Iterable[Platform | str]) -> None:
        """Create the series of every configured platform and control at zero.

        A bare name stands for a platform without family whose checks are not known yet;
        control targets (family ``_control``) get probe series only.
        """
        for platform in platforms:
            if isinstance(platform, str):
                self._init_platform(name_label(platform), "")
                continue
            name = name_label(platform.name)
            if not platform.is_control:
                self._init_platform(name, name_label(platform.family) if platform.family else "")
            self.last_success.labels(platform=name)
            for check in platform.checks:
                series = self._series(platform.name, check.name, check.kind)
                for outcome in sorted(_EXPECTED_OUTCOMES[check.kind]):
                    self._result_child(series, platform.name, check.name, outcome)
                for phase in self._phases_of(check):
                    self._phase_child(series, platform.name, check.name, phase)

    def init_channels(self, channel_kinds: Iterable[str]) -> None:
        """Create ``failover_notices_total`` at zero for every outcome of these schemes."""
        for kind in channel_kinds:
            for outcome in NoticeOutcome:
                self.notices.labels(channel=channel_label(kind), outcome=outcome.value)

    def _init_platform(self, name: str, family: str) -> None:
        self._families[name] = family
        self.platform_up.labels(platform=name, family=family)
        for health in Health:
            self.platform_state.labels(platform=name, family=family, state=health.value)
        self.platform_flapping.labels(platform=name)
        self.incident_open.labels(platform=name)
        self.last_success.labels(platform=name)

    @staticmethod
    def _phases_of(check: Check) -> tuple[str, ...]:
        if isinstance(check, HttpCheck):
            return PHASES if check.url.lower().startswith("https:") else ("connect", "first_byte")
        return _KIND_PHASES.get(check.kind, ())

    # --- probes -------------------------------------------------------------------------------

    def _series(self, platform: str, check: str, kind: CheckKind) -> _CheckSeries:
        key = (platform, check, kind)
        series = self._checks.get(key)
        if series is None:
            platform, check = name_label(platform), name_label(check)
            series = _CheckSeries(
                duration=self.probe_duration.labels(platform=platform, check=check, kind=kind.value)
            )
            self._checks[key] = series
        return series

    def _result_child(self, series: _CheckSeries, platform: str, check: str, outcome: Outcome) -> Counter:
        child = series.results.get(outcome)
        if child is None:
            child = self.probe_results.labels(
                platform=name_label(platform), check=name_label(check), outcome=outcome.value
            )
            series.results[outcome] = child
        return child

    def _phase_child(self, series: _CheckSeries, platform: str, check: str, phase: str) -> Histogram:
        child = series.phases.get(phase)
        if child is None:
            child = self.probe_phase.labels(
                platform=name_label(platform), check=name_label(check), phase=phase
            )
            series.phases[phase] = child
        return child

    def observe(self, observation: Observation) -> None:
        """Count one check's result, its duration and phases, and what it saw of the
        certificate. The detail text is never looked at."""
        platform, check = observation.target, observation.check
        series = self._series(platform, check, observation.kind)
        self._result_child(series, platform, check, observation.outcome).inc()
        if observation.latency_s is not None:
            series.duration.observe(observation.latency_s)
        for phase, seconds in observation.phases.items():
            if phase in PHASES:
                self._phase_child(series, platform, check, phase).observe(seconds)
        if observation.outcome is Outcome.ok:
            if series.last_success is None:
                series.last_success = self.last_success.labels(platform=name_label(platform))
            series.last_success.set(observation.at.timestamp())
        if observation.cert_days_left is not None:
            if series.cert_expiry is None:
                series.cert_expiry = self.certificate_expiry.labels(
                    platform=name_label(platform), check=name_label(check)
                )
            series.cert_expiry.set(observation.at.timestamp() + observation.cert_days_left * 86_400)

    def observe_all(self, observations: Iterable[Observation]) -> None:
        """:meth:`observe` each of one round's observations."""
        for observation in observations:
            self.observe(observation)

    # --- judgement ----------------------------------------------------------------------------

    def platform_health(self, platform: str, health: Health, flapping: bool = False) -> None:
        """Set the platform's judged health: ``failover_platform_up`` and the one-hot
        ``failover_platform_state`` (one series per health value, for state timelines)."""
        name = name_label(platform)
        family = self._families.get(name)
        if family is None:
            self._init_platform(name, "")
            family = ""
        self.platform_up.labels(platform=name, family=family).set(1 if health is Health.up else 0)
        for value in Health:
            self.platform_state.labels(platform=name, family=family, state=value.value).set(
                1 if value is health else 0
            )
        self.platform_flapping.labels(platform=name).set(1 if flapping else 0)

    def connectivity(self, ok: bool | None) -> None:
        """Whether our own network works, judged from the controls (None: no controls)."""
        self.connectivity_up.set(float("nan") if ok is None else 1 if ok else 0)

    def incident_opened(self, scope: IncidentScope, kind: IncidentKind) -> None:
        self.incidents.labels(scope=scope.value, kind=kind.value).inc()

    def open_incidents(self, open_now: Mapping[str, int] | Iterable[Incident]) -> None:
        """Set the open incidents per platform, from counts or from the open incidents
        themselves; platforms not mentioned fall to zero."""
        counts: dict[str, int] = {}
        if isinstance(open_now, Mapping):
            for platform, count in open_now.items():
                name = name_label(platform)
                counts[name] = counts.get(name, 0) + count
        else:
            for incident in open_now:
                for platform in incident.platforms:
                    name = name_label(platform)
                    counts[name] = counts.get(name, 0) + 1
        for name in self._open_platforms | self._families.keys() | counts.keys():
            self.incident_open.labels(platform=name).set(counts.get(name, 0))
        self._open_platforms = set(counts)

    # --- notices ------------------------------------------------------------------------------

    def notice(self, channel_kind: str, outcome: NoticeOutcome | str) -> None:
        """Count one finished notice. ``channel_kind`` is the channel's scheme; a URL is
        cut to its scheme. An outcome outside :class:`NoticeOutcome` is a ValueError."""
        self.notices.labels(channel=channel_label(channel_kind), outcome=NoticeOutcome(outcome).value).inc()

    def outbox_pending(self, n: int) -> None:
        self.outbox_pending_gauge.set(n)

    def notice_latency(self, seconds: float) -> None:
        """Time from the incident event to this notice's delivery."""
        self.notice_latency_seconds.observe(seconds)

    # --- the Alertmanager webhook ---------------------------------------------------------------

    def alert_ignored(self, reason: AlertIgnored) -> None:
        """Count one alert the webhook ignored."""
        self.alerts_ignored.labels(reason=AlertIgnored(reason).value).inc()

    # --- maintenance windows ----------------------------------------------------------------

    def maintenance_active(self, windows: Mapping[str, bool]) -> None:
        """Whether each configured maintenance window (by name) is in force."""
        for window, active in windows.items():
            self.maintenance_active_gauge.labels(window=name_label(window)).set(1 if active else 0)

    # --- rounds -------------------------------------------------------------------------------

    def round_interval(self, platform: str, seconds: float) -> None:
        """The scheduled rounds of ``platform`` came ``seconds`` apart."""
        self.round_interval_gauge.labels(platform=name_label(platform)).set(seconds)

    def round_completed(self, duration_s: float, at_timestamp: float) -> None:
        """A round (checks and decision) took ``duration_s`` and ended at ``at_timestamp``
        (Unix seconds)."""
        self.round_duration.observe(duration_s)
        self.last_round.set(at_timestamp)


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text exposition format (version 0.0.4)."""
    return generate_latest(registry)


def exposition_app(registry: CollectorRegistry) -> ExpositionApp:
    """prometheus_client's own ASGI app for ``registry``: the text format (0.0.4) by
    default, OpenMetrics 1.0.0 when the scraper's ``Accept`` asks for it (Prometheus does),
    gzip when ``Accept-Encoding`` allows it, and ``?name[]=`` to pick series."""
    # the library's signature says only "Callable"; its app is a plain ASGI callable
    return cast("ExpositionApp", make_asgi_app(registry))
