"""Store benchmark: observation write rate, bytes per day, and size under retention.

    .venv/bin/python bench/store.py [--url URL] [--weeks N] [--rows N]

Without ``--url`` it runs on a temporary SQLite file, and on this machine's PostgreSQL
(``postgresql+psycopg://postgres@127.0.0.1:5432/test``, in a throwaway schema) when reachable.
The retention simulation (synthetic timestamps, one prune per simulated day, 7-day retention)
runs on SQLite unless ``--url`` names another database. A PostgreSQL ``--url`` gets the tables
in its search_path and its observations and rollups deleted: point it at a throwaway schema.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url, text

from failover.domain import CheckKind, CheckRole, Observation, Outcome, Platform
from failover.store import Store

CATALOG = Path(__file__).resolve().parent.parent / "src" / "failover" / "catalog.toml"
#: the default interval between two rounds of a platform
INTERVAL_S = int(next(f.default for f in fields(Platform) if f.name == "interval_s"))
KEEP = timedelta(days=7)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 1, 6, tzinfo=UTC)
CheckSpec = tuple[str, str, CheckKind, CheckRole, bool]
ROLES = {"dns": CheckRole.resolver, "tcp": CheckRole.front_door, "tls": CheckRole.front_door}


def catalog_checks() -> list[CheckSpec]:
    """(target, check, kind, role, is_control) of every check in the built-in catalog."""
    data = tomllib.loads(CATALOG.read_text(encoding="utf-8"))
    checks: list[CheckSpec] = []
    for section, is_control in (("platforms", False), ("controls", True)):
        for target, spec in data.get(section, {}).items():
            for check in spec.get("checks", []):
                kind = CheckKind(check["kind"])
                role = {
                    CheckKind.http: CheckRole.front_door,
                    CheckKind.statuspage: CheckRole.status,
                }.get(kind, ROLES.get(check["kind"], CheckRole.resolver))
                if check.get("via") == "authoritative":
                    role = CheckRole.authoritative
                checks.append((target, check["name"], kind, role, is_control))
    return checks


def round_of(checks: list[CheckSpec], at: datetime, n: int) -> list[Observation]:
    """One probe round; every 50th result fails, latencies spread over 20-400 ms."""
    return [
        Observation(
            target=target,
            check=check,
            kind=kind,
            role=role,
            outcome=Outcome.ok if (n + i) % 50 else Outcome.http_timeout,
            at=at,
            latency_s=0.02 + ((n * 7 + i * 13) % 380) / 1000,
            detail="" if (n + i) % 50 else "read timed out after 10.0 s",
            is_control=is_control,
        )
        for i, (target, check, kind, role, is_control) in enumerate(checks)
    ]


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    """A throwaway schema on the local PostgreSQL, or None when it is not reachable."""
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True)
    except psycopg.Error:
        yield None
        return
    schema = f"bench_{uuid.uuid4().hex}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def size_bytes(store: Store, sqlite_path: Path | None) -> int:
    """The database's footprint: file plus write-ahead log on SQLite, the schema's relations
    (tables, indexes, TOAST) on PostgreSQL."""
    if sqlite_path is not None:
        wal = sqlite_path.with_name(sqlite_path.name + "-wal")
        return sqlite_path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    with store._engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            ).scalar_one()
        )


def bench_writes(url: str, label: str, rows: int, checks: list[CheckSpec]) -> None:
    print(f"\n## {label}: observation writes ({rows:,} rows)")
    for batch_rounds in (1, 100):
        with Store.open(url) as store:
            store.upgrade()
            per_batch = len(checks) * batch_rounds
            batches = max(1, rows // per_batch)
            payload = [
                [
                    o
                    for r in range(batch_rounds)
                    for o in round_of(
                        checks, START + timedelta(seconds=INTERVAL_S * (b * batch_rounds + r)), b + r
                    )
                ]
                for b in range(batches)
            ]
            began = time.perf_counter()
            for batch in payload:
                store.record_observations(batch)
            elapsed = time.perf_counter() - began
            written = batches * per_batch
            print(
                f"batch of {per_batch:>5} rows ({batch_rounds:>3} round(s)), one transaction each: "
                f"{written / elapsed:>9,.0f} rows/s  ({elapsed:.2f} s)"
            )
            with store._engine.begin() as conn:
                conn.execute(text("DELETE FROM observations"))


def bench_bytes_per_day(url: str, label: str, sqlite_path: Path | None, checks: list[CheckSpec]) -> float:
    rounds = 86_400 // INTERVAL_S
    with Store.open(url) as store:
        store.upgrade()
        empty = size_bytes(store, sqlite_path)
        batch: list[Observation] = []
        for n in range(rounds):
            batch.extend(round_of(checks, START + timedelta(seconds=INTERVAL_S * n), n))
            if len(batch) >= 5000:
                store.record_observations(batch)
                batch = []
        store.record_observations(batch)
        if sqlite_path is not None:
            store._give_back_space()  # checkpoint, so the WAL does not count twice
        else:
            with store._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE observations"))
        full = size_bytes(store, sqlite_path)
    per_day = full - empty
    rows = rounds * len(checks)
    print(f"\n## {label}: one day at {INTERVAL_S} s, {len(checks)} checks = {rows:,} rows")
    print(f"raw observations: {per_day / 1e6:.1f} MB/day, {per_day / rows:.0f} bytes/row (indexes included)")
    return per_day


def bench_retention(
    url: str, label: str, sqlite_path: Path | None, weeks: int, checks: list[CheckSpec]
) -> None:
    rounds = 86_400 // INTERVAL_S
    print(f"\n## {label}: {weeks} weeks, pruned daily, keep {KEEP.days} days")
    print("day  rows kept   rollups  size MB  prune s")
    with Store.open(url) as store:
        store.upgrade()
        for day in range(weeks * 7):
            day_start = START + timedelta(days=day)
            batch: list[Observation] = []
            for n in range(rounds):
                batch.extend(round_of(checks, day_start + timedelta(seconds=INTERVAL_S * n), n))
                if len(batch) >= 10_000:
                    store.record_observations(batch)
                    batch = []
            store.record_observations(batch)
            began = time.perf_counter()
            store.prune(now=day_start + timedelta(days=1), keep=KEEP)
            pruned_in = time.perf_counter() - began
            with store._engine.connect() as conn:
                kept = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
                rollups = conn.execute(text("SELECT count(*) FROM rollups")).scalar_one()
            size_mb = size_bytes(store, sqlite_path) / 1e6
            print(f"{day + 1:>3} {kept:>10,} {rollups:>9,} {size_mb:>8.1f} {pruned_in:>8.2f}")


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model}), {ram:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="benchmark this database only")
    parser.add_argument("--weeks", type=int, default=4, help="weeks of the retention simulation")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the write benchmark")
    args = parser.parse_args()
    checks = catalog_checks()
    controls = sum(1 for c in checks if c[4])
    print(f"# store benchmark, {datetime.now(UTC):%Y-%m-%d}, {machine()}")
    print(
        f"catalog: {len({c[0] for c in checks if not c[4]})} platforms, {len(checks) - controls} checks; "
        f"{len({c[0] for c in checks if c[4]})} controls, {controls} checks; {len(checks)} rows per round"
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, postgres_schema() as pg_url:
        sqlite_path = Path(tmp) / "bench.sqlite"
        targets: list[tuple[str, str, Path | None]]
        if args.url:
            given = make_url(args.url)
            given_path = (
                Path(given.database) if given.get_backend_name() == "sqlite" and given.database else None
            )
            targets = [(args.url, given.get_backend_name(), given_path)]
        else:
            targets = [(f"sqlite:///{sqlite_path}", "SQLite", sqlite_path)]
            if pg_url:
                targets.append((pg_url, "PostgreSQL", None))
        for url, label, _path in targets:
            bench_writes(url, label, args.rows, checks)
        for url, label, path in targets:
            if path is not None:
                path.unlink(missing_ok=True)
                path.with_name(path.name + "-wal").unlink(missing_ok=True)
                path.with_name(path.name + "-shm").unlink(missing_ok=True)
            bench_bytes_per_day(url, label, path, checks)
        url, label, path = targets[0]
        if path is not None:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        else:
            with Store.open(url) as store, store._engine.begin() as conn:
                conn.execute(text("DELETE FROM observations"))
                conn.execute(text("DELETE FROM rollups"))
        bench_retention(url, label, path, args.weeks, checks)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
