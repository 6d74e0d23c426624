"""The pump's claims over a real SQLite outbox and a real SMTP server on 127.0.0.1: a claim
names its pump and lasts a lease, so a second pump never takes a live one's notices, while
those of a dead process, or whose lease ran out, are taken back at once; a step the
database refuses is written again, never sent again; notices claimed and never handed over
go back at once; an outage notice its recovery notice overtook is not sent late."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from failover.config import Config
from failover.domain import (
    Channel,
    Incident,
    IncidentEvent,
    IncidentKind,
    IncidentScope,
    NoticeState,
    Visibility,
)
from failover.errors import StoreError
from failover.notify import RenderedNotice, SendResult
from failover.service import NoticePump, open_store, plan_notices
from failover.store import Store
from tests.kit import SmtpSink, fresh_schema, postgres_user, schema_url
from tests.outage import per_recipient
from tests.service.test_fanout_crash import queue_fanout, recipients, write_config

CONTACTS = 6


class BlockingSender:
    """Holds every send until released, then answers success; counts what it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[str] = []

    async def send(self, channel: Channel, notice: RenderedNotice, *, visibility: Visibility) -> SendResult:
        self.started.append(channel.ref)
        await self.release.wait()
        return SendResult(ok=True)


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


def states(store: Store) -> dict[NoticeState, int]:
    return {state: n for state, n in store.outbox_counts().items() if n}


def fanout(tmp_path: Path, port: int, **options: Any) -> Config:
    return queue_fanout(write_config(tmp_path, port, contacts=CONTACTS, **options))


