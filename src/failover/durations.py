"""Durations as failover writes them, from one way of cutting them into units: in the
configuration's own syntax (``1h30m``, what ``config show`` prints and a file may hold),
in the journal (``6 h 02 min``, to the second) and, with the words of each language, as
people say them in a notice (``failover.notify.format_duration``: ``2 days and 3 h``)."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

__all__ = ["Units", "config_text", "journal_text", "units"]

_DAY_S, _HOUR_S, _MINUTE_S = 86_400, 3_600, 60


class Units(NamedTuple):
    """Whole days, hours, minutes and seconds; a negative span counts as none."""

    days: int
    hours: int
    minutes: int
    seconds: int


def units(span: timedelta | float) -> Units:
    """``span`` (a ``timedelta`` or seconds) in whole units, the fraction of a second dropped."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else span
    rest = max(0, int(seconds))
    days, rest = divmod(rest, _DAY_S)
    hours, rest = divmod(rest, _HOUR_S)
    minutes, rest = divmod(rest, _MINUTE_S)
    return Units(days, hours, minutes, rest)


def config_text(seconds: float) -> str:
    """The configuration's syntax, which reads back to the same value: ``1d2h``, ``90s``
    as ``1m30s``, a fraction or zero as seconds (``0.5s``, ``0s``)."""
    if seconds != int(seconds) or seconds == 0:
        return f"{seconds:g}s"
    whole = units(seconds)
    return "".join(f"{count}{unit}" for count, unit in zip(whole, ("d", "h", "m", "s"), strict=True) if count)


def journal_text(span: timedelta, *, day_unit: str = "d") -> str:
    """``6 h 02 min``, ``12 min 05 s``, ``40 s``: what a person reads in a journal
    (``day_unit``: ``j`` in French)."""
    days, hours, minutes, seconds = units(span)
    if days:
        return f"{days} {day_unit} {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
