"""The delivery engine over the memory outbox: retries, fall-over, skips, failures,
dry runs and draining, with a scripted sender and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from failover.domain import Channel, IncidentEvent, Visibility
from failover.notify import (
    ApprisePlugins,
    Dispatcher,
    MemoryOutbox,
    NoticeState,
    RateLimit,
    RateLimits,
    RenderedNotice,
    SendResult,
)

START = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
NOTICE = RenderedNotice(subject="WhatsApp indisponible", body="Joignez-nous par e-mail.\n", language="fr")
CHANNELS = {
    "c.bridge": Channel(ref="c.bridge", url="json://127.0.0.1:9/hook", depends_on=("whatsapp",)),
    "c.signal": Channel(ref="c.signal", url="signal://127.0.0.1:9/+15551234567/+15557654321"),
    "c.email": Channel(ref="c.email", url="mailto://127.0.0.1:9?from=a@example.org&to=b@example.org"),
    "shared.announce": Channel(
        ref="shared.announce", url="toot://t@127.0.0.1:9", visibility=Visibility.public
    ),
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class ScriptedSender:
    """Answers per channel ref from a script (default: success) and records calls."""

    def __init__(self, script: Mapping[str, Sequence[SendResult]] | None = None) -> None:
        self.script = {ref: list(results) for ref, results in (script or {}).items()}
        self.calls: list[str] = []

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        self.calls.append(channel.ref)
        results = self.script.get(channel.ref)
        if results:
            return results.pop(0) if len(results) > 1 else results[0]
        return SendResult(ok=True)


def make(
    sender: object,
    clock: Clock,
    *,
    dry_run: bool = False,
    max_attempts: int = 2,
    concurrency: int = 4,
    rate_limits: RateLimits | None = None,
) -> tuple[Dispatcher, MemoryOutbox]:
    outbox = MemoryOutbox()
    dispatcher = Dispatcher(
        outbox,
        sender,  # type: ignore[arg-type]
        rate_limits or RateLimits(),
        channels=CHANNELS,
        concurrency=concurrency,
        max_attempts=max_attempts,
        backoff_base_s=10.0,
        jitter=lambda: 0.5,
        clock=clock,
        dry_run=dry_run,
    )
    return dispatcher, outbox


def enqueue(
    outbox: MemoryOutbox,
    refs: Sequence[str],
    *,
    key: str = "incident-1:confirmed:contacts[0]",
    visibility: Visibility = Visibility.private,
    down: Sequence[str] = ("whatsapp",),
) -> int:
    return outbox.enqueue(
        key=key,
        incident_key="incident-1",
        event=IncidentEvent.confirmed,
        contact_ref="contacts[0]",
        channel_refs=refs,
        visibility=visibility,
        notice=NOTICE,
        now=START,
        down_platforms=down,
    )


class TestHappyPath:
    """A notice goes out once, through the first eligible channel."""

    async def test_sent_through_the_first_channel_whose_platform_is_up(self) -> None:
        sender, clock = ScriptedSender(), Clock()
        dispatcher, outbox = make(sender, clock)
        notice_id = enqueue(outbox, ["c.bridge", "c.signal", "c.email"])
        summary = await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == ["c.signal"]  # the bridge depends on WhatsApp: no attempt at all
        assert record.state is NoticeState.sent
        assert record.channel_ref == "c.signal"
        assert [(d.channel_ref, d.ok) for d in record.deliveries] == [("c.signal", True)]
        assert (summary.sent, summary.attempts) == (1, 1)

    async def test_a_key_is_enqueued_once(self) -> None:
        _, outbox = make(ScriptedSender(), Clock())
        assert enqueue(outbox, ["c.email"]) == enqueue(outbox, ["c.email"])
        assert len(outbox) == 1


class TestRetriesAndFallOver:
    """Failures retry with backoff, then fall over to the next channel."""

    async def test_retry_with_backoff_then_fall_over(self) -> None:
        failing = SendResult(ok=False, error="signal: failure (HTTP 500)")
        sender, clock = ScriptedSender({"c.signal": [failing]}), Clock()
        dispatcher, outbox = make(sender, clock, max_attempts=2)
        notice_id = enqueue(outbox, ["c.signal", "c.email"])

        first = await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert (first.attempts, first.rescheduled) == (1, 1)
        assert record.state is NoticeState.pending
        assert record.next_attempt_at == START + timedelta(seconds=15)  # 10 s * 2**0 * (1 + 0.5)

        clock.now += timedelta(seconds=14)
        assert (await dispatcher.dispatch_due()).attempts == 0  # not due yet

        clock.now += timedelta(seconds=1)
        second = await dispatcher.dispatch_due()
        # the second failure exhausts the channel; the fall-over is immediate
        assert sender.calls == ["c.signal", "c.signal", "c.email"]
        assert (second.attempts, second.sent) == (2, 1)
        assert record.state is NoticeState.sent
        assert record.channel_ref == "c.email"
        assert [(d.channel_ref, d.ok, d.error) for d in record.deliveries] == [
            ("c.signal", False, "signal: failure (HTTP 500)"),
            ("c.signal", False, "signal: failure (HTTP 500)"),
            ("c.email", True, ""),
        ]

    async def test_all_channels_failing_ends_failed_with_the_reason(self) -> None:
        sender = ScriptedSender(
            {
                "c.signal": [SendResult(ok=False, error="signal: failure (HTTP 500)")],
                "c.email": [SendResult(ok=False, error="mail: rejected (SMTP 554)")],
            }
        )
        clock = Clock()
        dispatcher, outbox = make(sender, clock, max_attempts=1)
        notice_id = enqueue(outbox, ["c.signal", "c.email"])
        summary = await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert record.state is NoticeState.failed
        assert record.reason == "all channels failed; last: c.email: mail: rejected (SMTP 554)"
        assert (summary.failed, summary.attempts) == (1, 2)

    async def test_a_refused_channel_is_not_retried(self) -> None:
        sender = ScriptedSender({"c.signal": [SendResult(ok=False, error="nope", refused=True)]})
        dispatcher, outbox = make(sender, Clock(), max_attempts=3)
        notice_id = enqueue(outbox, ["c.signal", "c.email"])
        await dispatcher.dispatch_due()
        assert sender.calls == ["c.signal", "c.email"]
        assert outbox.get(notice_id).state is NoticeState.sent

    async def test_a_sender_that_raises_is_a_failed_attempt(self) -> None:
        class Broken:
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                raise RuntimeError("bug with a secret in it: hunter2")

        dispatcher, outbox = make(Broken(), Clock(), max_attempts=1)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert record.state is NoticeState.failed
        assert "hunter2" not in record.reason
        assert record.deliveries[0].error == "mailto: RuntimeError"


class TestSkips:
    """No eligible channel means skipped, with the reasons, and no attempt."""

    async def test_every_channel_depends_on_a_down_platform(self) -> None:
        sender = ScriptedSender()
        dispatcher, outbox = make(sender, Clock())
        notice_id = enqueue(outbox, ["c.bridge", "c.signal"], down=("whatsapp", "signal"))
        summary = await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == []
        assert record.deliveries == []
        assert record.state is NoticeState.skipped
        assert record.reason == (
            "no eligible channel: c.bridge depends on whatsapp (down); c.signal depends on signal (down)"
        )
        assert summary.skipped == 1

    async def test_a_private_notice_never_reaches_a_public_channel(self) -> None:
        sender = ScriptedSender()
        dispatcher, outbox = make(sender, Clock())
        notice_id = enqueue(outbox, ["shared.announce"], visibility=Visibility.private)
        await dispatcher.dispatch_due()
        assert sender.calls == []
        assert (
            outbox.get(notice_id).reason
            == "no eligible channel: shared.announce is public and the notice is private"
        )

    async def test_a_channel_no_longer_configured(self) -> None:
        dispatcher, outbox = make(ScriptedSender(), Clock())
        notice_id = enqueue(outbox, ["contacts[9].channels[0]"])
        await dispatcher.dispatch_due()
        assert (
            outbox.get(notice_id).reason == "no eligible channel: contacts[9].channels[0] is not configured"
        )

    async def test_the_private_to_public_refusal_holds_at_send_time_too(self) -> None:
        async with ApprisePlugins(max_workers=1) as sender:
            result = await sender.send(CHANNELS["shared.announce"], NOTICE, visibility=Visibility.private)
        assert result == SendResult(
            ok=False, error="shared.announce: a private notice may not go to a public channel", refused=True
        )


class TestDryRunAndDrain:
    """A dry run records everything and sends nothing; drain finishes what is in flight."""

    async def test_dry_run_sends_nothing(self) -> None:
        sender = ScriptedSender()
        dispatcher, outbox = make(sender, Clock(), dry_run=True)
        notice_id = enqueue(outbox, ["c.bridge", "c.email"])
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == []
        assert record.state is NoticeState.skipped
        assert record.reason == "dry run: would send via c.email (mailto://***)"

    async def test_drain_finishes_in_flight_and_claims_nothing_new(self) -> None:
        gate, two_started = asyncio.Event(), asyncio.Event()

        class Slow(ScriptedSender):
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                self.calls.append(channel.ref)
                if len(self.calls) == 2:
                    two_started.set()
                await gate.wait()
                return SendResult(ok=True)

        sender = Slow()
        dispatcher, outbox = make(sender, Clock(), concurrency=2)
        ids = [enqueue(outbox, ["c.email"], key=f"k{index}") for index in range(5)]
        running = asyncio.create_task(dispatcher.run(poll_interval_s=0.01))
        await two_started.wait()
        draining = asyncio.create_task(dispatcher.drain())
        await asyncio.sleep(0.01)
        assert not draining.done()
        gate.set()
        await draining
        await running
        states = [outbox.get(notice_id).state for notice_id in ids]
        assert states.count(NoticeState.sent) == 2
        assert states.count(NoticeState.pending) == 3
        assert dispatcher.draining

    async def test_drain_hands_back_what_waits_for_its_rate_limit(self) -> None:
        """Deliveries queued behind a rate limit when a drain begins are not sent: their
        notices go back to pending untouched, and the drain does not wait for the limit."""
        limits = RateLimits({"mailto": RateLimit(per_minute=1, burst=1)})
        first_sent = asyncio.Event()

        class Recording(ScriptedSender):
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                first_sent.set()
                return await super().send(channel, notice, visibility=visibility)

        sender = Recording()
        dispatcher, outbox = make(sender, Clock(), concurrency=4, rate_limits=limits)
        ids = [enqueue(outbox, ["c.email"], key=f"k{index}") for index in range(4)]
        running = asyncio.create_task(dispatcher.run(poll_interval_s=0.01))
        await asyncio.wait_for(first_sent.wait(), timeout=5)
        await asyncio.sleep(0.05)  # the other three are now waiting a minute for a token
        await asyncio.wait_for(dispatcher.drain(), timeout=5)
        await asyncio.wait_for(running, timeout=5)
        states = [outbox.get(notice_id).state for notice_id in ids]
        assert states.count(NoticeState.sent) == 1
        assert states.count(NoticeState.pending) == 3
        assert sender.calls == ["c.email"]
        handed_back = [outbox.get(n) for n in ids if outbox.get(n).state is NoticeState.pending]
        assert all(record.notice.attempts == 0 and not record.deliveries for record in handed_back)

    async def test_bounded_concurrency(self) -> None:
        in_flight = 0
        peak = 0

        class Counting(ScriptedSender):
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.001)
                in_flight -= 1
                return SendResult(ok=True)

        dispatcher, outbox = make(Counting(), Clock(), concurrency=3)
        for index in range(20):
            enqueue(outbox, ["c.email"], key=f"k{index}")
        summary = await dispatcher.dispatch_due()
        assert summary.sent == 20
        assert peak == 3


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        make(ScriptedSender(), Clock(), concurrency=0)
