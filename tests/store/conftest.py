"""Every store test runs against SQLite (a temporary file) and PostgreSQL (this machine's
server, one fresh schema per test, since other suites share the database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from failover.store import Store
from tests.kit import fresh_schema, schema_url
from tests.kit import postgres_user as kit_postgres_user


@pytest.fixture(scope="session")
def postgres_user() -> str:
    """The role to reach the local PostgreSQL as; fails on CI, skips elsewhere if absent."""
    return kit_postgres_user()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'failover.sqlite'}"
        return
    user = request.getfixturevalue("postgres_user")
    with fresh_schema(user) as schema:
        yield schema_url(user, schema)


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
