"""Hourly rollups and pruning of raw observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
from failover.store import HourlyRollup, Store
from failover.store._rollup import percentile

H0 = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def observation(at: datetime, *, outcome: Outcome = Outcome.ok, latency: float | None = 0.1) -> Observation:
    return Observation(
        target="instagram",
        check="https",
        kind=CheckKind.http,
        role=CheckRole.front_door,
        outcome=outcome,
        at=at,
        latency_s=latency,
    )


class TestPercentile:
    """Percentiles interpolate linearly between the closest ranks."""

    @pytest.mark.parametrize(
        ("values", "fraction", "expected"),
        [
            ([], 0.5, None),
            ([3.0], 0.95, 3.0),
            ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
            ([float(v) for v in range(1, 101)], 0.95, 95.05),
            ([float(v) for v in range(1, 101)], 0.5, 50.5),
        ],
    )
    def test_table(self, values: list[float], fraction: float, expected: float | None) -> None:
        """Known inputs give the textbook answers."""
        assert percentile(values, fraction) == pytest.approx(expected)


class TestRollUp:
    """Complete hours are aggregated once per target and check."""

    def test_counts_failures_and_percentiles(self, store: Store) -> None:
        """One hour of 100 results: counts, failures, p50/p95/max and outcome counts."""
        rows = [
            observation(
                H0 + timedelta(seconds=30 * i),
                outcome=Outcome.http_status if i < 10 else Outcome.ok,
                latency=(i + 1) / 100,
            )
            for i in range(100)
        ]
        rows.append(observation(H0 + timedelta(seconds=5), outcome=Outcome.http_timeout, latency=None))
        rows.append(observation(H0 + HOUR + timedelta(minutes=1)))  # the next, incomplete hour
        store.record_observations(rows)
        assert store.roll_up(H0 + HOUR + timedelta(minutes=30)) == 1
        assert store.rollups(since=H0) == [
            HourlyRollup(
                hour=H0,
                target="instagram",
                check="https",
                is_control=False,
                count=101,
                failures=11,
                latency_p50=pytest.approx(0.505),  # type: ignore[arg-type]
                latency_p95=pytest.approx(0.9505),  # type: ignore[arg-type]
                latency_max=1.0,
                outcomes={Outcome.ok: 90, Outcome.http_status: 10, Outcome.http_timeout: 1},
            )
        ]

    def test_idempotent(self, store: Store) -> None:
        """Rolling up the same hours again counts nothing twice; later hours are added."""
        store.record_observations([observation(H0 + timedelta(minutes=m)) for m in range(0, 60, 10)])
        store.record_observations([observation(H0 + HOUR + timedelta(minutes=m)) for m in range(0, 60, 20)])
        assert store.roll_up(H0 + HOUR) == 1
        assert store.roll_up(H0 + HOUR + timedelta(minutes=59)) == 0
        assert store.roll_up(H0 + 2 * HOUR) == 1
        assert store.roll_up(H0 + 3 * HOUR) == 0
        assert [(r.hour, r.count) for r in store.rollups(since=H0)] == [(H0, 6), (H0 + HOUR, 3)]

    @pytest.mark.slow
    def test_naive_now_is_refused(self, store: Store) -> None:
        """``now`` without a zone would be read as local time; it is refused instead."""
        with pytest.raises(ValueError, match="naive"):
            store.roll_up(H0.replace(tzinfo=None))

    def test_gaps_are_skipped(self, store: Store) -> None:
        """Hours without observations produce no rows, and hours after a gap still count."""
        store.record_observations([observation(H0), observation(H0 + 30 * 24 * HOUR)])
        assert store.roll_up(H0 + 31 * 24 * HOUR) == 2
        assert [r.hour for r in store.rollups(since=H0, target="instagram")] == [H0, H0 + 30 * 24 * HOUR]
        assert store.rollups(since=H0, target="nobody") == []


class TestPrune:
    """Old raw observations go; what the journal and the graphs need stays."""

    def test_keeps_rollups_and_incidents(self, store: Store) -> None:
        """Rows older than ``keep`` are rolled up, then deleted; newer rows, rollups and
        incidents stay."""
        days = [H0 - timedelta(days=d) for d in (9, 8, 1, 0)]
        store.record_observations([observation(day + timedelta(minutes=m)) for day in days for m in range(3)])
        incident = Incident(
            key="platform:instagram:old",
            scope=IncidentScope.platform,
            kind=IncidentKind.degraded,
            name="instagram",
            platforms=("instagram",),
            opened_at=days[0],
            resolved_at=days[0] + HOUR,
        )
        store.record_decision(at=days[0], incident_events=[(IncidentEvent.opened, incident)])
        now = H0 + timedelta(minutes=30)
        report = store.prune(now=now, keep=timedelta(days=7))
        assert report.cutoff == now - timedelta(days=7)
        assert report.observations_deleted == 6
        assert report.rollups_written == 3  # the current hour is not complete yet
        remaining = store.observations(since=H0 - timedelta(days=30))
        assert [o.at for o in remaining] == [d + timedelta(minutes=m) for d in days[2:] for m in range(3)]
        assert [r.hour for r in store.rollups(since=H0 - timedelta(days=30))] == days[:3]
        assert [e.incident.key for e in store.incidents()] == ["platform:instagram:old"]
        again = store.prune(now=now, keep=timedelta(days=7))
        assert (again.observations_deleted, again.rollups_written) == (0, 0)

    def test_never_deletes_what_is_not_rolled_up(self, store: Store) -> None:
        """With a retention shorter than an hour, the incomplete hour's rows survive."""
        store.record_observations([observation(H0 + timedelta(minutes=m)) for m in (1, 20, 40)])
        report = store.prune(now=H0 + timedelta(minutes=50), keep=timedelta(minutes=5))
        assert report.observations_deleted == 0
        assert len(store.observations(since=H0)) == 3

    @pytest.mark.slow
    def test_sqlite_file_gives_space_back(self, store: Store) -> None:
        """On SQLite, pruning many rows hands the freed pages back to the file system."""
        if store.backend != "sqlite":
            pytest.skip("PostgreSQL reuses space through autovacuum")
        old = H0 - timedelta(days=10)
        store.record_observations(
            [
                Observation(
                    target=f"p{i % 10}",
                    check="https",
                    kind=CheckKind.http,
                    role=CheckRole.front_door,
                    outcome=Outcome.ok,
                    at=old + timedelta(seconds=i),
                    detail="x" * 200,
                )
                for i in range(20_000)
            ]
        )
        report = store.prune(now=H0, keep=timedelta(days=7))
        assert report.observations_deleted == 20_000
        assert report.pages_freed > 100
