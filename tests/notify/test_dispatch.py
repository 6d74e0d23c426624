"""The delivery engine over the memory outbox: retries, fall-over, skips, failures,
dry runs and draining, with a scripted sender and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from failover.domain import Channel, IncidentEvent, NoticeState, Visibility
from failover.notify import (
    ApprisePlugins,
    ChannelCursor,
    Dispatcher,
    MemoryOutbox,
    RateLimit,
    RateLimits,
    RenderedNotice,
    SendResult,
    SetAside,
    SetAsideReason,
)

START = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)
NOTICE = RenderedNotice(subject="WhatsApp indisponible", body="Joignez-nous par e-mail.\n", language="fr")
CHANNELS = {
    "c.bridge": Channel(ref="c.bridge", url="json://127.0.0.1:9/hook", depends_on=("whatsapp",)),
    "c.signal": Channel(
        ref="c.signal", url="signal://127.0.0.1:9/+15551234567/+15557654321", depends_on=("signal",)
    ),
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
    down_now: Collection[str] = (),
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
        down_platforms=lambda: down_now,
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

    async def test_the_last_channel_refusing_for_good_ends_failed_with_the_reason(self) -> None:
        sender = ScriptedSender(
            {
                "c.signal": [SendResult(ok=False, error="signal: failure (HTTP 500)")],
                "c.email": [SendResult(ok=False, error="mail: rejected (SMTP 554)", permanent=True)],
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
        """A bug in a sender is one failed attempt, temporary: the notice is tried again."""

        class Broken:
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                raise RuntimeError("bug with a secret in it: hunter2")

        dispatcher, outbox = make(Broken(), Clock(), max_attempts=1)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert record.state is NoticeState.pending
        assert record.deliveries[0].error == "mailto: RuntimeError"
        assert record.notice.last_error == "c.email: mailto: RuntimeError"


class TestCursor:
    """Delivery walks the recipient's channels in order with an explicit cursor: a channel
    whose platform is down is passed over without an attempt, and a notice fails only
    once every channel after the cursor has been tried or passed over."""

    async def test_a_retry_stays_on_its_channel_with_the_tries_counted(self) -> None:
        sender = ScriptedSender({"c.signal": [SendResult(ok=False, error="signal: failure (HTTP 500)")]})
        dispatcher, outbox = make(sender, Clock(), max_attempts=3)
        notice_id = enqueue(outbox, ["c.signal", "c.email"])
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert record.state is NoticeState.pending
        assert record.notice.cursor == ChannelCursor(index=0, tries=1)
        assert record.notice.attempts == 1

    async def test_the_first_channels_platform_judged_down_after_it_failed(self) -> None:
        """Signal fails once and is retried later; meanwhile Signal is judged down: the
        retry passes it over without an attempt and the e-mail goes out."""
        down: set[str] = set()
        sender = ScriptedSender({"c.signal": [SendResult(ok=False, error="signal: failure (HTTP 500)")]})
        clock = Clock()
        dispatcher, outbox = make(sender, clock, max_attempts=3, down_now=down)
        notice_id = enqueue(outbox, ["c.signal", "c.email"], down=())
        await dispatcher.dispatch_due()
        down.add("signal")
        clock.now += timedelta(minutes=1)
        summary = await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == ["c.signal", "c.email"]
        assert record.state is NoticeState.sent
        assert record.channel_ref == "c.email"
        assert (summary.sent, summary.attempts) == (1, 1)

    async def test_down_channels_in_the_middle_are_passed_over(self) -> None:
        sender = ScriptedSender({"c.signal": [SendResult(ok=False, error="x", refused=True)]})
        dispatcher, outbox = make(sender, Clock(), max_attempts=2)
        notice_id = enqueue(outbox, ["c.signal", "c.bridge", "contacts[9].channels[0]", "c.email"])
        await dispatcher.dispatch_due()
        assert sender.calls == ["c.signal", "c.email"]
        assert outbox.get(notice_id).state is NoticeState.sent

    async def test_no_channel_left_after_a_failure_fails_with_every_reason(self) -> None:
        down: set[str] = set()
        sender = ScriptedSender({"c.signal": [SendResult(ok=False, error="signal: failure (HTTP 500)")]})
        clock = Clock()
        dispatcher, outbox = make(sender, clock, max_attempts=3, down_now=down)
        notice_id = enqueue(outbox, ["c.signal", "c.bridge"], down=())
        await dispatcher.dispatch_due()
        down.update({"signal", "whatsapp"})
        clock.now += timedelta(minutes=1)
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == ["c.signal"]
        assert record.state is NoticeState.failed
        assert record.why is not None
        assert record.why.reason is SetAsideReason.channels_failed
        assert record.reason == (
            "all channels failed; last: c.signal: signal: failure (HTTP 500); "
            "c.signal depends on signal (down); c.bridge depends on whatsapp (down)"
        )

    async def test_a_handed_back_notice_keeps_its_place(self) -> None:
        """A notice released by a drain after its first channel gave out resumes on the next."""
        limits = RateLimits({"mailto": RateLimit(per_minute=1, burst=1)})
        refused = asyncio.Event()

        class Refusing(ScriptedSender):
            async def send(
                self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility
            ) -> SendResult:
                if channel.ref == "c.signal":
                    refused.set()
                    return SendResult(ok=False, error="x", refused=True)
                return await super().send(channel, notice, visibility=visibility)

        dispatcher, outbox = make(Refusing(), Clock(), max_attempts=3, rate_limits=limits)
        enqueue(outbox, ["c.email"], key="takes-the-only-token")
        notice_id = enqueue(outbox, ["c.signal", "c.email"])
        running = asyncio.create_task(dispatcher.dispatch_due())
        await asyncio.wait_for(refused.wait(), timeout=30)
        await asyncio.sleep(0.01)  # the fall-over now waits a minute for the mail token
        await asyncio.wait_for(dispatcher.drain(), timeout=30)
        await running
        record = outbox.get(notice_id)
        assert record.state is NoticeState.pending
        assert record.notice.cursor == ChannelCursor(index=1, tries=0)


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
        assert record.why is not None
        assert record.why.reason is SetAsideReason.no_channel
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
        assert record.reason == "dry run: would send via c.email (mailto)"
        assert record.why == SetAside(
            reason=SetAsideReason.dry_run, detail=record.reason, channel_ref="c.email"
        )

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
        await asyncio.wait_for(first_sent.wait(), timeout=30)
        await asyncio.sleep(0.05)  # the other three are now waiting a minute for a token
        await asyncio.wait_for(dispatcher.drain(), timeout=30)
        await asyncio.wait_for(running, timeout=30)
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


def temporary(error: str = "mail: connection refused") -> SendResult:
    return SendResult(ok=False, error=error)


def permanent(error: str = "mail: recipient refused (SMTP 550)") -> SendResult:
    return SendResult(ok=False, error=error, permanent=True)


def outlasting(sender: object, clock: Clock, **options: object) -> tuple[Dispatcher, MemoryOutbox]:
    """A dispatcher with waits doubling from 10 s under a 60 s ceiling, giving up after 1 h."""
    outbox = MemoryOutbox()
    dispatcher = Dispatcher(
        outbox,
        sender,  # type: ignore[arg-type]
        RateLimits(),
        channels=CHANNELS,
        max_attempts=2,
        backoff_base_s=10.0,
        backoff_max_s=60.0,
        give_up_after_s=3600.0,
        jitter=lambda: 0.5,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )
    return dispatcher, outbox


async def retry_when_due(dispatcher: Dispatcher, outbox: MemoryOutbox, notice_id: int, clock: Clock) -> None:
    clock.now = outbox.get(notice_id).next_attempt_at
    await dispatcher.dispatch_due()


class TestTemporaryFailuresOutlastTheOutage:
    """A temporary failure is retried, on the last channel that may be tried, with waits
    that double up to a ceiling, until it goes out or give_up_after has passed; a refusal
    for good falls over at once, and ends the notice when no channel follows."""

    async def test_the_only_channel_is_retried_past_max_attempts_until_it_works(self) -> None:
        sender, clock = ScriptedSender({"c.email": [temporary()] * 7 + [SendResult(ok=True)]}), Clock()
        dispatcher, outbox = outlasting(sender, clock)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        waits = []
        while outbox.get(notice_id).state is NoticeState.pending:
            waits.append((outbox.get(notice_id).next_attempt_at - clock.now).total_seconds())
            await retry_when_due(dispatcher, outbox, notice_id, clock)
        record = outbox.get(notice_id)
        assert record.state is NoticeState.sent
        assert len(record.deliveries) == 8
        # (1 + 0.5) * min(10 * 2**(n-1), 60 / 2): doubling, then held under backoff_max
        assert waits == [15.0, 30.0, 45.0, 45.0, 45.0, 45.0, 45.0]

    async def test_temporary_failures_end_only_after_give_up_after(self) -> None:
        sender, clock = ScriptedSender({"c.email": [temporary()]}), Clock()
        dispatcher, outbox = outlasting(sender, clock)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        while outbox.get(notice_id).state is NoticeState.pending:
            assert clock.now - START < timedelta(hours=1, minutes=1)
            await retry_when_due(dispatcher, outbox, notice_id, clock)
        record = outbox.get(notice_id)
        assert record.state is NoticeState.failed
        assert clock.now - START >= timedelta(hours=1)
        assert record.why == SetAside(
            reason=SetAsideReason.gave_up,
            detail="gave up after 1 h of temporary failures; last: c.email: mail: connection refused",
        )
        assert len(record.deliveries) > 70

    async def test_a_refusal_for_good_ends_the_only_channel_at_once(self) -> None:
        sender, clock = ScriptedSender({"c.email": [permanent()]}), Clock()
        dispatcher, outbox = outlasting(sender, clock)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        record = outbox.get(notice_id)
        assert sender.calls == ["c.email"]
        assert record.state is NoticeState.failed
        assert record.why is not None
        assert record.why.reason is SetAsideReason.channels_failed
        assert record.reason == "all channels failed; last: c.email: mail: recipient refused (SMTP 550)"

    async def test_a_refusal_for_good_falls_over_without_retrying(self) -> None:
        sender, clock = ScriptedSender({"c.signal": [permanent("signal: failure (HTTP 400)")]}), Clock()
        dispatcher, outbox = outlasting(sender, clock)
        notice_id = enqueue(outbox, ["c.signal", "c.email"])
        await dispatcher.dispatch_due()
        assert sender.calls == ["c.signal", "c.email"]
        assert outbox.get(notice_id).state is NoticeState.sent

    async def test_the_cursor_never_goes_back_to_the_preferred_channel(self) -> None:
        """Signal fails its tries, e-mail then keeps failing for a while: the notice waits
        on e-mail, even once Signal would work again, and goes out by e-mail."""
        sender = ScriptedSender(
            {
                "c.signal": [temporary("signal: failure (HTTP 503)")] * 2 + [SendResult(ok=True)],
                "c.email": [temporary()] * 4 + [SendResult(ok=True)],
            }
        )
        clock = Clock()
        dispatcher, outbox = outlasting(sender, clock)
        notice_id = enqueue(outbox, ["c.signal", "c.email"], down=())
        await dispatcher.dispatch_due()
        while outbox.get(notice_id).state is NoticeState.pending:
            await retry_when_due(dispatcher, outbox, notice_id, clock)
        assert sender.calls == ["c.signal", "c.signal", "c.email", "c.email", "c.email", "c.email", "c.email"]
        assert outbox.get(notice_id).channel_ref == "c.email"

    async def test_a_one_shot_dispatcher_ends_when_the_last_channels_tries_are_spent(self) -> None:
        sender, clock = ScriptedSender({"c.email": [temporary()]}), Clock()
        dispatcher, outbox = outlasting(sender, clock, one_shot=True)
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        await retry_when_due(dispatcher, outbox, notice_id, clock)
        assert sender.calls == ["c.email", "c.email"]
        assert outbox.get(notice_id).reason == "all channels failed; last: c.email: mail: connection refused"

    async def test_waits_are_spread_by_jitter_and_stay_under_backoff_max(self) -> None:
        draws = iter([0.0, 0.999, 0.25] * 20)
        sender, clock = ScriptedSender({"c.email": [temporary()]}), Clock()
        outbox = MemoryOutbox()
        dispatcher = Dispatcher(
            outbox,
            sender,
            RateLimits(),
            channels=CHANNELS,
            backoff_base_s=1.0,
            backoff_max_s=8.0,
            jitter=lambda: next(draws),
            clock=clock,
        )
        notice_id = enqueue(outbox, ["c.email"])
        await dispatcher.dispatch_due()
        waits = []
        for _ in range(8):
            waits.append((outbox.get(notice_id).next_attempt_at - clock.now).total_seconds())
            await retry_when_due(dispatcher, outbox, notice_id, clock)
        assert waits[:3] == [1.0, pytest.approx(3.998), 5.0]  # 1 x 1, 2 x 1.999, 4 x 1.25
        assert all(wait < 8.0 for wait in waits)
        assert min(waits[3:]) >= 4.0  # the ceiling (half of backoff_max) times 1 + jitter
