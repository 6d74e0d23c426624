"""The process-wide basics: the one clock and the event loop runner."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def utc_now() -> datetime:
    """The one clock of the process: tz-aware UTC."""
    return datetime.now(UTC)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop where the platform has it, else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed wherever CPython runs on POSIX
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (1,024 is the usual
    soft default; systemd's hard one is far higher): many clients at once must not leave
    the probes, the database or the outbox without a file descriptor. The new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, _OPEN_FILES_WANTED)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        return wanted
    return soft


#: the soft limit asked for when the hard one is unlimited
_OPEN_FILES_WANTED = 65_536
