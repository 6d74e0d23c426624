"""Every store test runs against SQLite (a temporary file) and PostgreSQL (this machine's
server, one fresh schema per test, since other suites share the database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from failover.store import Store

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DATABASE = "test"
PG_USERS = ("postgres", "root")


def _postgres_user() -> str | None:
    for user in PG_USERS:
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, connect_timeout=3
            ):
                return user
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="session")
def postgres_user() -> str:
    """The role to reach the local PostgreSQL as; fails on CI, skips elsewhere if absent."""
    user = _postgres_user()
    if user is None:
        message = f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}/{PG_DATABASE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return user


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'failover.sqlite'}"
        return
    user = request.getfixturevalue("postgres_user")
    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        # search_path puts every table, Alembic's version table included, into the schema
        yield (
            f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, autocommit=True
        ) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[[], Store]]:
    """Opens (and finally closes) stores on the test's database, as restarts would."""
    opened: list[Store] = []

    def open_() -> Store:
        store = Store.open(store_url)
        opened.append(store)
        store.upgrade()
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    """A migrated, empty store on each backend."""
    return open_store()
