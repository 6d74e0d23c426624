"""The schema: migrations, the front door, the UTC type, SQLite's settings."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.schema import CreateIndex

import failover.store
from failover.domain import CheckKind, CheckRole, Observation, Outcome
from failover.errors import StoreError
from failover.store import Store
from failover.store._migrate import HEAD_REVISION, alembic_config, current_revision
from failover.store._schema import metadata, notices

T0 = datetime(2024, 10, 4, 15, 40, tzinfo=UTC)


class TestFrontDoor:
    """The package exports exactly its public names."""

    def test_all_is_complete(self) -> None:
        """Every public name of the package is in ``__all__`` and every entry exists."""
        public = {name for name in vars(failover.store) if not name.startswith("_")}
        assert set(failover.store.__all__) == public
        assert all(hasattr(failover.store, name) for name in failover.store.__all__)


class TestUpgrade:
    """Alembic brings an empty database to the newest schema, once."""

    def test_upgrade_is_idempotent(self, store: Store) -> None:
        """A second upgrade (a restart) changes nothing and the data stays."""
        store.record_observations([_observation(T0)])
        store.upgrade()
        store.upgrade()
        assert len(store.observations(since=T0)) == 1

    def test_head_revision_is_alembics_head(self, store: Store) -> None:
        """The constant that lets a current database skip Alembic names the newest
        migration, and a migrated database is at it."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head == HEAD_REVISION
        with store._engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION

    def test_a_current_database_is_not_migrated_again(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At head, an upgrade never reaches Alembic (a restart stays light)."""
        import alembic.command

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("Alembic ran on a current database")

        monkeypatch.setattr(alembic.command, "upgrade", refuse)
        store.upgrade()

    def test_migrations_match_the_tables_the_store_queries(self, store: Store) -> None:
        """Migration 0001 creates exactly the schema the code declares."""
        engine = store._engine  # the store's own engine, schema and search_path included
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == []
        assert tables == set(metadata.tables) | {"alembic_version"}

    def test_unfinished_notices_have_a_partial_index(self, store: Store) -> None:
        """The outbox's hot path is served by an index on pending and sending notices only."""
        with store._engine.connect() as conn:
            indexes = {ix["name"]: ix for ix in inspect(conn).get_indexes("notices")}
        reflected = indexes["ix_notices_unfinished"]["dialect_options"][f"{store.backend}_where"]
        assert "pending" in str(reflected)
        assert "sending" in str(reflected)
        # the code's own definition says the same on this backend (on PostgreSQL the
        # predicate is added when the store opens the database, not at import)
        [declared] = [ix for ix in notices.indexes if ix.name == "ix_notices_unfinished"]
        ddl = str(CreateIndex(declared).compile(dialect=store._engine.dialect))
        assert ddl.endswith("WHERE state IN ('pending', 'sending')")

    def test_a_sqlite_store_leaves_the_postgresql_dialect_unimported(self, tmp_path: Path) -> None:
        """A SQLite daemon does not carry PostgreSQL's dialect and drivers in memory (the
        database is migrated beforehand, as the systemd unit does before each start)."""
        url = f"sqlite:///{tmp_path / 'failover.sqlite'}"
        with Store.open(url) as store:
            store.upgrade()
        script = (
            "import sys\n"
            "from datetime import UTC, datetime\n"
            "from failover.store import Store\n"
            f"store = Store.open({url!r})\n"
            "store.upgrade()\n"
            "store.claim_notices(now=datetime.now(UTC))\n"
            "store.close()\n"
            "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.postgresql')))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "[]"


class TestUTCDateTime:
    """Times go in and come out timezone-aware UTC on every backend."""

    def test_other_zones_come_back_as_utc(self, store: Store) -> None:
        """A time given in another zone is the same instant, expressed in UTC."""
        paris = timezone(timedelta(hours=2))
        store.record_observations([_observation(T0.astimezone(paris))])
        [back] = store.observations(since=T0 - timedelta(seconds=1))
        assert back.at == T0
        assert back.at.tzinfo is UTC

    def test_naive_times_are_refused(self, store: Store) -> None:
        """A naive datetime raises instead of being guessed at."""
        with pytest.raises(StoreError, match="naive datetime"):
            store.record_observations([_observation(T0.replace(tzinfo=None))])
        assert store.observations(since=T0 - timedelta(days=1)) == []


class TestSQLiteSettings:
    """A SQLite file is opened for a long-lived daemon with concurrent readers."""

    def test_pragmas_and_directory(self, tmp_path: Path) -> None:
        """WAL, incremental auto-vacuum and a created parent directory."""
        path = tmp_path / "deep" / "er" / "failover.sqlite"
        with Store.open(f"sqlite:///{path}") as store:
            store.upgrade()
            with store._engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
        raw.close()

    def test_in_memory_database(self) -> None:
        """``sqlite://`` works for throwaway runs (one shared connection)."""
        with Store.open("sqlite://") as store:
            store.upgrade()
            store.record_observations([_observation(T0)])
            assert len(store.observations(since=T0)) == 1

    def test_created_engine_can_be_passed_in(self, tmp_path: Path) -> None:
        """A store built around a caller's engine leaves disposing it to the caller."""
        engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
        try:
            with Store(engine) as store:
                store.upgrade()
                assert store.backend == "sqlite"
            with engine.connect() as conn:
                assert "incidents" in inspect(conn).get_table_names()
        finally:
            engine.dispose()


def _observation(at: datetime) -> Observation:
    return Observation(
        target="whatsapp",
        check="dns-system",
        kind=CheckKind.dns,
        role=CheckRole.resolver,
        outcome=Outcome.ok,
        at=at,
        latency_s=0.012,
    )
