"""Our own per-scheme rate limit: a token bucket per scheme, so a fan-out to ten
thousand contacts does not hammer one provider, while apprise's fixed per-plugin
pause (a sleep inside a worker thread) stays disabled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimits", "TokenBucket"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimit:
    """``per_minute`` tokens are added each minute, up to ``burst`` kept in reserve."""

    per_minute: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")


class TokenBucket:
    """A token bucket on a monotonic clock in seconds; starts full."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(limit.burst)
        self._updated = clock()
        self._turn = asyncio.Lock()

    @property
    def tokens(self) -> float:
        """Tokens available now (refilled up to the clock's present)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.per_minute / 60.0)

    def try_acquire(self) -> float:
        """Take a token if one is there and return 0.0, else return the seconds to wait."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) * 60.0 / self.limit.per_minute

    def take_now(self) -> bool:
        """Take a token if one is there and nobody waits for one before us."""
        return not self._turn.locked() and self.try_acquire() == 0.0

    async def acquire(self) -> None:
        """Wait for a token; waiters are served in arrival order."""
        async with self._turn:
            while (wait_s := self.try_acquire()) > 0.0:
                await self._sleep(wait_s)


class RateLimits:
    """One bucket per scheme (``mailtos``, ``signal``…); schemes without a limit, and
    without a ``default``, are not limited."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        default: RateLimit | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = {scheme.lower(): limit for scheme, limit in (limits or {}).items()}
        self._default = default
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, scheme: str) -> TokenBucket | None:
        """The bucket of this scheme, created on first use, or ``None`` if unlimited."""
        scheme = scheme.lower()
        bucket = self._buckets.get(scheme)
        if bucket is None:
            limit = self._limits.get(scheme, self._default)
            if limit is None:
                return None
            bucket = self._buckets[scheme] = TokenBucket(limit, clock=self._clock, sleep=self._sleep)
        return bucket

    def take_now(self, scheme: str) -> bool:
        """Whether a message of this scheme may go at once (its token taken), without
        waiting: unlimited, or a token there and nobody waiting before us."""
        bucket = self.bucket(scheme)
        return bucket is None or bucket.take_now()

    async def acquire(self, scheme: str) -> None:
        bucket = self.bucket(scheme)
        if bucket is not None:
            await bucket.acquire()
