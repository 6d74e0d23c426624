"""Observe: DNS, TCP, TLS, HTTP(S) and status sources, each check under a hard deadline.

Library exceptions are mapped to :class:`~failover.domain.Outcome` values at this
boundary; a target being down is an :class:`~failover.domain.Observation`, never an
exception. :class:`Prober` runs checks; the ``parse_*`` functions read status sources
and are pure (bytes in, :class:`StatusReading` out, never an exception).
"""

from __future__ import annotations

from failover.probes._prober import Prober
from failover.probes._status import MAX_STATUS_BYTES, StatusReading, parse_feed, parse_meta, parse_statuspage

__all__ = [
    "MAX_STATUS_BYTES",
    "Prober",
    "StatusReading",
    "parse_feed",
    "parse_meta",
    "parse_statuspage",
]
