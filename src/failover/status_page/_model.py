"""What the status site is built from, and what a build gives: frozen values only.

The composition root gathers a :class:`Snapshot` (each platform's judged health, the
journal's incidents and transitions, the days the platforms were watched) and hands it to
:func:`failover.status_page.build_site` with a :class:`Wording`: the public words of the
notifier, injected so that this package never imports a sibling.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from failover.domain import Health, Incident, IncidentEvent, Transition

__all__ = [
    "PlatformNow",
    "PublicText",
    "Site",
    "SiteFile",
    "Snapshot",
    "Wording",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformNow:
    """A platform's health as last judged; ``since`` is None before its first round."""

    name: str
    health: Health
    since: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """Everything one build needs besides the configuration, read at ``now``.

    ``incidents`` are those open at any time of the history window (the journal's
    ``incidents(since=…)``), ``transitions`` those of the window, oldest first.
    ``observed_days`` holds, per platform, the days (in the site's time zone) on which the
    daemon watched it, as its hourly rollups show; ``watched_from`` the time after which
    the rollups do not reach yet (the hours not yet rolled up), with the time each platform
    was first watched in ``first_seen``: from then on a day counts as watched without a
    rollup. A platform never judged has no ``first_seen``.
    """

    now: datetime
    platforms: Sequence[PlatformNow]
    incidents: Sequence[Incident] = ()
    transitions: Sequence[Transition] = ()
    observed_days: Mapping[str, Collection[date]] = field(default_factory=dict)
    watched_from: datetime | None = None
    first_seen: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicText:
    """An incident's public text for one event: what a public channel would post."""

    subject: str
    body: str


class Wording(Protocol):
    """The public words the notifier writes, so that the page, the feed and a public post
    say the same thing. Every method is pure; texts name no contact."""

    def incident_text(
        self, incident: Incident, event: IncidentEvent, *, language: str, now: datetime, alternatives: bool
    ) -> PublicText:
        """The public template's text of ``event`` of ``incident`` in ``language``, with the
        organisation's alternatives or without them (the page shows them apart)."""
        ...

    def time(self, moment: datetime, *, language: str) -> str:
        """``4 October 2021 at 17:40 CEST`` in the organisation's time zone."""
        ...

    def duration(self, span: timedelta, *, language: str) -> str:
        """``6 h 5 min``, ``3 days``: as people say it."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SiteFile:
    """One file of the site: its path relative to the site's root (``/``-separated), its
    bytes and its media type."""

    path: str
    content: bytes
    media_type: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Site:
    """A whole build: self-contained files (every link relative), ``generated_at`` the
    snapshot's time. ``pages`` maps each language to its page's path; ``default_language``
    is the one of ``index.html``."""

    files: Mapping[str, SiteFile]
    generated_at: datetime
    default_language: str
    pages: Mapping[str, str]

    def __getitem__(self, path: str) -> SiteFile:
        return self.files[path]

    @property
    def size(self) -> int:
        """Bytes in every file together."""
        return sum(len(f.content) for f in self.files.values())
