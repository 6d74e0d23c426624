"""The past as the site shows it: daily bars of down and degraded minutes per platform,
and the incidents of the window. Pure functions of the snapshot."""

from __future__ import annotations

import bisect
import math
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from failover.domain import Health, Incident, IncidentEvent, IncidentKind, IncidentScope, Transition
from failover.status_page._model import PlatformNow

__all__ = [
    "Day",
    "FeedEvent",
    "daily_history",
    "day_edges",
    "days_observed",
    "feed_events",
    "incident_id",
    "shown_incidents",
    "window_days",
]

_DAY_S = 86_400.0
#: namespace of the incidents' public ids (``urn:uuid:…``): stable across builds and
#: machines, and saying nothing of the incident's key
_NAMESPACE = uuid.UUID("6f1c2b1e-3a57-5a0e-9a53-2f4f6c0d1a16")


@dataclass(frozen=True, kw_only=True, slots=True)
class Day:
    """One day of one platform: minutes down and degraded (any part of a minute counts),
    and whether the platform was watched that day at all."""

    day: date
    down_minutes: int = 0
    degraded_minutes: int = 0
    watched: bool = False

    #: ``down``, ``degraded``, ``up``, or ``none`` for a day nobody watched
    level: str = field(init=False)

    def __post_init__(self) -> None:
        level = "down" if self.down_minutes else "degraded" if self.degraded_minutes else ""
        object.__setattr__(self, "level", level or ("up" if self.watched else "none"))


def window_days(now: datetime, *, days: int, zone: tzinfo) -> tuple[date, ...]:
    """The last ``days`` days in ``zone``, oldest first, today last."""
    today = now.astimezone(zone).date()
    return tuple(today - timedelta(days=offset) for offset in range(days - 1, -1, -1))


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def day_edges(days: Sequence[date], *, zone: tzinfo) -> tuple[datetime, ...]:
    """The midnights (in ``zone``, as UTC times) that begin each of ``days`` and end the
    last: one more than the days."""
    if not days:
        return ()
    return (*(_midnight(day, zone) for day in days), _midnight(days[-1] + timedelta(days=1), zone))


def days_observed(hours: Mapping[str, Iterable[datetime]], *, zone: tzinfo) -> dict[str, set[date]]:
    """Per target, the days (in ``zone``) of the hours it was watched (the store's
    ``watched_hours``: rolled up with at least one observation)."""
    return {target: {hour.astimezone(zone).date() for hour in seen} for target, seen in hours.items()}


def daily_history(
    platform: PlatformNow,
    *,
    transitions: Sequence[Transition],
    observed: Collection[date],
    first_seen: datetime | None,
    watched_from: datetime | None,
    now: datetime,
    days: Sequence[date],
    edges: Sequence[datetime],
) -> tuple[Day, ...]:
    """The platform's ``days`` (``edges``: their midnights, see :func:`day_edges`): its
    health between its ``transitions`` (its own; the health before the first is that
    transition's ``previous``, without any the health now) cut at each midnight, up to
    ``now``. A day is watched when a rollup says so, when something happened on it, or
    when it lies after ``first_seen`` in the hours not rolled up yet (after
    ``watched_from``)."""
    if not days:
        return ()
    start, end = edges[0], min(edges[-1], now)
    seconds = {Health.down: [0.0] * len(days), Health.degraded: [0.0] * len(days)}

    def count(health: Health, begin: datetime, finish: datetime) -> None:
        bucket = seconds.get(health)
        begin, finish = max(begin, start), min(finish, end)
        if bucket is None or finish <= begin:
            return
        index = bisect.bisect_right(edges, begin) - 1
        while index < len(days) and edges[index] < finish:
            bucket[index] += (min(finish, edges[index + 1]) - max(begin, edges[index])).total_seconds()
            index += 1

    ordered = sorted((t for t in transitions if t.at < end), key=lambda t: t.at)
    health = ordered[0].previous if ordered else platform.health
    moment = start
    for transition in ordered:
        count(health, moment, transition.at)
        health, moment = transition.current, max(moment, transition.at)
    count(health, moment, end)

    live_from = max(first_seen, watched_from) if first_seen and watched_from else first_seen
    down, degraded = seconds[Health.down], seconds[Health.degraded]
    return tuple(
        Day(
            day=day,
            down_minutes=math.ceil(down[index] / 60),
            degraded_minutes=math.ceil(degraded[index] / 60),
            watched=day in observed
            or bool(down[index] or degraded[index])
            or (live_from is not None and edges[index + 1] > live_from and edges[index] <= now),
        )
        for index, day in enumerate(days)
    )


