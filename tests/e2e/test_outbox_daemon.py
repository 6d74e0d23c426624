"""The daemon's outbox under signals and beside ``failover trigger``: ``failover run`` as a
subprocess delivering a fan-out to a real SMTP server on 127.0.0.1, counted per recipient.

- killed with SIGKILL at five moments drawn from a fixed seed (counted in messages, not
  in time), restarted right away each time and accepted at once: nobody is left out, and
  each kill duplicates at most the deliveries that were in flight;
- stopped with SIGTERM mid fan-out, then restarted: nobody is told twice;
- started while ``failover trigger`` delivers a manual failover from the command line:
  the two share the outbox, and nobody is told twice.

A rate limit (4 mails/s after a burst) keeps each fan-out long enough to be interrupted.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from failover.config import load_config
from failover.domain import NoticeState
from failover.service import open_store
from tests.e2e.conftest import WAIT_S, Daemon, failover_command, wait_until
from tests.kit import SmtpSink, free_port
from tests.outage import per_recipient
from tests.service.test_fanout_crash import queue_fanout

pytestmark = pytest.mark.slow

CONTACTS = 240
CONCURRENCY = 8
KILL_SEED = 20261123
KILLS = 5
#: how long a fan-out may take to finish once the daemon runs again
RESTART_S = 120.0


def write_config(
    tmp_path: Path, smtp_port: int, *, contacts: int = CONTACTS, mails_per_minute: int = 240
) -> Path:
    """WhatsApp watched through a port that answers (the SMTP server's: it stays up), and
    ``contacts`` contacts told by e-mail of its outages and manual failovers."""
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
database_url = "sqlite:///{tmp_path}/failover.db"
listen = "127.0.0.1:{free_port()}"

[detection]
control_quorum = 0

[notify]
concurrency = {CONCURRENCY}
backoff_base = "200ms"
backoff_max = "4s"
smtp_url = "mailto://127.0.0.1:{smtp_port}?from=failover@example.org"

[notify.rate_per_minute]
mailto = {mails_per_minute}

[platforms.whatsapp]
family = "meta"
interval = "10s"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {smtp_port}

[groups.everyone]

[[routes]]
name = "everyone"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["everyone"]
"""
    )
    return path


def everyone(contacts: int = CONTACTS) -> set[str]:
    return {f"c{i:04d}@example.org" for i in range(contacts)}


def counts(config_path: Path) -> dict[NoticeState, int]:
    with open_store(load_config(config_path, env={})) as store:
        return store.outbox_counts()


def sent_by(log: Path) -> int:
    """Deliveries a process's JSON log says it made."""
    total = 0
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            total += entry.get("event") == "notice_delivery" and entry.get("outcome") == "sent"
    return total


def start_running(start_daemon: Callable[[Path], Daemon], config_path: Path) -> Daemon:
    """A daemon that runs, accepted at its first start: the lock a killed daemon of this
    machine left behind is taken at once, without waiting for its heartbeat to go stale."""
    daemon = start_daemon(config_path)
    try:
        daemon.wait_for_log("daemon_started|another daemon", timeout=WAIT_S)
    except BaseException:
        daemon.kill()
        raise
    assert "daemon_started" in daemon.text(), daemon.text()[-2000:]
    return daemon


def all_sent(config_path: Path) -> Callable[[], bool]:
    return lambda: counts(config_path)[NoticeState.sent] == CONTACTS


class TestDaemonSignals:
    """A fan-out survives the daemon: SIGKILL duplicates at most what was in flight,
    SIGTERM nothing."""

    def test_sigkill_at_random_moments(
        self, tmp_path: Path, smtp_sink: SmtpSink, start_daemon: Callable[[Path], Daemon]
    ) -> None:
        config_path = write_config(tmp_path, smtp_sink.port)
        queue_fanout(config_path)
        moments = sorted(random.Random(KILL_SEED).sample(range(20, CONTACTS - 40), KILLS))
        for moment in moments:
            daemon = start_running(start_daemon, config_path)
            wait_until(f"{moment} messages", lambda: len(smtp_sink.messages) >= moment, log=daemon.log)  # noqa: B023
            daemon.process.send_signal(signal.SIGKILL)
            daemon.process.wait(timeout=WAIT_S)
            daemon.kill()
        assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the last kill"
        daemon = start_running(start_daemon, config_path)
        wait_until("every notice sent", all_sent(config_path), timeout=RESTART_S, log=daemon.log)
        assert daemon.stop() == 0
        received = per_recipient(smtp_sink.messages)
        assert set(received) == everyone(), f"seed {KILL_SEED}"
        duplicates = sum(count - 1 for count in received.values())
        assert duplicates <= KILLS * CONCURRENCY, f"seed {KILL_SEED}: {duplicates} duplicates"
        final = counts(config_path)
        assert final[NoticeState.sending] == final[NoticeState.pending] == final[NoticeState.failed] == 0

    def test_sigterm_mid_fanout_duplicates_nothing(
        self, tmp_path: Path, smtp_sink: SmtpSink, start_daemon: Callable[[Path], Daemon]
    ) -> None:
        config_path = write_config(tmp_path, smtp_sink.port)
        queue_fanout(config_path)
        daemon = start_running(start_daemon, config_path)
        wait_until("the fan-out to be under way", lambda: len(smtp_sink.messages) >= 80, log=daemon.log)
        assert daemon.stop() == 0
        assert len(smtp_sink.messages) < CONTACTS, "the fan-out ended before the signal"
        assert counts(config_path)[NoticeState.sending] == 0  # every delivery recorded or handed back
        daemon = start_running(start_daemon, config_path)
        wait_until("every notice sent", all_sent(config_path), timeout=RESTART_S, log=daemon.log)
        assert daemon.stop() == 0
        received = per_recipient(smtp_sink.messages)
        assert set(received) == everyone()
        assert max(received.values()) == 1


class TestBesideTheCommandLine:
    """``failover trigger`` delivers from the command line when no daemon runs; a daemon
    started meanwhile delivers beside it and never takes what the command holds."""

    def test_a_daemon_started_during_a_cli_delivery_duplicates_nothing(
        self, tmp_path: Path, smtp_sink: SmtpSink, start_daemon: Callable[[Path], Daemon]
    ) -> None:
        config_path = write_config(tmp_path, smtp_sink.port, mails_per_minute=120)
        cli_log = tmp_path / "trigger.log"
        with cli_log.open("ab") as out:
            trigger = subprocess.Popen(
                [*failover_command(), "trigger", "whatsapp", "--message", "Call us on 01 23 45 67 89",
                 "--yes", "--config", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
            )  # fmt: skip
        try:
            wait_until("the command to deliver", lambda: len(smtp_sink.messages) >= 20, log=cli_log)
            before = counts(config_path)
            assert before[NoticeState.sending] > 0, "nothing in flight when the daemon starts"
            daemon = start_running(start_daemon, config_path)
            assert trigger.wait(timeout=RESTART_S) == 0, cli_log.read_text(errors="replace")[-3000:]
        finally:
            if trigger.poll() is None:
                trigger.kill()
                trigger.wait()
        assert daemon.stop() == 0
        received = per_recipient(smtp_sink.messages)
        assert set(received) == everyone()
        assert max(received.values()) == 1, {who: n for who, n in received.items() if n > 1}
        assert sent_by(daemon.log) > 0, "the daemon delivered nothing beside the command"
        assert counts(config_path)[NoticeState.sent] == CONTACTS
