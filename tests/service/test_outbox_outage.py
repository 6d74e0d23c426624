"""The outbox outlasts outages: a fan-out to a few hundred contacts (scaled down from the
2,000 of issue 13) by a dispatcher process of its own (tests/service/fanout_worker.py) while the
mail server goes away and comes back, answers 451 for a while, or while the database
refuses writes (SQLite locked by another connection; PostgreSQL cut off as in a restart).
Counted per recipient at a real SMTP server on 127.0.0.1: nobody is left out, nobody is
told twice, no notice fails, and no claim is left for its lease to run out.

The outages last a set time (the test's own doing); nothing is timed against the clock.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover.config import load_config
from failover.domain import NoticeState
from failover.service import NoticePump, open_store
from tests.kit import (
    PG_PORT,
    FakeClock,
    ReceivedMessage,
    SmtpSink,
    free_port,
    fresh_schema,
    postgres_user,
    schema_url,
)
from tests.outage import SmtpSinkOnPort, TcpProxy, per_recipient
from tests.service.test_fanout_crash import (
    finish,
    outbox_counts,
    queue_fanout,
    recipients,
    start_worker,
    stop,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow

CONTACTS = 300
#: how long the mail server stays away or answers 451: a minute, as relays do when the
#: networks are congested (longer outages: bench/fanout.py --outage 600)
OUTAGE_S = 60.0
#: how long the database refuses writes: more than SQLite's 5 s busy timeout, twice over
LOCK_S = 12.0
#: the retry policy of these tests: waits doubling from 200 ms, held under 4 s
NOTIFY = """backoff_base = "200ms"
backoff_max = "4s"
give_up_after = "1h"
"""


def events(log: Path, name: str | None = None) -> list[dict[str, object]]:
    """The worker's JSON log lines (of the event ``name``)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if name is None or entry.get("event") == name:
                found.append(entry)
    return found


def failed_attempts(log: Path, error: str) -> int:
    return sum(
        1 for e in events(log, "notice_delivery") if e.get("outcome") == "failed" and e.get("error") == error
    )


def assert_everyone_told_once(messages: list[ReceivedMessage], config_path: Path, log: Path) -> None:
    received = per_recipient(messages)
    assert set(received) == recipients(CONTACTS)
    assert max(received.values()) == 1, {who: n for who, n in received.items() if n > 1}
    counts = outbox_counts(load_config(config_path, env={}))
    assert counts[NoticeState.sent] == CONTACTS
    assert counts[NoticeState.failed] == counts[NoticeState.sending] == counts[NoticeState.pending] == 0
    # no claim waited for its lease to run out: each was settled or handed back at once
    assert [e for e in events(log, "notice_claims_released") if e.get("reason") == "lease_expired"] == []


