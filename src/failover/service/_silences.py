"""The operator's silences (``failover silence``, ``unsilence``, ``silences``): hold back
the notices of a platform's, a family's or every incident for a while, list those in
force, end them. Where notices are planned and claimed, :func:`silence_matching` applies
them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from failover.config import Config
from failover.errors import ConfigError
from failover.service._database import open_store
from failover.service._plan import families_of
from failover.store import ActionKind, IncidentAction, Silence

__all__ = ["active_silences", "add_silence", "remove_silences"]


def _silence_names(config: Config) -> set[str]:
    return {"*"} | {p.name for p in config.platforms} | {p.family for p in config.platforms if p.family}


def add_silence(
    config: Config,
    name: str,
    *,
    duration: timedelta,
    reason: str,
    now: datetime,
    created_by: str | None = None,
) -> Silence:
    """Hold back the notices of incidents of ``name`` (a platform, a family or ``*``) for
    ``duration``: they are recorded ``silenced`` and never sent. Manual failovers still go out.
    ``created_by`` (who asked) is kept with the silence and written, with it, in the journal
    of actions of every open incident the silence covers."""
    if name not in _silence_names(config):
        known = ", ".join(sorted(_silence_names(config) - {"*"}))
        raise ConfigError(f"unknown platform or family {name!r}; configured: {known or 'none'} (or '*')")
    if duration <= timedelta(0):
        raise ConfigError("a silence needs a positive duration")
    until = now + duration
    with open_store(config) as store:
        actions: dict[int, IncidentAction] = {}
        if created_by is not None:
            text = f"{name}, {until.isoformat()}" + (f": {reason}" if reason else "")
            for incident in store.open_incidents():
                covered = name in {"*", incident.name, *incident.platforms, *families_of(config, incident)}
                if covered and incident.id is not None:
                    actions[incident.id] = IncidentAction(
                        at=now, actor=created_by, kind=ActionKind.silenced, text=text
                    )
        return store.add_silence(
            name=name, until=until, reason=reason, now=now, created_by=created_by, actions=actions
        )


def active_silences(config: Config, *, now: datetime) -> list[Silence]:
    """The silences in force at ``now``."""
    with open_store(config) as store:
        return store.active_silences(now)


def remove_silences(config: Config, target: str, *, now: datetime) -> list[Silence]:
    """End the silences in force on ``target`` (a name), or the one numbered ``target``;
    returns those ended."""
    with open_store(config) as store:
        ended = []
        for silence in store.active_silences(now):
            named = (target.isdigit() and silence.id == int(target)) or silence.name == target
            if named and store.remove_silence(silence.id):
                ended.append(silence)
        return ended
