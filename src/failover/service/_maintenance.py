"""Recurring maintenance windows (``[[maintenance]]``): when each occurs, which incidents
it covers, what it does to their notices, and how the platforms fared across it.

A window starts on each of its days at its wall-clock time in its zone and lasts its
duration in elapsed time. A start time the clocks skip that day (spring forward) falls as
many minutes later as the clocks jumped; one they pass twice (fall back) is the first.

While a window covers an incident (it names one of its platforms, its family or ``*``),
the incident's notices are held until the window ends, then go out as usual; an incident
that opened and resolved within one occurrence tells nobody (its notices end
``silenced``). A manual failover is an operator's deliberate act: never held.

Everything here but :class:`MaintenanceWatch` is pure; the watch keeps what it saw at
each window's start to compare with what it sees at its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from failover.config import Config, MaintenanceWindow
from failover.domain import Health, Incident, IncidentEvent, IncidentKind

__all__ = [
    "MaintenanceEnded",
    "MaintenanceHold",
    "MaintenanceQuiet",
    "MaintenanceWatch",
    "Occurrence",
    "WindowSchedule",
    "maintenance_schedule",
    "maintenance_verdict",
    "next_occurrence",
    "occurrence_at",
    "window_covers",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Occurrence:
    """One occurrence of a window, in UTC: from ``start`` (included) to ``end`` (excluded)."""

    window: str
    start: datetime
    end: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _starts(window: MaintenanceWindow, first: datetime, last: datetime) -> list[datetime]:
    """The window's starts (UTC) on the local days from ``first``'s to ``last``'s."""
    zone = ZoneInfo(window.timezone or "UTC")
    day = first.astimezone(zone).date()
    last_day = last.astimezone(zone).date()
    starts: list[datetime] = []
    while day <= last_day:
        if day.weekday() in window.days:
            # fold=0: a skipped time is read with the offset before the jump (so it falls
            # after it), a repeated one is its first passing
            local = datetime(
                day.year, day.month, day.day, window.start.hour, window.start.minute, tzinfo=zone
            )
            starts.append(local.astimezone(UTC))
        day += timedelta(days=1)
    return starts


def occurrence_at(window: MaintenanceWindow, at: datetime) -> Occurrence | None:
    """The occurrence of ``window`` in force at ``at``, if any (the latest to start)."""
    in_force = [
        start
        for start in _starts(window, at - window.duration - timedelta(days=1), at)
        if start <= at < start + window.duration
    ]
    if not in_force:
        return None
    start = max(in_force)
    return Occurrence(window=window.name, start=start, end=start + window.duration)


def next_occurrence(window: MaintenanceWindow, after: datetime) -> Occurrence | None:
    """The first occurrence of ``window`` that starts after ``after``."""
    for start in _starts(window, after, after + timedelta(days=8)):
        if start > after:
            return Occurrence(window=window.name, start=start, end=start + window.duration)
    return None  # a window with no days (the configuration never builds one)


def _families_of(config: Config, incident: Incident) -> set[str]:
    families = {p.family for name in incident.platforms if (p := config.platform(name)) and p.family}
    if incident.scope.value == "family":
        families.add(incident.name)
    return families


def window_covers(config: Config, window: MaintenanceWindow, incident: Incident) -> bool:
    """Whether ``window`` names the incident, one of its platforms, its family or ``*``."""
    names = {"*", incident.name, *incident.platforms, *_families_of(config, incident)}
    return not names.isdisjoint(window.platforms)


@dataclass(frozen=True, kw_only=True, slots=True)
class MaintenanceHold:
    """A notice waits: ``occurrence`` is in force; it is due again at its end."""

    occurrence: Occurrence


@dataclass(frozen=True, kw_only=True, slots=True)
class MaintenanceQuiet:
    """A notice is not sent: its incident opened and resolved within ``occurrence``."""

    occurrence: Occurrence

    @property
    def detail(self) -> str:
        o = self.occurrence
        return (
            f"maintenance {o.window} ({o.start:%Y-%m-%d %H:%M} to {o.end:%Y-%m-%d %H:%M} UTC): "
            "the incident opened and resolved within the window"
        )


