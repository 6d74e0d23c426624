"""What the probes saw: the configured platforms, raw observations (written in one
driver-level batch per round), their hourly rollups, and retention (``prune``: roll up,
delete old raw rows, give the space back)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, String, column, delete, exists, func, select, true, values

from failover.domain import CheckKind, CheckRole, Observation, Outcome, Platform
from failover.errors import StoreError
from failover.store import _schema as t
from failover.store._rollup import HOUR, aggregate, floor_hour
from failover.store._rows import NAIVE, Rows, utc
from failover.store._types import UTCDateTime
from failover.store._values import HourlyRollup, PruneReport

__all__ = ["ObservationRows"]

_OBSERVATION_COLUMNS = (
    "at",
    "target",
    "check_name",
    "kind",
    "role",
    "outcome",
    "latency_s",
    "detail",
    "is_control",
)


def _insert_observations(placeholder: str) -> str:
    columns = ", ".join(_OBSERVATION_COLUMNS)
    values = ", ".join([placeholder] * len(_OBSERVATION_COLUMNS))
    return f"INSERT INTO observations ({columns}) VALUES ({values})"  # noqa: S608 -- constant names only


class ObservationRows(Rows):
    """Platforms, observations, rollups and retention (mixed into
    :class:`~failover.store.Store`)."""

    # -- probes' results -------------------------------------------------------------------

    def record_platforms(self, platforms: Sequence[Platform], *, now: datetime) -> None:
        """Remember the configured platforms (names, families, display names); the first
        time one is seen is kept."""
        if not platforms:
            return
        rows = [
            {"name": p.name, "family": p.family, "display_name": p.display_name, "first_seen": now}
            for p in platforms
        ]
        with self._translate("cannot record platforms"), self._write() as conn:
            stmt = self._insert(t.platforms)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.platforms.c.name],
                set_={"family": stmt.excluded.family, "display_name": stmt.excluded.display_name},
            )
            conn.execute(stmt, rows)

    def platforms(self) -> dict[str, datetime]:
        """Every platform ever recorded, with the time it was first seen."""
        with self._translate("cannot read platforms"), self._engine.connect() as conn:
            rows = conn.execute(select(t.platforms.c.name, t.platforms.c.first_seen))
            return dict(rows.all())

    def record_observations(self, observations: Sequence[Observation]) -> None:
        """Append raw observations in one batched statement. ``detail`` is cut to its bound;
        per-phase timings and certificate days are not kept (metrics carry them)."""
        if not observations:
            return
        sqlite_times = self.backend == "sqlite"
        times: dict[datetime, object] = {}  # a round shares a handful of timestamps
        rows = []
        for o in observations:
            at = times.get(o.at)
            if at is None:
                if o.at.tzinfo is None or o.at.utcoffset() is None:
                    raise StoreError(f"cannot record observations: {NAIVE}")
                utc = o.at.astimezone(UTC)
                # UTCDateTime's SQLite storage format, exactly as SQLAlchemy writes it
                at = times[o.at] = (
                    utc.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite_times else utc
                )
            rows.append(
                (
                    at,
                    o.target,
                    o.check,
                    o.kind.value,
                    o.role.value,
                    o.outcome.value,
                    o.latency_s,
                    o.detail[: t.DETAIL_MAX],
                    o.is_control,
                )
            )
        # The hot path (one batch per probe round) goes straight to the driver's executemany:
        # SQLAlchemy's per-row parameter processing would cost twice the insert itself.
        statement = _insert_observations("?" if self._engine.dialect.paramstyle == "qmark" else "%s")
        with self._translate("cannot record observations"), self._write() as conn:
            conn.exec_driver_sql(statement, rows)

    def observations(
        self, *, since: datetime, until: datetime | None = None, target: str | None = None
    ) -> list[Observation]:
        """Raw observations in ``[since, until)``, oldest first."""
        o = t.observations.c
        query = select(t.observations).where(o.at >= since).order_by(o.at, o.id)
        if until is not None:
            query = query.where(o.at < until)
        if target is not None:
            query = query.where(o.target == target)
        with self._translate("cannot read observations"), self._engine.connect() as conn:
            return [
                Observation(
                    target=row.target,
                    check=row.check_name,
                    kind=CheckKind(row.kind),
                    role=CheckRole(row.role),
                    outcome=Outcome(row.outcome),
                    at=row.at,
                    latency_s=row.latency_s,
                    detail=row.detail,
                    is_control=row.is_control,
                )
                for row in conn.execute(query)
            ]

    # -- retention -------------------------------------------------------------------------

    def roll_up(self, now: datetime) -> int:
        """Aggregate every complete hour not yet rolled up into ``rollups``; returns the rows
        written. Hours already rolled up are never counted again, so this is idempotent;
        raw observations that arrive for such an hour later are left out of it."""
        end = floor_hour(utc(now))
        o = t.observations.c
        written = 0
        with self._translate("cannot roll up observations"), self._write() as conn:
            watermark = conn.execute(select(func.max(t.rollups.c.hour))).scalar()
            cursor: datetime | None = watermark + HOUR if watermark is not None else None
            while cursor is None or cursor < end:
                query = select(func.min(o.at)).where(o.at < end)
                if cursor is not None:
                    query = query.where(o.at >= cursor)
                first = conn.execute(query).scalar()
                if first is None:
                    break
                hour = floor_hour(first)
                rows = conn.execute(
                    select(o.target, o.check_name, o.is_control, o.outcome, o.latency_s).where(
                        o.at >= hour, o.at < hour + HOUR
                    )
                )
                groups = aggregate(rows)
                conn.execute(
                    self._insert(t.rollups).on_conflict_do_nothing(
                        index_elements=[t.rollups.c.hour, t.rollups.c.target, t.rollups.c.check_name]
                    ),
                    [
                        {"hour": hour, "target": target, "check_name": check, **group.row()}
                        for (target, check), group in groups.items()
                    ],
                )
                written += len(groups)
                cursor = hour + HOUR
        return written

    def rollups(self, *, since: datetime, target: str | None = None) -> list[HourlyRollup]:
        """Hourly rollups from ``since`` on, oldest first."""
        c = t.rollups.c
        query = select(t.rollups).where(c.hour >= since).order_by(c.hour, c.target, c.check_name)
        if target is not None:
            query = query.where(c.target == target)
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            return [
                HourlyRollup(
                    hour=row["hour"],
                    target=row["target"],
                    check=row["check_name"],
                    is_control=row["is_control"],
                    count=row["count"],
                    failures=row["failures"],
                    latency_p50=row["latency_p50"],
                    latency_p95=row["latency_p95"],
                    latency_max=row["latency_max"],
                    outcomes={Outcome(k): int(v) for k, v in row["outcomes"].items()},
                )
                for row in conn.execute(query).mappings()
            ]

    def watched_hours(self, *, since: datetime) -> dict[str, set[datetime]]:
        """Per target, the hours from ``since`` on that were rolled up with at least one
        observation: what the status page's history calls watched. One row per target and
        hour, none of the figures, so that a daemon's first build does not read 90 days of
        rollups in full (status page)."""
        c = t.rollups.c
        query = select(c.target, c.hour).where(c.hour >= since, c.count > 0).distinct()
        hours: dict[str, set[datetime]] = {}
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            for target, hour in conn.execute(query):
                hours.setdefault(target, set()).add(hour)
        return hours

    def watched_spans(self, targets: Collection[str], *, edges: Sequence[datetime]) -> dict[str, set[int]]:
        """Per target of ``targets``, the spans ``i`` (from ``edges[i]`` up to ``edges[i + 1]``,
        ``edges`` in time order) holding an hour rolled up with at least one observation:
        :meth:`watched_hours` cut into days (status page). One row per target and span,
        answered from the ``(target, hour)`` index, so that a daemon's first build does not
        read a row per hour of its 90 days."""
        if len(edges) < 2 or not targets:
            return {}
        c = t.rollups.c
        spans = (
            values(column("i", Integer()), column("start", UTCDateTime()), column("stop", UTCDateTime()))
            .data([(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)])
            .cte("spans")
        )
        names = values(column("target", String())).data([(name,) for name in sorted(targets)]).cte("names")
        query = (
            select(names.c.target, spans.c.i)
            .select_from(names.join(spans, true()))
            .where(
                exists().where(
                    c.target == names.c.target, c.hour >= spans.c.start, c.hour < spans.c.stop, c.count > 0
                )
            )
        )
        found: dict[str, set[int]] = {}
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            for target, index in conn.execute(query):
                found.setdefault(target, set()).add(index)
        return found

    def newest_watched_hour(self, *, since: datetime) -> datetime | None:
        """The newest hour from ``since`` on rolled up with at least one observation, if any."""
        c = t.rollups.c
        query = select(c.hour).where(c.hour >= since, c.count > 0).order_by(c.hour.desc()).limit(1)
        with self._translate("cannot read rollups"), self._engine.connect() as conn:
            newest: datetime | None = conn.execute(query).scalar()
        return newest

    def prune(self, *, now: datetime, keep: timedelta) -> PruneReport:
        """Roll up, then delete raw observations older than ``keep`` (never any not yet
        rolled up). Rollups, transitions, incidents and the outbox are kept. On SQLite the
        freed pages are handed back to the file system, so the file does not keep growing."""
        written = self.roll_up(now)
        cutoff = min(utc(now) - keep, floor_hour(utc(now)))
        with self._translate("cannot prune observations"), self._write() as conn:
            deleted = conn.execute(delete(t.observations).where(t.observations.c.at < cutoff)).rowcount
        pages = self._give_back_space() if self.backend == "sqlite" else 0
        return PruneReport(
            cutoff=cutoff, rollups_written=written, observations_deleted=deleted, pages_freed=pages
        )

    def _give_back_space(self) -> int:
        with self._translate("cannot vacuum the database"):
            raw = self._engine.raw_connection()
            try:
                driver: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
                before = driver.execute("PRAGMA freelist_count").fetchone()[0]
                # execute() steps a statement once, and this pragma frees one page per step;
                # executescript() runs it to completion
                driver.executescript("PRAGMA incremental_vacuum;")
                after = driver.execute("PRAGMA freelist_count").fetchone()[0]
                # the big delete also inflated the write-ahead log: fold it in and truncate it
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.close()
        return int(before) - int(after)
