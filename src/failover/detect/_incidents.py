"""From shown-health changes to incidents: open, escalate, group by family, fold, resolve.

Holding: a family member confirmed down alone while a sibling is still being confirmed
(a suspect reading down) gets no incident yet: it is *held* (``PlatformState.held``) until
the sibling is confirmed (one family incident names both), the sibling's suspect is
dropped, or ``family_hold`` passes (then it opens on its own). So a family falling together
is told once. Members confirmed after the family incident opened join it with an
``updated`` event (told once per contact: its notices share one idempotency key).

Folding: when a family incident forms (or already exists) while a member has its own
platform incident open, that platform incident is closed (``resolved_at`` = now, cause
"merged into family incident <key>; was: <cause>") and reported in
``Decision.incident_updates``, never as a ``resolved`` event: nothing recovered, so nobody is
told so. The family incident then carries the member's evidence and earliest opening time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from failover.detect._evidence import Signal, cause_line, evidence_lines, severity_rank
from failover.detect._state import Held, PlatformState
from failover.domain import (
    DetectionPolicy,
    Health,
    Incident,
    IncidentChange,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Move:
    """A platform's shown health changed this round."""

    platform: str
    previous: Health
    current: Health
    #: the confirmed evidence and first failing time (for a change for the worse)
    signals: tuple[Signal, ...] = ()
    opened_at: datetime | None = None


def incident_key(scope: IncidentScope, name: str, opened_at: datetime) -> str:
    """Deterministic: the same outage replayed after a crash gets the same key."""
    return f"{scope}:{name}:{opened_at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _kind(health: Health) -> IncidentKind:
    return IncidentKind.unreachable if health is Health.down else IncidentKind.degraded


