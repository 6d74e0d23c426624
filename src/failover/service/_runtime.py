"""The process-wide basics: the one clock and the event loop runner."""

from __future__ import annotations

import asyncio
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
