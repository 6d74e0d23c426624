"""The token bucket: arithmetic on a fake clock, fair waiting, one bucket per scheme."""

from __future__ import annotations

import pytest

from failover.notify import RateLimit, RateLimits, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TestTokenBucket:
    """Tokens refill at the rate per minute, up to the burst."""

    def test_starts_full_and_empties(self) -> None:
        clock = FakeClock()
        bucket = TokenBucket(RateLimit(per_minute=60, burst=3), clock=clock)
        assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
        assert bucket.try_acquire() == pytest.approx(1.0)

    def test_refills_at_the_rate_and_caps_at_the_burst(self) -> None:
        clock = FakeClock()
        bucket = TokenBucket(RateLimit(per_minute=30, burst=2), clock=clock)
        bucket.try_acquire()
        bucket.try_acquire()
        clock.now += 1.0
        assert bucket.tokens == pytest.approx(0.5)
        assert bucket.try_acquire() == pytest.approx(1.0)  # half a token missing at 0.5 token/s
        clock.now += 3600
        assert bucket.tokens == pytest.approx(2.0)

    async def test_acquire_waits_exactly_as_long_as_needed(self) -> None:
        clock = FakeClock()
        bucket = TokenBucket(RateLimit(per_minute=120, burst=1), clock=clock, sleep=clock.sleep)
        for _ in range(4):
            await bucket.acquire()
        assert clock.slept == pytest.approx([0.5, 0.5, 0.5])
        assert clock.now == pytest.approx(1001.5)

    def test_a_limit_must_make_sense(self) -> None:
        with pytest.raises(ValueError, match="per_minute"):
            RateLimit(per_minute=0)
        with pytest.raises(ValueError, match="burst"):
            RateLimit(per_minute=1, burst=0)


class TestRateLimits:
    """Each scheme has its own bucket; unlisted schemes use the default or none."""

    async def test_schemes_do_not_share_tokens(self) -> None:
        clock = FakeClock()
        limits = RateLimits({"signal": RateLimit(per_minute=60, burst=1)}, clock=clock, sleep=clock.sleep)
        await limits.acquire("signal")
        await limits.acquire("mailto")  # unlimited
        await limits.acquire("SIGNAL")
        assert clock.slept == pytest.approx([1.0])
        assert limits.bucket("mailto") is None

    async def test_a_token_is_taken_at_once_only_when_nobody_waits_before(self) -> None:
        """The dispatcher's fast path: a free token goes at once; none left, or someone
        already waiting in line, and the caller must wait its turn (order kept)."""
        clock = FakeClock()
        limits = RateLimits({"signal": RateLimit(per_minute=60, burst=1)}, clock=clock, sleep=clock.sleep)
        assert limits.take_now("mailto")  # unlimited
        assert limits.take_now("signal")
        assert not limits.take_now("signal")  # the burst is spent
        clock.now += 1.0
        bucket = limits.bucket("signal")
        assert bucket is not None
        async with bucket._turn:  # another sender is waiting for a token
            assert not limits.take_now("signal")
        assert limits.take_now("signal")

    def test_a_default_applies_to_unlisted_schemes(self) -> None:
        limits = RateLimits(default=RateLimit(per_minute=10, burst=5))
        bucket = limits.bucket("tgram")
        assert bucket is not None
        assert bucket.limit.burst == 5
        assert limits.bucket("tgram") is bucket