class Ledger:
    """The incidents and platform states of one round, settled move by move."""

    def __init__(
        self,
        *,
        incidents: Mapping[str, Incident],
        platforms: dict[str, PlatformState],
        families: Mapping[str, str | None],
        now: datetime,
        policy: DetectionPolicy,
    ) -> None:
        self.incidents = dict(incidents)
        self.platforms = platforms
        self._families = families
        self._now = now
        self._policy = policy
        self.events: list[IncidentChange] = []
        self._updates: dict[str, Incident] = {}

    @property
    def updates(self) -> tuple[Incident, ...]:
        return tuple(incident for key, incident in self._updates.items() if key not in self._event_keys)

    @property
    def _event_keys(self) -> set[str]:
        return {change.incident.key for change in self.events}

    def settle(self, moves: Sequence[Move]) -> None:
        """Apply this round's moves: resolutions first, then the worse, then families, then
        the held members whose wait is over."""
        for move in moves:
            if severity_rank(move.current) < severity_rank(move.previous):
                self._unhold(move.platform)  # better before its incident opened: nobody is told
            if move.current is Health.up:
                self._recovered(move.platform)
        down_by_family: dict[str | None, list[Move]] = {}
        for move in moves:
            if severity_rank(move.current) <= severity_rank(move.previous):
                continue
            if move.current is Health.down:
                down_by_family.setdefault(self._families.get(move.platform), []).append(move)
            elif self._covering(move.platform) is None:
                self._open_platform_incident(move)
        for family, family_moves in sorted(down_by_family.items(), key=lambda item: item[0] or ""):
            self._went_down(family, family_moves)
        self._release_held()
        self._resolve_recovered_families()

    # -- platform incidents -------------------------------------------------------------

    def _covering(self, platform: str) -> Incident | None:
        key = self.platforms[platform].incident
        return None if key is None else self.incidents.get(key)

    def _set_incident(self, platform: str, key: str | None) -> None:
        self.platforms[platform] = replace(self.platforms[platform], incident=key, held=None)

    def _unhold(self, platform: str) -> None:
        if self.platforms[platform].held is not None:
            self.platforms[platform] = replace(self.platforms[platform], held=None)

    def _store(self, incident: Incident) -> None:
        self.incidents[incident.key] = incident
        self._updates[incident.key] = incident

    def _event(self, event: IncidentEvent, incident: Incident) -> None:
        self.events.append(IncidentChange(event=event, incident=incident))

    def _open_platform_incident(self, move: Move) -> None:
        opened_at = move.opened_at or self._now
        incident = Incident(
            key=incident_key(IncidentScope.platform, move.platform, opened_at),
            scope=IncidentScope.platform,
            kind=_kind(move.current),
            name=move.platform,
            platforms=(move.platform,),
            opened_at=opened_at,
            confirmed_at=self._now,
            evidence=evidence_lines(move.signals),
            cause=cause_line(move.signals),
        )
        self.incidents[incident.key] = incident
        self._set_incident(move.platform, incident.key)
        self._event(IncidentEvent.confirmed, incident)

    def _recovered(self, platform: str) -> None:
        incident = self._covering(platform)
        if incident is None or incident.scope is not IncidentScope.platform:
            return  # a family incident resolves when all its members have recovered
        resolved = replace(incident, resolved_at=self._now)
        del self.incidents[incident.key]
        self._set_incident(platform, None)
        self._event(IncidentEvent.resolved, resolved)

    def _escalate(self, incident: Incident, move: Move) -> None:
        self._store(
            replace(
                incident,
                kind=IncidentKind.unreachable,
                cause=cause_line(move.signals),
                evidence=incident.evidence + evidence_lines(move.signals),
            )
        )

    # -- families -----------------------------------------------------------------------

    def _open_family_incident(self, family: str) -> Incident | None:
        for incident in self.incidents.values():
            if incident.scope is IncidentScope.family and incident.name == family:
                return incident
        return None

    def _recently_down(self, family: str, moving: set[str]) -> list[str]:
        """Members already confirmed down within the family window, each under its own
        platform incident (they are the ones to fold)."""
        horizon = self._now - self._policy.family_window
        members = []
        for name, member_family in self._families.items():
            remembered = self.platforms.get(name)
            if member_family != family or name in moving or remembered is None:
                continue
            covering = self._covering(name)
            if (
                remembered.shown is Health.down
                and remembered.since >= horizon
                and covering is not None
                and covering.scope is IncidentScope.platform
            ):
                members.append(name)
        return sorted(members)

    def _members(self, family: str) -> list[str]:
        return sorted(name for name, member_family in self._families.items() if member_family == family)

    def _held(self, family: str) -> list[str]:
        return [
            name
            for name in self._members(family)
            if (p := self.platforms.get(name)) is not None and p.held is not None
        ]

    def _siblings_confirming(self, family: str, besides: set[str]) -> bool:
        """A member other than ``besides`` is being confirmed down right now."""
        for name in self._members(family):
            remembered = self.platforms.get(name)
            if name in besides or remembered is None or remembered.suspect is None:
                continue
            if remembered.suspect.health is Health.down and remembered.shown is not Health.down:
                return True
        return False

    def _hold(self, move: Move) -> None:
        held = Held(signals=move.signals, opened_at=move.opened_at or self._now, since=self._now)
        self.platforms[move.platform] = replace(self.platforms[move.platform], held=held)

    def _release_held(self) -> None:
        """Held members whose siblings are no longer being confirmed, or whose wait is
        over, get their incident: one family incident when enough of them were held."""
        families = sorted({f for name, f in self._families.items() if f is not None})
        for family in families:
            held = self._held(family)
            if not held:
                continue
            existing = self._open_family_incident(family)
            if existing is not None:
                self._join(existing, [self._held_move(name) for name in held])
                continue
            recent = self._recently_down(family, set(held))
            if self._siblings_confirming(family, {*held, *recent}) and not self._held_too_long(held):
                continue
            if len(held) + len(recent) >= self._policy.family_min_platforms:
                self._form_family(family, [], recent, held)
            else:
                for name in held:
                    self._open_platform_incident(self._held_move(name))

    def _held_too_long(self, names: Sequence[str]) -> bool:
        """The longest held of ``names`` has waited ``family_hold``."""
        for name in names:
            held = self.platforms[name].held
            if held is not None and self._now - held.since >= self._policy.family_hold:
                return True
        return False

    def _held_move(self, name: str) -> Move:
        held = self.platforms[name].held
        assert held is not None
        return Move(
            platform=name,
            previous=Health.up,
            current=Health.down,
            signals=held.signals,
            opened_at=held.opened_at,
        )

    def _went_down(self, family: str | None, moves: list[Move]) -> None:
        if family is not None:
            existing = self._open_family_incident(family)
            if existing is not None:
                self._join(existing, moves)
                return
            moving = {move.platform for move in moves}
            recent = self._recently_down(family, moving)
            held = [name for name in self._held(family) if name not in moving]
            if self._siblings_confirming(
                family, moving | set(held) | set(recent)
            ) and not self._held_too_long(held):
                # wait for the siblings: the family is told once, naming every member
                for move in moves:
                    if self._covering(move.platform) is None:
                        self._hold(move)
                moves = [move for move in moves if self._covering(move.platform) is not None]
            elif len(moving) + len(recent) + len(held) >= self._policy.family_min_platforms:
                self._form_family(family, moves, recent, held)
                return
        for move in moves:
            covering = self._covering(move.platform)
            if covering is None:
                self._open_platform_incident(move)
            elif covering.scope is IncidentScope.platform:
                self._escalate(covering, move)
            # else: still a member of an open family incident, which covers it

    def _member_lines(self, platform: str, lines: Sequence[str]) -> tuple[str, ...]:
        return tuple(f"{platform}: {line}" for line in lines)

    def _form_family(
        self, family: str, moves: list[Move], recent: list[str], held: Sequence[str] = ()
    ) -> None:
        opened: dict[str, datetime] = {}
        causes: dict[str, str] = {}
        evidence: list[str] = []
        for move in [*moves, *(self._held_move(name) for name in held)]:
            own = self._covering(move.platform)
            opened[move.platform] = own.opened_at if own is not None else (move.opened_at or self._now)
            causes[move.platform] = cause_line(move.signals)
            evidence.extend(self._member_lines(move.platform, evidence_lines(move.signals)))
        for name in recent:
            own = self._covering(name)
            assert own is not None  # _recently_down only returns members with an incident
            opened[name] = own.opened_at
            causes[name] = own.cause
            evidence.extend(self._member_lines(name, own.evidence))
        opened_at = min(opened.values())
        incident = Incident(
            key=incident_key(IncidentScope.family, family, opened_at),
            scope=IncidentScope.family,
            kind=IncidentKind.unreachable,
            name=family,
            platforms=tuple(sorted(opened)),
            opened_at=opened_at,
            confirmed_at=self._now,
            evidence=tuple(evidence),
            cause=_family_cause(causes),
        )
        for name in sorted(opened):
            self._fold(name, incident.key)
        self.incidents[incident.key] = incident
        self._event(IncidentEvent.confirmed, incident)

    def _join(self, family_incident: Incident, moves: list[Move]) -> None:
        platforms = set(family_incident.platforms)
        evidence = list(family_incident.evidence)
        for move in moves:
            own = self._covering(move.platform)
            if own is not None and own.key == family_incident.key:
                continue  # a member going down again: the family incident covers it
            platforms.add(move.platform)
            evidence.extend(self._member_lines(move.platform, evidence_lines(move.signals)))
            self._fold(move.platform, family_incident.key)
        if len(platforms) > len(family_incident.platforms):
            grown = replace(family_incident, platforms=tuple(sorted(platforms)), evidence=tuple(evidence))
            self.incidents[grown.key] = grown
            self._event(IncidentEvent.updated, grown)

    def _fold(self, platform: str, family_key: str) -> None:
        own = self._covering(platform)
        if own is not None and own.scope is IncidentScope.platform:
            del self.incidents[own.key]
            self._updates[own.key] = replace(
                own,
                resolved_at=self._now,
                cause=f"merged into family incident {family_key}; was: {own.cause}",
            )
        self._set_incident(platform, family_key)

    def _resolve_recovered_families(self) -> None:
        for incident in sorted(self.incidents.values(), key=lambda i: i.key):
            if incident.scope is not IncidentScope.family:
                continue
            # a member no longer configured has nothing left to recover from
            members = [n for n in incident.platforms if n in self.platforms and n in self._families]
            if any(self.platforms[name].shown is not Health.up for name in members):
                continue
            del self.incidents[incident.key]
            for name in members:
                if self.platforms[name].incident == incident.key:
                    self._set_incident(name, None)
            self._event(IncidentEvent.resolved, replace(incident, resolved_at=self._now))


def _family_cause(causes: Mapping[str, str]) -> str:
    """E.g. "facebook and whatsapp: authoritative DNS SERVFAIL and HTTPS unreachable"."""
    by_cause: dict[str, list[str]] = {}
    for platform in sorted(causes):
        by_cause.setdefault(causes[platform], []).append(platform)
    parts = []
    for cause, platforms in by_cause.items():
        names = platforms[0] if len(platforms) == 1 else f"{', '.join(platforms[:-1])} and {platforms[-1]}"
        parts.append(f"{names}: {cause}")
    return "; ".join(parts)