class TestMailServerOutage:
    """Temporary failures are retried until the server is back; none becomes a failure."""

    def test_the_server_down_mid_fanout_loses_nothing_and_duplicates_nothing(self, tmp_path: Path) -> None:
        """The SMTP server stops (its connections cut) once 50 messages are in, stays away
        for a minute, and a new one starts on the same port."""
        first = SmtpSink()
        first.start()
        port, messages = first.port, first.messages
        second: SmtpSink | None = None
        config_path = write_config(tmp_path, port, contacts=CONTACTS, notify=NOTIFY)
        queue_fanout(config_path)
        log = tmp_path / "worker.log"
        worker = start_worker(config_path, log)
        try:
            wait_until(lambda: len(messages) >= 50, "the fan-out to begin", log=log)
            first.stop()
            at_stop = len(messages)
            assert at_stop < CONTACTS, "the fan-out ended before the outage"
            wait_until(
                lambda: failed_attempts(log, "mail: connection refused") >= CONTACTS - at_stop,
                "a refused attempt for every notice left",
                log=log,
            )
            time.sleep(OUTAGE_S)
            counts = outbox_counts(load_config(config_path, env={}))
            assert counts[NoticeState.failed] == 0  # temporary: retried, not failed
            assert counts[NoticeState.pending] + counts[NoticeState.sending] == CONTACTS - at_stop
            second = SmtpSinkOnPort(port, messages=messages)
            second.start()
            finish(worker, log)
        finally:
            stop(worker, signal.SIGKILL)
            first.stop()
            if second is not None:
                second.stop()
        assert (
            failed_attempts(log, "mail: connection refused") > CONTACTS - at_stop
        )  # retried again and again
        assert events(log, "notices_hastened"), "the server's return brought the waiting notices forward"
        assert_everyone_told_once(messages, config_path, log)

    def test_451_for_a_while_loses_nothing(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        config_path = write_config(tmp_path, smtp_sink.port, contacts=CONTACTS, notify=NOTIFY)
        queue_fanout(config_path)
        log = tmp_path / "worker.log"
        worker = start_worker(config_path, log)
        try:
            wait_until(lambda: len(smtp_sink.messages) >= 50, "the fan-out to begin", log=log)
            smtp_sink.fail_with(451)
            at_refusal = len(smtp_sink.messages)
            assert at_refusal < CONTACTS, "the fan-out ended before the refusals"
            time.sleep(OUTAGE_S)
            assert outbox_counts(load_config(config_path, env={}))[NoticeState.failed] == 0
            smtp_sink.fail_with(None)
            finish(worker, log)
        finally:
            stop(worker, signal.SIGKILL)
        assert failed_attempts(log, "mail: recipient refused (SMTP 451)") >= CONTACTS - at_refusal
        assert_everyone_told_once(smtp_sink.messages, config_path, log)


class TestLongOutage:
    """Ten minutes without a mail server, over real SMTP (every attempt refused by the
    port) on the default retry policy, the delivery passes run on a clock the test moves:
    what decides whether a notice outlives an outage is its retry schedule against the
    clock, which a moved clock exercises as ten real minutes would."""

    #: simulated time between two delivery passes, and how long the server stays away
    STEP_S, LONG_OUTAGE_S = 5.0, 600.0

    async def test_ten_minutes_without_a_mail_server_loses_nothing(self, tmp_path: Path) -> None:
        contacts = 60
        port = free_port()  # nothing listens: each attempt is refused
        config = queue_fanout(write_config(tmp_path, port, contacts=contacts))
        clock = FakeClock(datetime.now(UTC))
        server: SmtpSinkOnPort | None = None
        with open_store(config) as store:
            try:
                async with NoticePump(config=config, store=store, clock=clock) as pump:
                    attempts_during = 0
                    for _ in range(int(self.LONG_OUTAGE_S / self.STEP_S)):
                        summary = await pump.deliver_due()
                        attempts_during += summary.attempts
                        clock.advance(self.STEP_S)
                    counts = store.outbox_counts()
                    assert counts[NoticeState.failed] == 0  # temporary: retried, not given up
                    assert counts[NoticeState.pending] == contacts
                    # still tried all along, not once and then forgotten
                    assert attempts_during >= contacts * 5
                    server = SmtpSinkOnPort(port)
                    server.start()
                    cap = time.monotonic() + 120.0
                    while store.outbox_counts()[NoticeState.sent] < contacts:
                        assert time.monotonic() < cap, store.outbox_counts()
                        clock.advance(self.STEP_S)
                        await pump.deliver_due()
            finally:
                if server is not None:
                    server.stop()
        received = per_recipient(server.messages)
        assert set(received) == recipients(contacts)
        assert max(received.values()) == 1


class TestDatabaseOutage:
    """A delivery whose bookkeeping cannot be written is written later, not sent again,
    and nothing it claimed is left stranded."""

    def test_sqlite_locked_by_another_writer_mid_delivery(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        config_path = write_config(tmp_path, smtp_sink.port, contacts=CONTACTS, notify=NOTIFY)
        queue_fanout(config_path)
        log = tmp_path / "worker.log"
        worker = start_worker(config_path, log)
        locker = sqlite3.connect(tmp_path / "failover.db", timeout=30.0, isolation_level=None)
        try:
            wait_until(lambda: len(smtp_sink.messages) >= 50, "the fan-out to begin", log=log)
            locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
            assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the lock"
            wait_until(lambda: bool(events(log, "notice_write_failed")), "a write to be refused", log=log)
            time.sleep(LOCK_S)
            locker.execute("ROLLBACK")
            finish(worker, log)
        finally:
            locker.close()
            stop(worker, signal.SIGKILL)
        assert events(log, "notice_write_recovered")
        assert_everyone_told_once(smtp_sink.messages, config_path, log)

    @pytest.mark.postgres
    def test_postgresql_restarting_mid_delivery(
        self, tmp_path: Path, smtp_sink: SmtpSink, pg_schema: tuple[str, str]
    ) -> None:
        """Every connection to PostgreSQL is cut and new ones refused for a while (what a
        restart looks like to its clients), through a relay on 127.0.0.1."""
        user, schema = pg_schema
        with TcpProxy(PG_PORT) as relay:
            url = schema_url(user, schema, port=relay.port)
            config_path = write_config(
                tmp_path, smtp_sink.port, contacts=CONTACTS, notify=NOTIFY, database_url=url
            )
            queue_fanout(config_path)
            log = tmp_path / "worker.log"
            worker = start_worker(config_path, log)
            try:
                wait_until(lambda: len(smtp_sink.messages) >= 50, "the fan-out to begin", log=log)
                relay.down()
                assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the restart"
                wait_until(lambda: bool(events(log, "notice_write_failed")), "a write to fail", log=log)
                time.sleep(LOCK_S)
                relay.up()
                finish(worker, log)
            finally:
                stop(worker, signal.SIGKILL)
            assert events(log, "notice_write_recovered")
            assert_everyone_told_once(smtp_sink.messages, config_path, log)


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema on this machine's PostgreSQL (other suites share the database);
    fails on CI, skips elsewhere, when the server is absent."""
    user = postgres_user()
    with fresh_schema(user) as schema:
        yield user, schema
