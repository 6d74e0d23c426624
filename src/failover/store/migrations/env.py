"""Alembic environment of the store.

``Store.upgrade`` hands over an open connection in ``config.attributes["connection"]``;
run by hand (``alembic -x url=…``), the URL comes from ``-x url=`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from failover.store._schema import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database: pass -x url=… or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()


main()
