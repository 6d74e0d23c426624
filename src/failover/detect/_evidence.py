"""One platform, one look: from its observations to signals, a reading and a cause line.

A *source* is something whose failure is independent evidence: the authoritative DNS group,
the resolver DNS group, each front-door check on its own, and the status group. A *signal* is
a failing source with its severity. ``classify`` turns a set of signals into a health and an
evidence strength; the rules and the arithmetic behind them are in the package docstring.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from failover.domain import CheckKind, CheckRole, Health, Observation, Outcome

AUTHORITATIVE = "authoritative"
RESOLVER = "resolver"
STATUS = "status"
DOOR_PREFIX = "door:"

#: independent failing sources that make evidence strong enough for the fast path
STRONG_SIGNALS = 3

_SEVERITY_RANK = {Health.up: 0, Health.unknown: 0, Health.degraded: 1, Health.down: 2}


def severity_rank(health: Health) -> int:
    """Order healths by how bad they are; unknown ranks with up (it claims nothing)."""
    return _SEVERITY_RANK[health]


def worst(*healths: Health) -> Health:
    return max(healths, key=severity_rank)


class Severity(enum.StrEnum):
    """How a failing source failed."""

    #: nothing answered: DNS failure, connect, TLS or transport failure
    hard = "hard"
    #: a front door answered, badly: error status, slow, unexpected content
    soft = "soft"
    #: the status source reports a major outage (the platform's own word)
    major = "major"
    #: the status source reports a minor incident (supporting evidence only)
    minor = "minor"
    #: the status source could not be read (supporting evidence only)
    weak = "weak"


_SOFT_DOOR_OUTCOMES = frozenset({Outcome.http_status, Outcome.http_slow, Outcome.http_body_mismatch})

_DNS_WORDS: Mapping[Outcome, str] = {
    Outcome.dns_servfail: "SERVFAIL",
    Outcome.dns_nxdomain: "NXDOMAIN",
    Outcome.dns_refused: "REFUSED",
    Outcome.dns_no_answer: "empty answer",
    Outcome.dns_timeout: "timeout",
}

_DOOR_LABELS: Mapping[CheckKind, str] = {
    CheckKind.http: "HTTPS",
    CheckKind.tls: "TLS",
    CheckKind.tcp: "TCP",
    CheckKind.dns: "DNS",
    CheckKind.statuspage: "status",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Signal:
    """A failing source: what failed, how, in words, and the checks behind it."""

    source: str
    severity: Severity
    #: a few words for the cause line, e.g. "authoritative DNS SERVFAIL"
    phrase: str
    #: one line per failing check, e.g. "authoritative (authoritative): dns_servfail"
    lines: tuple[str, ...]

    @property
    def key(self) -> tuple[str, Severity]:
        """Two looks show the *same evidence* when their signals share this key."""
        return (self.source, self.severity)


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """What one look at one platform shows."""

    health: Health
    strong: bool
    signals: tuple[Signal, ...]
    sources: frozenset[str]
    #: the failing observations, in the order of their sources
    evidence: tuple[Observation, ...]
    #: when the earliest failing observation was made (None when nothing failed)
    first_failing_at: datetime | None
    checks: int


def _latest_per_check(observations: Iterable[Observation]) -> list[Observation]:
    latest: dict[str, Observation] = {}
    for observation in observations:
        seen = latest.get(observation.check)
        if seen is None or observation.at >= seen.at:
            latest[observation.check] = observation
    return [latest[name] for name in sorted(latest)]


def _line(observation: Observation) -> str:
    line = f"{observation.check} ({observation.role}): {observation.outcome}"
    if observation.detail:
        line += f", {observation.detail}"
    return line


def _unique(words: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(words))


def _dns_signal(source: str, label: str, observations: Sequence[Observation]) -> Signal | None:
    if not observations or any(observation.ok for observation in observations):
        return None
    words = _unique(_DNS_WORDS.get(o.outcome, str(o.outcome)) for o in observations)
    return Signal(
        source=source,
        severity=Severity.hard,
        phrase=f"{label} DNS {'/'.join(words)}",
        lines=tuple(_line(o) for o in observations),
    )


def _door_signal(observation: Observation) -> Signal | None:
    if observation.ok:
        return None
    label = _DOOR_LABELS[observation.kind]
    if observation.kind is CheckKind.http and observation.secure is False:
        label = "HTTP"  # the protocol actually used: an http:// door is not HTTPS
    outcome = observation.outcome
    if outcome in _SOFT_DOOR_OUTCOMES:
        severity = Severity.soft
        phrase = {
            Outcome.http_slow: f"{label} slow",
            Outcome.http_status: f"{label} error status",
            Outcome.http_body_mismatch: f"{label} unexpected content",
        }.get(outcome, f"{label} {outcome}")
    else:
        severity = Severity.hard
        phrase = {
            Outcome.tls_expired: "TLS certificate expired",
            Outcome.tls_invalid: "TLS certificate invalid",
        }.get(outcome, f"{label} unreachable")
    return Signal(
        source=DOOR_PREFIX + observation.check, severity=severity, phrase=phrase, lines=(_line(observation),)
    )


def _status_signal(observations: Sequence[Observation]) -> Signal | None:
    outcomes = {o.outcome for o in observations}
    failing = [o for o in observations if not o.ok]
    if Outcome.status_major in outcomes:
        severity, phrase = Severity.major, "status page reports a major outage"
    elif Outcome.status_minor in outcomes:
        severity, phrase = Severity.minor, "status page reports a minor incident"
    elif observations and len(failing) == len(observations):
        severity, phrase = Severity.weak, "status page unreachable"
    else:
        return None
    return Signal(source=STATUS, severity=severity, phrase=phrase, lines=tuple(_line(o) for o in failing))


_GROUP_SOURCES: Mapping[CheckRole, str] = {
    CheckRole.authoritative: AUTHORITATIVE,
    CheckRole.resolver: RESOLVER,
    CheckRole.status: STATUS,
}


def _source_of(observation: Observation) -> str:
    """Front doors are a source each; the other roles are one source per role."""
    return _GROUP_SOURCES.get(observation.role) or DOOR_PREFIX + observation.check


def classify(signals: Iterable[Signal], sources: Iterable[str]) -> tuple[Health, bool]:
    """The health a set of signals stands for, and whether the evidence is strong.

    * **down**: every door users knock on (the front doors; the DNS groups for a platform
      without any) fails hard, and this is corroborated;
    * **degraded**: corroborated trouble short of that, or the status source reporting a
      major outage on its own;
    * **up** otherwise: a single failing source out of several, or only weak status evidence.

    Corroborated means at least two failing sources (or every source, for a platform with
    one), at least one of them more than weak status evidence. Strong means at least
    ``STRONG_SIGNALS`` failing sources, or every source the platform has.
    """
    failing = {signal.source: signal.severity for signal in signals}
    if not failing:
        return Health.up, False
    all_sources = frozenset(sources) | failing.keys()
    doors = [source for source in all_sources if source.startswith(DOOR_PREFIX)]
    knocked = doors or [source for source in all_sources if source in (AUTHORITATIVE, RESOLVER)]
    substantive = any(severity not in (Severity.weak, Severity.minor) for severity in failing.values())
    corroborated = substantive and len(failing) >= min(2, len(all_sources))
    strong = len(failing) >= STRONG_SIGNALS or len(failing) == len(all_sources)
    if corroborated and knocked and all(failing.get(source) is Severity.hard for source in knocked):
        return Health.down, strong
    if corroborated or failing.get(STATUS) is Severity.major:
        return Health.degraded, strong
    return Health.up, False


def read_platform(observations: Iterable[Observation]) -> Reading:
    """Group one platform's observations of one look by source and classify them."""
    latest = _latest_per_check(observations)
    if all(observation.outcome is Outcome.ok for observation in latest):
        # the common case, kept cheap: the daemon judges every platform every round
        return Reading(
            health=Health.up,
            strong=False,
            signals=(),
            sources=frozenset(_source_of(observation) for observation in latest),
            evidence=(),
            first_failing_at=None,
            checks=len(latest),
        )
    by_role: dict[CheckRole, list[Observation]] = {
        CheckRole.authoritative: [],
        CheckRole.resolver: [],
        CheckRole.front_door: [],
        CheckRole.status: [],
    }
    for observation in latest:
        by_role[observation.role].append(observation)
    signals = [
        _dns_signal(AUTHORITATIVE, "authoritative", by_role[CheckRole.authoritative]),
        _dns_signal(RESOLVER, "resolver", by_role[CheckRole.resolver]),
        *(_door_signal(observation) for observation in by_role[CheckRole.front_door]),
        _status_signal(by_role[CheckRole.status]),
    ]
    present = tuple(signal for signal in signals if signal is not None)
    sources = frozenset(_source_of(observation) for observation in latest)
    health, strong = classify(present, sources)
    failing = tuple(o for group in by_role.values() for o in group if o.outcome is not Outcome.ok)
    return Reading(
        health=health,
        strong=strong,
        signals=present,
        sources=sources,
        evidence=failing,
        first_failing_at=min(o.at for o in failing),
        checks=len(latest),
    )


def common_signals(previous: Iterable[Signal], current: Iterable[Signal]) -> tuple[Signal, ...]:
    """The signals of ``previous`` that ``current`` shows again (same source, same severity)."""
    keys = {signal.key for signal in current}
    return tuple(signal for signal in previous if signal.key in keys)


def cause_line(signals: Iterable[Signal]) -> str:
    """E.g. "authoritative DNS SERVFAIL and HTTPS unreachable"."""
    phrases = _unique(signal.phrase for signal in signals)
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def evidence_lines(signals: Iterable[Signal]) -> tuple[str, ...]:
    return tuple(line for signal in signals for line in signal.lines)
