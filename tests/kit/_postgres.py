"""This machine's PostgreSQL (127.0.0.1:5432, trust auth, database ``test``), shared by
other suites: each test gets a schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

__all__ = ["PG_DATABASE", "PG_HOST", "PG_PORT", "fresh_schema", "postgres_user", "schema_url"]

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DATABASE = "test"
PG_USERS = ("postgres", "root")


def _reachable_user() -> str | None:
    for user in PG_USERS:
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, connect_timeout=3
            ):
                return user
        except psycopg.Error:
            continue
    return None


def postgres_user() -> str:
    """The role to reach the server as; the test fails on CI, and is skipped elsewhere,
    when the server is absent."""
    user = _reachable_user()
    if user is None:
        message = f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}/{PG_DATABASE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return user


def schema_url(user: str, schema: str, *, port: int = PG_PORT) -> str:
    """A URL whose tables, Alembic's version table included, all go into ``schema``."""
    return f"postgresql+psycopg://{user}@{PG_HOST}:{port}/{PG_DATABASE}?options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema(user: str) -> Iterator[str]:
    """A new, empty schema's name, dropped with all it holds at the end."""
    schema = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user, autocommit=True
        ) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
