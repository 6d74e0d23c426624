"""What the demo prints: the timeline, what each contact received, the measured latencies.

rich is imported where a table is drawn, never at import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from failover.demo._world import World

__all__ = ["Measurement", "Timeline", "print_latencies", "print_received"]


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One outage of the scenario: when it went dark, was confirmed, reached a first inbox."""

    label: str
    dark_at: datetime
    confirmed_at: datetime
    mailed_at: datetime


@dataclass(kw_only=True)
class Timeline:
    """The moments of the scenario, drawn in order of time since ``started``."""

    started: datetime
    lines: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, moment: datetime, text: str) -> None:
        """Note what happened at ``moment`` (rich markup allowed)."""
        self.lines.append((moment, text))

    def render(self, console: Console) -> None:
        """Draw the timeline as a table."""
        from rich.table import Table

        table = Table(title="Timeline", title_justify="left")
        table.add_column("t (s)", justify="right")
        table.add_column("what happened")
        for moment, text in sorted(self.lines, key=lambda line: line[0]):
            table.add_row(f"{(moment - self.started).total_seconds():6.1f}", text)
        console.print(table)


def print_latencies(console: Console, measurements: list[Measurement]) -> None:
    """Draw dark → confirmed → first notice for each outage."""
    from rich.table import Table

    table = Table(title="Latencies", title_justify="left")
    for column in ("outage", "dark → confirmed", "confirmed → first notice", "dark → first notice"):
        table.add_column(column, justify="right" if "→" in column else "left")
    for measured in measurements:
        table.add_row(
            measured.label,
            f"{(measured.confirmed_at - measured.dark_at).total_seconds():.1f} s",
            f"{(measured.mailed_at - measured.confirmed_at).total_seconds():.2f} s",
            f"{(measured.mailed_at - measured.dark_at).total_seconds():.1f} s",
        )
    console.print(table)


def print_received(console: Console, world: World, timeline: Timeline) -> None:
    """Draw every e-mail and webhook post the contacts received, in order of arrival."""
    from rich.table import Table

    table = Table(title="What each contact received", title_justify="left")
    table.add_column("t (s)", justify="right")
    table.add_column("to")
    table.add_column("via")
    table.add_column("subject")
    rows: list[tuple[datetime, str, str, str]] = [(m.at, m.to, "e-mail", m.subject) for m in world.mails()]
    for post in world.posts():
        try:
            title = str(json.loads(post.body).get("title", ""))
        except ValueError:
            title = "?"
        rows.append((post.at, "Chloé", "WhatsApp bridge (webhook)", title))
    for at, to, via, subject in sorted(rows):
        table.add_row(f"{(at - timeline.started).total_seconds():6.1f}", to, via, subject)
    console.print(table)
