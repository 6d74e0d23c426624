"""A fan-out to 1,000 contacts survives its dispatcher being killed: every contact gets at
least one message, and each SIGKILL duplicates at most the deliveries that were in flight
(bounded by the concurrency setting), whatever the moment; a graceful stop (SIGTERM)
duplicates nothing. The dispatcher is a process of its own (tests/service/fanout_worker.py, a
NoticePump as the daemon runs it); messages are counted at a real SMTP server on
127.0.0.1, per recipient.

The helpers here are shared with tests/service/test_outbox_outage.py.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover.config import Config, load_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope, NoticeState
from failover.service import open_store, plan_notices
from tests.kit import SmtpSink
from tests.outage import per_recipient

pytestmark = pytest.mark.slow

CONTACTS = 1000
CONCURRENCY = 8
WORKER = Path(__file__).with_name("fanout_worker.py")
#: how long any one wait may last before a test gives up (generous: CI shares 2 cores)
WAIT_S = 120.0
#: the seed of the moments the dispatcher is killed at (printed on failure)
KILL_SEED = 20261122
KILLS = 6


def write_config(
    tmp_path: Path,
    smtp_port: int,
    *,
    contacts: int = CONTACTS,
    database_url: str | None = None,
    notify: str = "",
) -> Path:
    """One platform never probed, ``contacts`` contacts (in a contacts file) told by e-mail."""
    people = "".join(
        f'[[contacts]]\nid = "c{i:04d}"\nname = "Contact {i}"\ngroups = ["everyone"]\n'
        f'channels = [{{ email = "c{i:04d}@example.org" }}]\n\n'
        for i in range(contacts)
    )
    (tmp_path / "contacts.toml").write_text(people)
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
contacts_file = "contacts.toml"

[catalog]
builtin = false

[daemon]
database_url = "{database_url or f"sqlite:///{tmp_path}/failover.db"}"

[detection]
control_quorum = 0

[notify]
concurrency = {CONCURRENCY}
smtp_url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org"
{notify}

[notify.rate_per_minute]
default = 1000000
mailto = 1000000

[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9

[groups.everyone]

[[routes]]
name = "everyone"
template = "outage"
groups = ["everyone"]
"""
    )
    return path


def recipients(contacts: int = CONTACTS) -> set[str]:
    return {f"c{i:04d}@example.org" for i in range(contacts)}


def queue_fanout(config_path: Path) -> Config:
    """Record a confirmed WhatsApp outage whose notices reach every contact."""
    config = load_config(config_path, env={})
    at = datetime.now(UTC)
    incident = Incident(
        key="platform:whatsapp:crash-test",
        scope=IncidentScope.platform,
        kind=IncidentKind.unreachable,
        name="whatsapp",
        platforms=("whatsapp",),
        opened_at=at,
        confirmed_at=at,
    )
    changes = [(IncidentEvent.confirmed, incident)]
    with open_store(config) as store:
        store.record_decision(at=at, incident_events=changes, notices=plan_notices(config, changes, now=at))
        assert store.outbox_counts()[NoticeState.pending] == len(config.contacts)
    return config


def start_worker(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    """The dispatcher process, its JSON log lines appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(WORKER), str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            cwd=config_path.parent,
        )


def wait_until(
    condition: Callable[[], bool], what: str, *, timeout: float = WAIT_S, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            tail = ""
            if log is not None and log.exists():
                tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}{tail}")
        time.sleep(0.005)


def finish(worker: subprocess.Popen[bytes], log: Path, *, timeout: float = WAIT_S) -> None:
    """Wait for a worker to deliver everything and exit 0."""
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        pytest.fail(
            f"the dispatcher did not finish within {timeout:g} s\n{log.read_text(errors='replace')[-3000:]}"
        )
    assert worker.returncode == 0, log.read_text(errors="replace")[-3000:]


def stop(worker: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Send ``signum`` (unless it has exited) and reap the process: a reaped process is a
    dead one, whose claims can be taken back."""
    try:
        worker.send_signal(signum)  # nothing if it was reaped already
        worker.wait(timeout=WAIT_S)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def outbox_counts(config: Config) -> dict[NoticeState, int]:
    with open_store(config) as store:
        return store.outbox_counts()


class TestFanoutCrash:
    """The outbox makes delivery survive the process: no notice lost, duplicates bounded."""

    def test_sigkill_at_random_moments_loses_nothing_and_duplicates_at_most_the_in_flight(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        """Killed six times at moments drawn from a fixed seed (counted in messages
        delivered, not in time), restarted each time: every contact is told, and each kill
        duplicates at most the deliveries it interrupted."""
        config_path = write_config(tmp_path, smtp_sink.port)
        config = queue_fanout(config_path)
        log = tmp_path / "worker.log"
        moments = sorted(random.Random(KILL_SEED).sample(range(40, CONTACTS - 100), KILLS))
        for moment in moments:
            worker = start_worker(config_path, log)
            try:
                wait_until(lambda: len(smtp_sink.messages) >= moment, f"{moment} messages", log=log)  # noqa: B023
            finally:
                stop(worker, signal.SIGKILL)
            assert worker.returncode == -signal.SIGKILL
        assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the last kill"
        finish(start_worker(config_path, log), log)
        counts = outbox_counts(config)
        assert counts[NoticeState.sent] == CONTACTS
        assert counts[NoticeState.sending] == counts[NoticeState.pending] == 0
        received = per_recipient(smtp_sink.messages)
        assert set(received) == recipients(), f"seed {KILL_SEED}"
        duplicates = sum(count - 1 for count in received.values())
        assert duplicates <= KILLS * CONCURRENCY, f"seed {KILL_SEED}: {duplicates} duplicates"

    def test_sigterm_mid_fanout_duplicates_nothing(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        config_path = write_config(tmp_path, smtp_sink.port)
        config = queue_fanout(config_path)
        log = tmp_path / "worker.log"
        worker = start_worker(config_path, log)
        try:
            wait_until(lambda: len(smtp_sink.messages) >= 50, "the fan-out to begin", log=log)
        finally:
            stop(worker, signal.SIGTERM)
        assert worker.returncode == 0
        assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the signal"
        assert outbox_counts(config)[NoticeState.sending] == 0  # every delivery in flight was recorded
        finish(start_worker(config_path, log), log)
        received: Counter[str] = per_recipient(smtp_sink.messages)
        assert set(received) == recipients()
        assert max(received.values()) == 1
        assert outbox_counts(config)[NoticeState.sent] == CONTACTS