def maintenance_verdict(
    config: Config, incident: Incident, event: IncidentEvent, now: datetime
) -> MaintenanceHold | MaintenanceQuiet | None:
    """What the maintenance windows do to a notice of ``incident`` about ``event`` claimed
    at ``now``: nothing (None), hold it (a window is in force), or end it unsent (the
    incident opened and resolved within one occurrence). Manual failovers are never held,
    nor the corrections of a retraction (their readers were told already)."""
    if event in (IncidentEvent.manual, IncidentEvent.retracted) or incident.kind is IncidentKind.manual:
        return None
    covering = [w for w in config.maintenance if window_covers(config, w, incident)]
    resolved_at = incident.resolved_at
    if resolved_at is not None:
        for window in covering:
            occurrence = occurrence_at(window, incident.opened_at)
            if occurrence is not None and resolved_at in occurrence:
                return MaintenanceQuiet(occurrence=occurrence)
    in_force = [o for w in covering if (o := occurrence_at(w, now)) is not None]
    if in_force:
        # overlapping windows: wait for the last of them to end
        return MaintenanceHold(occurrence=max(in_force, key=lambda o: o.end))
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowSchedule:
    """A window, the occurrence in force (if any) and the next one to start."""

    window: MaintenanceWindow
    current: Occurrence | None
    next: Occurrence | None


def maintenance_schedule(config: Config, *, now: datetime) -> list[WindowSchedule]:
    """Every configured window, as of ``now`` (``failover maintenance``)."""
    return [
        WindowSchedule(window=w, current=occurrence_at(w, now), next=next_occurrence(w, now))
        for w in config.maintenance
    ]


# -------------------------------------------------------------------------- around a window


def _platforms_of(config: Config, window: MaintenanceWindow) -> list[str]:
    named = set(window.platforms)
    return [
        p.name
        for p in config.platforms
        if "*" in named or p.name in named or (p.family and p.family in named)
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class MaintenanceEnded:
    """A window's occurrence ended: each of its platforms' health before it and after it."""

    window: str
    started_at: datetime | None
    ended_at: datetime
    #: platform → health just before the window (None: the daemon did not see it start)
    before: Mapping[str, Health | None]
    after: Mapping[str, Health]

    @property
    def not_back(self) -> list[str]:
        """Platforms whose health after the window is not what it was before (a platform
        whose state before is unknown counts when it is not up after)."""
        return sorted(
            name for name, health in self.after.items() if health is not (self.before.get(name) or Health.up)
        )


class MaintenanceWatch:
    """Follows the windows from one look at the platforms' health to the next: remembers
    the health seen just before each window starts, and reports each window's end with
    the health seen then (:meth:`observe`)."""

    def __init__(self) -> None:
        self._last: dict[str, Health] = {}
        #: window name → (its start, the health of its platforms just before it)
        self._open: dict[str, tuple[datetime | None, dict[str, Health | None]]] = {}

    def active(self, config: Config, now: datetime) -> dict[str, bool]:
        """Every configured window, and whether it is in force at ``now``."""
        return {w.name: occurrence_at(w, now) is not None for w in config.maintenance}

    def observe(self, config: Config, now: datetime, health: Mapping[str, Health]) -> list[MaintenanceEnded]:
        """Take the platforms' health at ``now``; returns the windows that ended since."""
        ended: list[MaintenanceEnded] = []
        windows = {w.name: w for w in config.maintenance}
        for name in list(self._open):
            window = windows.get(name)
            if window is not None and occurrence_at(window, now) is not None:
                continue
            started_at, before = self._open.pop(name)
            if window is None:
                continue  # removed from the configuration: nothing to compare with
            platforms = _platforms_of(config, window)
            ended.append(
                MaintenanceEnded(
                    window=name,
                    started_at=started_at,
                    ended_at=now,
                    before={p: before.get(p) for p in platforms},
                    after={p: health.get(p, Health.unknown) for p in platforms},
                )
            )
        for window in config.maintenance:
            occurrence = occurrence_at(window, now)
            if occurrence is None or window.name in self._open:
                continue
            # the health seen at the last look before it began; none when it was already
            # in force at the first look (the daemon started during it)
            seen_before = bool(self._last)
            before = {p: self._last.get(p) if seen_before else None for p in _platforms_of(config, window)}
            self._open[window.name] = (occurrence.start if seen_before else None, before)
        self._last = dict(health)
        return ended
