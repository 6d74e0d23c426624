"""Alembic, run from code: the migrations ship inside the package.

Alembic is imported only when the schema is behind: a daemon restarting on a current
database never loads it, which keeps about 10 MiB out of its resident memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from failover.errors import StoreError
from failover.store._engine import describe

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MIGRATIONS", "alembic_config", "current_revision", "upgrade_to_head"]

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration's revision; a test keeps it equal to Alembic's head.
HEAD_REVISION = "0008"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, read without Alembic; None on an empty one."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_to_head(connection: Connection) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    if current_revision(connection) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(connection), "head")
    except CommandError as exc:
        password = connection.engine.url.password
        shown = password if isinstance(password, str) else None
        raise StoreError(f"cannot migrate the database: {describe(exc, password=shown)}") from exc
