"""The database as the service uses it: opened and migrated, pruned, and the daemon's
lock (who is the one daemon of a database, and whether the holder of a lock or of a claim
is certainly gone)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from failover.config import Config
from failover.errors import AlreadyRunningError
from failover.store import PruneReport, Store

__all__ = [
    "LOCAL_LOCK_STALE_AFTER",
    "LOCK_STALE_AFTER",
    "daemon_running",
    "dispatcher_identity",
    "holder_gone",
    "lock_holder",
    "open_store",
    "prune_database",
    "take_lock",
    "upgrade_database",
]

#: A daemon's lock is considered abandoned this long after its last heartbeat (the daemon
#: renews it every third of that).
LOCK_STALE_AFTER = timedelta(seconds=30)
#: ... unless the daemon is a live process of this machine, which a slow database may keep
#: from renewing its heartbeat for a while.
LOCAL_LOCK_STALE_AFTER = timedelta(minutes=10)


def open_store(config: Config) -> Store:
    """The configured database, migrated to the newest schema."""
    store = Store.open(config.daemon.database_url)
    try:
        store.upgrade()
    except BaseException:
        store.close()
        raise
    return store


def upgrade_database(config: Config) -> str:
    """Apply the migrations; returns where the database is (password hidden)."""
    with open_store(config) as store:
        return store.url


def prune_database(config: Config, *, now: datetime) -> PruneReport:
    """Roll up, then drop raw observations older than the configured retention."""
    with open_store(config) as store:
        return store.prune(now=now, keep=config.daemon.retention)


def lock_holder(role: str = "") -> str:
    """Who holds (or probes) the daemon lock: ``host:pid``, with a role for non-daemons."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    return f"{holder}:{role}" if role else holder


def _local_process(holder: str) -> int | None:
    """The process id of a daemon ``holder`` on this machine; None for another machine's,
    or for a holder that is not a daemon's ``host:pid``."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdecimal():
        return None
    return int(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def take_lock(store: Store, holder: str, *, now: datetime) -> None:
    """Become the database's one daemon. A lock left by a daemon of this machine whose
    process is gone (killed, crashed) is taken at once, without waiting for its heartbeat
    to go stale: a service manager restarting the daemon right after ``kill -9`` is accepted.
    Raises ``AlreadyRunningError`` when a daemon that may still run holds it."""
    try:
        store.acquire_lock(holder, now=now, stale_after=LOCK_STALE_AFTER)
    except AlreadyRunningError:
        current = store.lock()
        if current is None:
            store.acquire_lock(holder, now=now, stale_after=LOCK_STALE_AFTER)
            return
        pid = _local_process(current[0])
        if pid is None or pid == os.getpid() or _alive(pid):
            raise
        store.acquire_lock(holder, now=now, stale_after=LOCK_STALE_AFTER, take_from=current[0])


def daemon_running(store: Store, *, now: datetime) -> bool:
    """Whether a daemon holds the database's lock: a daemon of this machine while its process
    lives (however long the database kept it from renewing its heartbeat), another machine's
    while its heartbeat is younger than the stale limit.

    Only reads the lock: a command that decides no daemon runs and delivers itself never
    takes the lock from a daemon held up by a slow database, and no notice is sent twice
    either way, since every delivery claims its notice first.
    """
    current = store.lock()
    if current is None:
        return False
    holder, heartbeat_at = current
    pid = _local_process(holder)
    if pid is not None and _alive(pid):
        # (its id taken by another process long after the daemon died: stale at last)
        return heartbeat_at > now - LOCAL_LOCK_STALE_AFTER
    return pid is None and heartbeat_at > now - LOCK_STALE_AFTER


def dispatcher_identity() -> str:
    """Who claims notices: ``host:pid:token``, unique to one pump of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_gone(holder: str | None) -> bool:
    """Whether the dispatcher named ``holder`` has certainly died: it ran on this host,
    in a process that no longer exists. Anything else (another host, a process that lives,
    a name we cannot read) waits for its lease to run out."""
    if holder is None:
        return False
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid() or pid <= 0:
        return False  # another pump of this very process: it is alive
    return not _alive(pid)
