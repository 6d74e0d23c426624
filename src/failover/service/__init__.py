"""The composition root: the only package that knows every sibling, reads the clock,
calls adapters and owns their lifecycles. The CLI and the HTTP surface go through it.
"""

from failover.detect import PlatformStatus
from failover.service._check import CheckReport, check_once, select_platforms
from failover.service._record import (
    StatusReport,
    Watcher,
    journal,
    open_store,
    prune_database,
    status_report,
    upgrade_database,
)
from failover.service._runtime import run_async, utc_now
from failover.store import JournalEntry, PruneReport

__all__ = [
    "CheckReport",
    "JournalEntry",
    "PlatformStatus",
    "PruneReport",
    "StatusReport",
    "Watcher",
    "check_once",
    "journal",
    "open_store",
    "prune_database",
    "run_async",
    "select_platforms",
    "status_report",
    "upgrade_database",
    "utc_now",
]
