"""``failover config validate|show|init`` (filled in with the configuration loader)."""

from __future__ import annotations

from failover.cli._main import main


@main.group()
def config() -> None:
    """Validate, show or create the configuration file."""