def dead_pid() -> int:
    """The id of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class TestHolders:
    """Who holds a claim decides who may take it back."""

    async def test_a_second_pump_leaves_a_live_pumps_claims_alone(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = fanout(tmp_path, smtp_sink.port)
        slow = BlockingSender()
        with open_store(config) as store:
            async with NoticePump(config=config, store=store, sender=slow) as first:
                running = asyncio.create_task(first.deliver_due())
                await until(lambda: len(slow.started) == CONTACTS, "the first pump to claim everything")
                async with NoticePump(config=config, store=store) as second:  # a daemon starting
                    assert second.holder != first.holder
                    summary = await second.deliver_due()
                    assert summary.attempts == 0
                    assert states(store) == {NoticeState.sending: CONTACTS}
                slow.release.set()
                await running
            assert states(store) == {NoticeState.sent: CONTACTS}
        assert smtp_sink.messages == []  # the second pump sent nothing

    async def test_the_claims_of_a_dead_process_are_taken_back_at_once(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = fanout(tmp_path, smtp_sink.port)
        with open_store(config) as store:
            gone = f"{socket.gethostname()}:{dead_pid()}:deadbeef"
            store.claim_notices(now=datetime.now(UTC), limit=4, holder=gone)
            async with NoticePump(config=config, store=store) as pump:
                assert states(store) == {NoticeState.pending: CONTACTS}  # handed back on entry
                await pump.deliver_due()
            assert states(store) == {NoticeState.sent: CONTACTS}
        assert set(per_recipient(smtp_sink.messages)) == recipients(CONTACTS)

    async def test_a_live_holder_elsewhere_keeps_its_claims_until_the_lease_runs_out(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = fanout(tmp_path, smtp_sink.port)
        now = datetime.now(UTC)
        with open_store(config) as store:
            store.claim_notices(now=now, limit=2, holder="another-host:1:cafe", lease=timedelta(seconds=60))
            async with NoticePump(config=config, store=store) as pump:
                await pump.deliver_due()
            assert states(store) == {NoticeState.sent: CONTACTS - 2, NoticeState.sending: 2}
            later = now + timedelta(seconds=61)
            async with NoticePump(config=config, store=store, clock=lambda: later) as pump:
                await pump.deliver_due()
            assert states(store) == {NoticeState.sent: CONTACTS}
        assert max(per_recipient(smtp_sink.messages).values()) == 1


class TestSettledTogether:
    """Deliveries that end together are settled together, and each only by its holder."""

    async def test_a_notice_taken_back_mid_delivery_is_left_to_its_new_holder(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = fanout(tmp_path, smtp_sink.port)
        slow = BlockingSender()
        with open_store(config) as store, structlog.testing.capture_logs() as logged:
            async with NoticePump(config=config, store=store, sender=slow) as pump:
                running = asyncio.create_task(pump.deliver_due())
                await until(lambda: len(slow.started) == CONTACTS, "every notice to be on its way")
                # two claims ran out while their sends hung, and another dispatcher took them
                taken = [notice.id for notice in store.notices(1)][:2]
                assert store.release_claims(pump.holder, taken) == 2
                retaken = store.claim_notices(now=datetime.now(UTC), limit=2, holder="another-host:1:cafe")
                assert sorted(notice.id for notice in retaken) == sorted(taken)
                slow.release.set()  # every send ends at once: settled in groups
                summary = await running
            assert summary.attempts == CONTACTS
            assert states(store) == {NoticeState.sent: CONTACTS - 2, NoticeState.sending: 2}
            by_id = {notice.id: notice for notice in store.notices(1)}
            assert {by_id[i].claimed_by for i in taken} == {"another-host:1:cafe"}
            assert all(len(store.deliveries(i)) == 1 for i in by_id)  # every attempt recorded
        left_alone = [entry["notice_id"] for entry in logged if entry["event"] == "notice_no_longer_held"]
        assert sorted(left_alone) == sorted(taken)

    @pytest.mark.postgres
    async def test_two_dispatchers_on_postgresql_tell_everyone_once(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """A daemon and a ``failover trigger`` delivering one outbox at the same time, on
        PostgreSQL: their claims, attempts and grouped marks interleave on the same table,
        and every contact gets one message."""
        contacts = 300
        user = postgres_user()
        with fresh_schema(user) as schema:
            path = write_config(
                tmp_path, smtp_sink.port, contacts=contacts, database_url=schema_url(user, schema)
            )
            config = queue_fanout(path)
            with open_store(config) as first_store, open_store(config) as second_store:
                async with (
                    NoticePump(config=config, store=first_store) as first,
                    NoticePump(config=config, store=second_store) as second,
                ):
                    assert first.holder != second.holder
                    done = await asyncio.gather(first.deliver_due(), second.deliver_due())
                assert states(first_store) == {NoticeState.sent: contacts}
                assert sum(summary.sent for summary in done) == contacts
                assert all(summary.sent > 0 for summary in done)  # both took their share
                assert all(len(first_store.deliveries(n.id)) == 1 for n in first_store.notices(1))
        assert per_recipient(smtp_sink.messages) == dict.fromkeys(recipients(contacts), 1)


class FlakyStore:
    """A store whose named methods raise ``StoreError`` the first ``times`` calls (as
    SQLite does while another connection holds the write lock)."""

    def __init__(self, store: Store, methods: set[str], times: int) -> None:
        self._store = store
        self._methods = methods
        self.left = times
        self.refused: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in self._methods:
            return attribute

        def flaky(*args: Any, **kwargs: Any) -> Any:
            if self.left > 0:
                self.left -= 1
                self.refused.append(name)
                raise StoreError(f"cannot {name}: OperationalError: database is locked")
            return attribute(*args, **kwargs)

        return flaky


class TestRefusedWrites:
    """A step the database refuses is written again; nothing is sent twice or stranded."""

    @pytest.mark.parametrize("step", ["record_deliveries", "mark_notices_sent"])
    async def test_a_refused_step_is_written_later_and_nothing_is_sent_twice(
        self, tmp_path: Path, smtp_sink: SmtpSink, step: str
    ) -> None:
        config = fanout(tmp_path, smtp_sink.port)
        with open_store(config) as real:
            store = FlakyStore(real, {step}, times=5)
            async with NoticePump(config=config, store=store) as pump:  # type: ignore[arg-type]
                await pump.deliver_due()
            assert store.refused == [step] * 5
            assert states(real) == {NoticeState.sent: CONTACTS}
            assert all(len(real.deliveries(n.id)) == 1 for n in real.notices(1))
        assert per_recipient(smtp_sink.messages) == dict.fromkeys(recipients(CONTACTS), 1)

    async def test_notices_claimed_and_never_handed_over_go_back_at_once(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """The claim is written, then reading the incident fails: the claimed notices are
        pending again before the pass reports its failure, not left for the lease."""
        config = fanout(tmp_path, smtp_sink.port)
        with open_store(config) as real:
            store = FlakyStore(real, {"incident"}, times=1)
            async with NoticePump(config=config, store=store) as pump:  # type: ignore[arg-type]
                with pytest.raises(StoreError, match="database is locked"):
                    await pump.deliver_due()
                assert states(real) == {NoticeState.pending: CONTACTS}
                await pump.deliver_due()
            assert states(real) == {NoticeState.sent: CONTACTS}
        assert per_recipient(smtp_sink.messages) == dict.fromkeys(recipients(CONTACTS), 1)


class TestSuperseded:
    """An outage notice still untold when its incident resolved gives way to the recovery."""

    async def test_the_recovery_notice_replaces_a_late_outage_notice(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        config = queue_resolved_outage(tmp_path, smtp_sink.port)
        with open_store(config) as store:
            async with NoticePump(config=config, store=store) as pump:
                await pump.deliver_due()
            notices = store.notices(1)
        outage = [n for n in notices if n.event is IncidentEvent.confirmed]
        recovery = [n for n in notices if n.event is IncidentEvent.resolved]
        assert {n.state for n in outage} == {NoticeState.skipped}
        assert {n.last_error for n in outage} == {
            "the incident resolved before this confirmed notice went out; its recovery notice replaces it"
        }
        assert {n.state for n in recovery} == {NoticeState.sent}
        assert per_recipient(smtp_sink.messages) == dict.fromkeys(recipients(CONTACTS), 1)


def queue_resolved_outage(tmp_path: Path, smtp_port: int) -> Config:
    """A WhatsApp outage confirmed, then resolved before anyone was told: both notices queued."""
    path = write_config(tmp_path, smtp_port, contacts=CONTACTS)
    path.write_text(
        path.read_text().replace(
            'template = "outage"', 'template = "outage"\nevents = ["confirmed", "resolved"]'
        )
    )
    config = queue_fanout(path)
    at = datetime.now(UTC)
    resolved = Incident(
        key="platform:whatsapp:crash-test",
        scope=IncidentScope.platform,
        kind=IncidentKind.unreachable,
        name="whatsapp",
        platforms=("whatsapp",),
        opened_at=at - timedelta(minutes=5),
        confirmed_at=at - timedelta(minutes=5),
        resolved_at=at,
    )
    changes = [(IncidentEvent.resolved, resolved)]
    with open_store(config) as store:
        store.record_decision(at=at, incident_events=changes, notices=plan_notices(config, changes, now=at))
    return config
