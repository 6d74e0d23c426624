"""A fan-out to 1,000 contacts survives its dispatcher being killed: every contact gets at
least one message, and a SIGKILL duplicates at most the deliveries that were in flight
(bounded by the concurrency setting); a graceful stop (SIGTERM) duplicates nothing.
Messages are counted at a real SMTP server on 127.0.0.1, per recipient."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failover.config import load_config
from failover.domain import Incident, IncidentEvent, IncidentKind, IncidentScope
from failover.service import open_store, plan_notices
from failover.store import NoticeState
from tests.kit import SmtpSink

pytestmark = pytest.mark.slow

CONTACTS = 1000
CONCURRENCY = 8
WORKER = Path(__file__).with_name("fanout_worker.py")


def write_config(tmp_path: Path, sink: SmtpSink) -> Path:
    """One platform never probed, 1,000 contacts (in a contacts file) told by e-mail."""
    contacts = "".join(
        f'[[contacts]]\nid = "c{i:04d}"\nname = "Contact {i}"\ngroups = ["everyone"]\n'
        f'channels = [{{ email = "c{i:04d}@example.org" }}]\n\n'
        for i in range(CONTACTS)
    )
    (tmp_path / "contacts.toml").write_text(contacts)
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
contacts_file = "contacts.toml"

[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[detection]
control_quorum = 0

[notify]
concurrency = {CONCURRENCY}
smtp_url = "mailto://127.0.0.1:{sink.port}?from=failover@example.org"

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


def queue_fanout(config_path: Path) -> None:
    config = load_config(config_path, env={})
    assert len(config.contacts) == CONTACTS
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
        assert store.outbox_counts()[NoticeState.pending] == CONTACTS


def start_worker(config_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=config_path.parent,
    )


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def finish(worker: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    try:
        _, stderr = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise
    assert worker.returncode == 0, stderr.decode(errors="replace")[-2000:]


def per_recipient(sink: SmtpSink) -> Counter[str]:
    return Counter(rcpt for message in list(sink.messages) for rcpt in message.rcpt_tos)


def interrupted_fanout(tmp_path: Path, sink: SmtpSink, signum: signal.Signals) -> Counter[str]:
    """Start the fan-out, send ``signum`` once some but not all have arrived, restart,
    wait for the end; returns the messages per recipient."""
    config_path = write_config(tmp_path, sink)
    queue_fanout(config_path)
    first = start_worker(config_path)
    try:
        wait_until(lambda: len(sink.messages) >= 50, 20.0, "the fan-out to begin")
        os.kill(first.pid, signum)
        at_signal = len(sink.messages)
        assert at_signal < CONTACTS, "the fan-out ended before the signal; nothing was tested"
        first.wait(timeout=20.0)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    if signum is signal.SIGTERM:
        assert first.returncode == 0
    else:
        assert first.returncode == -signal.SIGKILL
    delivered_before_restart = len(sink.messages)
    assert delivered_before_restart < CONTACTS
    finish(start_worker(config_path))
    config = load_config(config_path, env={})
    with open_store(config) as store:
        counts = store.outbox_counts()
    assert counts[NoticeState.sent] == CONTACTS
    return per_recipient(sink)


class TestFanoutCrash:
    """The outbox makes delivery survive the process: no notice lost, duplicates bounded."""

    def test_sigkill_mid_fanout_loses_nothing_and_duplicates_at_most_the_in_flight(
        self, tmp_path: Path, smtp_sink: SmtpSink
    ) -> None:
        received = interrupted_fanout(tmp_path, smtp_sink, signal.SIGKILL)
        expected = {f"c{i:04d}@example.org" for i in range(CONTACTS)}
        assert set(received) == expected
        duplicates = sum(count - 1 for count in received.values())
        assert duplicates <= CONCURRENCY

    def test_sigterm_mid_fanout_duplicates_nothing(self, tmp_path: Path, smtp_sink: SmtpSink) -> None:
        received = interrupted_fanout(tmp_path, smtp_sink, signal.SIGTERM)
        expected = {f"c{i:04d}@example.org" for i in range(CONTACTS)}
        assert set(received) == expected
        assert max(received.values()) == 1