def availability(history: Sequence[Day], *, now: datetime, zone: tzinfo) -> float | None:
    """The share of watched time not down, or None when no day was watched. Today counts
    up to ``now``."""
    watched_s = 0.0
    down_s = 0.0
    for day in history:
        if not day.watched:
            continue
        length = _DAY_S
        if day.day == now.astimezone(zone).date():
            length = max(60.0, (now - _midnight(day.day, zone)).total_seconds())
        watched_s += length
        down_s += min(day.down_minutes * 60.0, length)
    if watched_s == 0:
        return None
    return max(0.0, 1.0 - down_s / watched_s)


def _folded(incident: Incident, into: Incident) -> bool:
    """A platform incident closed into a family incident that covers it (the judge folds
    a member's own incident into its family's): the family's row tells it."""
    return (
        incident.scope is IncidentScope.platform
        and into.scope is IncidentScope.family
        and incident.resolved_at is not None
        and set(incident.platforms) <= set(into.platforms)
        and into.opened_at <= incident.resolved_at
        and (into.resolved_at is None or incident.resolved_at <= into.resolved_at)
        and incident.opened_at >= into.opened_at - timedelta(minutes=1)
    )


def shown_incidents(incidents: Iterable[Incident], *, since: datetime) -> tuple[Incident, ...]:
    """The incidents open at any time since ``since``, newest first, without the platform
    incidents folded into a family incident."""
    relevant = [i for i in incidents if i.resolved_at is None or i.resolved_at >= since]
    families = [i for i in relevant if i.scope is IncidentScope.family]
    kept = [i for i in relevant if not any(_folded(i, family) for family in families)]
    return tuple(sorted(kept, key=lambda i: (i.opened_at, i.key), reverse=True))


def incident_id(incident: Incident) -> str:
    """The incident's public id: a UUID derived from its key."""
    return str(uuid.uuid5(_NAMESPACE, incident.key))


def started_event(incident: Incident) -> IncidentEvent:
    """The event that made the incident public: confirmed, or manual for a manual one."""
    return IncidentEvent.manual if incident.kind is IncidentKind.manual else IncidentEvent.confirmed


def started_at(incident: Incident) -> datetime:
    """When the incident was made public (confirmed; opened, for a manual one)."""
    if incident.kind is IncidentKind.manual:
        return incident.opened_at
    return incident.confirmed_at or incident.opened_at


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedEvent:
    """One entry of the feed: an incident's start or end."""

    incident: Incident
    event: IncidentEvent
    at: datetime

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.incident.key}/{self.event.value}"))


def feed_events(incidents: Iterable[Incident], *, limit: int) -> tuple[FeedEvent, ...]:
    """Each incident's start and, once resolved, its end: the newest ``limit``, newest first."""
    events = []
    for incident in incidents:
        events.append(FeedEvent(incident=incident, event=started_event(incident), at=started_at(incident)))
        if incident.resolved_at is not None:
            events.append(FeedEvent(incident=incident, event=IncidentEvent.resolved, at=incident.resolved_at))
    events.sort(key=lambda e: (e.at, e.event is IncidentEvent.resolved, e.incident.key), reverse=True)
    return tuple(events[:limit])
