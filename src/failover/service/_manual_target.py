"""What the operator's manual actions share: their errors, the target a trigger names, the
open incident that already covers it, and the manual incident itself.

A trigger names a configured platform or family, or explicitly a custom incident (a typo
must not page everyone). One outage is one incident: a trigger on what an open incident
already covers (:func:`find_coverage`) is attached to that incident, a note in its
journal, and sends nothing, unless the operator sends it as an update of that incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from failover.config import Config
from failover.domain import Incident, IncidentKind, IncidentScope, NoticeState
from failover.errors import ConfigError, FailoverError
from failover.store import Store

__all__ = [
    "NOTE_MAX",
    "ApprovalError",
    "Coverage",
    "CoverageChangedError",
    "IncidentNotFoundError",
    "ManualTarget",
    "NothingToUpdateError",
    "OwnApprovalError",
    "TargetError",
    "covers",
    "find_coverage",
    "find_target",
    "manual_incident",
]

#: the longest note the journal takes
NOTE_MAX = 2000


class IncidentNotFoundError(FailoverError):
    """No incident has this id (or it cannot be handled by hand)."""


class TargetError(ConfigError):
    """A trigger names no configured platform or family (``custom`` False), or gives a
    custom incident the name of one (``custom`` True). Carries what is configured, so
    that each surface can say how to do it right."""

    def __init__(self, name: str, *, custom: bool, platforms: Sequence[str], families: Sequence[str]) -> None:
        self.name = name
        self.custom = custom
        self.platforms = tuple(platforms)
        self.families = tuple(families)
        if custom:
            message = f"{name!r} is a configured platform or family: name it without --custom"
        else:
            message = (
                f"unknown platform or family {name!r} ({self.configured}); "
                "use --custom NAME for anything else"
            )
        super().__init__(message)

    @property
    def configured(self) -> str:
        """``platforms: a, b; families: meta``, as the error messages show it."""
        platforms = ", ".join(self.platforms) or "none"
        return f"platforms: {platforms}; families: {', '.join(self.families) or 'none'}"


class NothingToUpdateError(FailoverError):
    """An update was asked for, but no open incident covers the target."""


class CoverageChangedError(FailoverError):
    """The open incident covering the target is not the one the preview showed."""


class ApprovalError(FailoverError):
    """An approval or a rejection of an incident that is not awaiting one (never was, was
    approved or rejected already, or was closed), or a trigger that cannot wait for one."""


class OwnApprovalError(ApprovalError):
    """An operator approving the manual message they triggered themselves: four eyes
    means two people."""


# ------------------------------------------------------------------------------ targets


@dataclass(frozen=True, kw_only=True, slots=True)
class ManualTarget:
    """What a manual incident is about: a platform, a family, or a custom name."""

    scope: IncidentScope
    name: str
    platforms: tuple[str, ...]


def find_target(config: Config, name: str, *, scope: IncidentScope | None = None) -> ManualTarget:
    """The platform or family called ``name`` (a configured platform first), or, with
    ``scope=custom``, a custom target of that name. With ``scope`` platform or family,
    only that kind is looked up.

    Raises :class:`TargetError` for a name that is not configured (a typo must not page
    everyone about nothing), and for a custom name that is a configured platform or
    family (whose incidents name their platforms and meet the judge's)."""
    platforms = {p.name: p for p in config.platforms}
    families: dict[str, list[str]] = {}
    for platform in config.platforms:
        if platform.family:
            families.setdefault(platform.family, []).append(platform.name)
    if scope is IncidentScope.custom:
        if name not in platforms and name not in families:
            return ManualTarget(scope=IncidentScope.custom, name=name, platforms=())
    elif scope in (None, IncidentScope.platform) and name in platforms:
        return ManualTarget(scope=IncidentScope.platform, name=name, platforms=(name,))
    elif scope in (None, IncidentScope.family) and name in families:
        return ManualTarget(scope=IncidentScope.family, name=name, platforms=tuple(families[name]))
    raise TargetError(
        name,
        custom=scope is IncidentScope.custom,
        platforms=sorted(platforms),
        families=sorted(families),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Coverage:
    """An open incident that already covers a trigger's target, and what it told whom."""

    incident: Incident
    #: recipients told so far (a notice of the incident sent to them)
    notified: int
    #: when the first of those notices went out; None before any did
    notified_at: datetime | None
    #: notices of the incident still to go (held back, waiting or being sent)
    waiting: int


def covers(incident: Incident, target: ManualTarget) -> bool:
    """Whether ``incident`` is open, told (confirmed, or opened by hand), and about all of
    ``target``: every platform of it, or, for a custom target, the custom incident of
    that name. An outage the judge only suspects covers nothing yet."""
    if not incident.is_open or incident.confirmed_at is None:
        return False
    if target.scope is IncidentScope.custom:
        return incident.scope is IncidentScope.custom and incident.name == target.name
    return bool(target.platforms) and set(target.platforms) <= set(incident.platforms)


def find_coverage(store: Store, target: ManualTarget) -> Coverage | None:
    """The oldest open incident covering ``target``, if any, with what it told."""
    for incident in store.open_incidents():
        if incident.id is None or not covers(incident, target):
            continue
        notices = store.notices(incident.id)
        sent = [n for n in notices if n.state is NoticeState.sent]
        times = [n.sent_at for n in sent if n.sent_at is not None]
        return Coverage(
            incident=incident,
            notified=len({n.contact_ref for n in sent}),
            notified_at=min(times) if times else None,
            waiting=sum(1 for n in notices if n.state in (NoticeState.pending, NoticeState.sending)),
        )
    return None


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def manual_incident(
    target: ManualTarget,
    *,
    message: str,
    now: datetime,
    key: str | None = None,
    messages: Mapping[str, str] | None = None,
) -> Incident:
    """A new manual incident, opened and confirmed ``now``. Its key never collides with the
    judge's (``manual:`` prefix); ``key`` overrides it (Alertmanager's fingerprint).
    ``messages`` are the operator's texts written for one language each, ``message`` the
    text for every other language."""
    return Incident(
        key=key or f"manual:{target.scope}:{target.name}:{_stamp(now)}",
        scope=target.scope,
        kind=IncidentKind.manual,
        name=target.name,
        platforms=target.platforms,
        opened_at=now,
        confirmed_at=now,
        cause="manual failover",
        message=message,
        messages=tuple(sorted((messages or {}).items())),
    )


def _manual_incident(store: Store, incident_id: int) -> Incident:
    incident = store.incident(incident_id)
    if incident is None:
        raise IncidentNotFoundError(f"no incident {incident_id}")
    if incident.kind is not IncidentKind.manual:
        raise IncidentNotFoundError(
            f"incident {incident_id} was opened by the judge, not by hand; "
            "it resolves itself when the platform recovers"
        )
    return incident
