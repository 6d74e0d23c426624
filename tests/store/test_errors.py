"""Failures surface as StoreError, and never show a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover.errors import StoreError
from failover.store import Store

SECRET = "s3cr3t-Passw0rd"


class TestErrors:
    """Database failures become StoreError with secret-free messages."""

    @pytest.mark.parametrize(
        "url",
        [
            f"postgresql+psycopg://failover:{SECRET}@127.0.0.1:1/failover",  # nothing listens on port 1
            f"postgresql://failover:{SECRET}@127.0.0.1:1/failover",
            f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/no_such_database",
        ],
    )
    def test_password_never_in_the_message(self, url: str) -> None:
        """The message names the database with the password masked."""
        with pytest.raises(StoreError) as caught:
            Store.open(url)
        message = str(caught.value)
        assert SECRET not in message
        assert "***" in message
        assert message.startswith("cannot open database")

    @pytest.mark.parametrize("url", [f"postgresql+psycopg://u:{SECRET}@[bad", f"mysql://u:{SECRET}@h/d", ""])
    def test_malformed_or_unsupported_urls(self, url: str) -> None:
        """A URL that cannot be used is refused without being repeated."""
        with pytest.raises(StoreError) as caught:
            Store.open(url)
        assert SECRET not in str(caught.value)

    def test_unwritable_location(self, tmp_path: Path) -> None:
        """A SQLite file under a regular file cannot be created."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(StoreError, match="cannot create the directory"):
            Store.open(f"sqlite:///{blocker / 'sub' / 'db.sqlite'}")

    def test_query_failures_are_store_errors(self, tmp_path: Path) -> None:
        """A database without its tables raises StoreError, not a library error."""
        path = tmp_path / "gone.sqlite"
        with (
            Store.open(f"sqlite:///{path}") as store,
            pytest.raises(StoreError, match="cannot read incidents: OperationalError: no such table"),
        ):
            store.open_incidents()
