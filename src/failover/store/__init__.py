"""store: failover's record. Observations (raw, pruned into hourly rollups), transitions,
incidents, the judge's state and the notice outbox, in SQLite (WAL, the default) or
PostgreSQL, with the schema managed by Alembic migrations shipped in the package.

Everything returned is a domain value or a frozen value of this package, never a row;
every time is timezone-aware UTC; every failure is a ``StoreError``.
"""

from failover.store._incidents import NOTE_PREFIX
from failover.store._store import Store
from failover.store._values import (
    ActionKind,
    Claims,
    ConnectivityRecord,
    DeliveryOutcome,
    HourlyRollup,
    IncidentAction,
    JournalEntry,
    Notice,
    NoticeDraft,
    PruneReport,
    Silence,
)

__all__ = [
    "NOTE_PREFIX",
    "ActionKind",
    "Claims",
    "ConnectivityRecord",
    "DeliveryOutcome",
    "HourlyRollup",
    "IncidentAction",
    "JournalEntry",
    "Notice",
    "NoticeDraft",
    "PruneReport",
    "Silence",
    "Store",
]
