"""Hourly aggregation of raw observations: pure functions, no database."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from failover.domain import Outcome

__all__ = ["HOUR", "Aggregate", "aggregate", "floor_hour", "percentile"]

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile of sorted values, interpolating linearly between the
    closest ranks (PostgreSQL's ``percentile_cont``, NumPy's default)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return ordered[lower]
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


@dataclass(slots=True)
class Aggregate:
    """One (target, check) over one hour, while it is being counted."""

    is_control: bool
    count: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def row(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        return {
            "is_control": self.is_control,
            "count": self.count,
            "failures": self.failures,
            "latency_p50": percentile(ordered, 0.50),
            "latency_p95": percentile(ordered, 0.95),
            "latency_max": ordered[-1] if ordered else None,
            "outcomes": dict(sorted(self.outcomes.items())),
        }


def aggregate(
    rows: Iterable[tuple[str, str, bool, str, float | None]],
) -> dict[tuple[str, str], Aggregate]:
    """Count ``(target, check, is_control, outcome, latency_s)`` rows per target and check."""
    groups: dict[tuple[str, str], Aggregate] = {}
    for target, check, is_control, outcome, latency in rows:
        group = groups.get((target, check))
        if group is None:
            group = groups[(target, check)] = Aggregate(is_control=bool(is_control))
        group.count += 1
        if outcome != Outcome.ok:
            group.failures += 1
        if latency is not None:
            group.latencies.append(latency)
        group.outcomes[outcome] += 1
    return groups
