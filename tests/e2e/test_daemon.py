"""``failover run`` as a subprocess: outages reach the inbox, signals behave, the API
guards its writes, and restarts neither lose nor repeat a notice."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import WAIT_S, Daemon, run_cli, wait_until
from tests.kit import API_TOKEN, World

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]

#: longer than a heartbeat may age before another machine's daemon would be presumed gone
STALL_S = 40.0
#: how long a trigger that is then cancelled is held
HOLD_S = 15.0


def recipients(world: World) -> Counter[str]:
    return Counter(rcpt for message in world.smtp.messages for rcpt in message.rcpt_tos)


def opened_incident(output: str) -> int:
    match = re.search(r"incident (\d+) opened", output)
    assert match, f"no incident id in the output:\n{output}"
    return int(match[1])


class TestOutages:
    """What the daemon is for: a platform goes dark, people are told; it comes back, too."""

    def test_outage_then_recovery_reach_every_contact(self, world: World, start_daemon: StartDaemon) -> None:
        """A dark target is confirmed and mailed to both contacts; its recovery is mailed too."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        world.go_dark()
        outage = world.smtp.wait_for(2, timeout=WAIT_S)
        assert sorted(rcpt for m in outage for rcpt in m.rcpt_tos) == ["p0@example.org", "p1@example.org"]
        assert all("WhatsApp" in str(m.message["Subject"]) for m in outage)

        world.come_back()
        everything = world.smtp.wait_for(4, timeout=WAIT_S)
        subjects = [str(m.message["Subject"]) for m in everything[2:]]
        assert any("again" in s or "nouveau" in s for s in subjects), subjects
        assert recipients(world) == {"p0@example.org": 2, "p1@example.org": 2}
        assert daemon.stop() == 0

    def test_an_outage_caught_half_way_is_told_as_an_outage(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """A round sees the names fail while the door still answers (as when DNS caches
        expire one by one); the door goes before the next look. People are told the platform
        is unavailable, not "not working properly", and the journal says unreachable."""
        # rounds and re-probes far enough apart that the door goes between two looks
        config = (
            world.config_text()
            .replace('confirm_after = ["500ms", "1s"]', 'confirm_after = ["5s", "10s"]')
            .replace(
                'interval = "1s"\n\n[[platforms.whatsapp.checks]]',
                'interval = "10s"\n\n[[platforms.whatsapp.checks]]',
            )
        )
        assert 'interval = "10s"' in config
        path = world.tmp_path / "failover.toml"
        path.write_text(config)
        daemon = start_daemon(path)
        daemon.wait_ready(world.api)
        world.dns.set("whatsapp.net", "servfail")
        world.dns.set("web.whatsapp.com", "servfail")
        daemon.wait_for_log(r'"reprobe": \["whatsapp\+5s"')
        world.front_door.set("reset")
        outage = world.smtp.wait_for(2, timeout=WAIT_S)
        subjects = {str(m.message["Subject"]) for m in outage}
        assert subjects == {
            "WhatsApp unavailable: how to reach us",
            "WhatsApp indisponible : comment nous joindre",
        }
        incidents = httpx.get(f"{world.api}/api/v1/incidents", timeout=5).json()["incidents"]
        assert [i["kind"] for i in incidents] == ["unreachable"]
        assert daemon.stop() == 0


class TestSignals:
    """SIGTERM stops cleanly and fast; SIGHUP reloads, and a broken file changes nothing."""

    def test_sigterm_exits_zero_within_ten_seconds(self, world: World, start_daemon: StartDaemon) -> None:
        """A running daemon exits 0 within 10 s of SIGTERM and says so in its log."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        daemon.signal(signal.SIGTERM)
        assert daemon.stop(timeout=10) == 0
        assert "daemon_stopped" in daemon.text()

    def test_sigterm_exits_zero_within_ten_seconds_while_lookups_hang(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """Twenty platforms whose names resolve through a name server gone silent: their
        lookups hang (a 20 s lookup timeout, 30 s HTTP timeouts), and SIGTERM still ends the
        daemon within 10 s, exit 0."""
        names = [f"www.dark-{n}.example" for n in range(20)]
        for name in names:
            world.dns.set(name, "silent")
        platforms = "".join(
            f"""
[platforms.dark-{n}]
interval = "1s"
[[platforms.dark-{n}.checks]]
kind = "http"
name = "door"
url = "http://{name}:{world.front_door.port}/"
timeout = "30s"
"""
            for n, name in enumerate(names)
        )
        text = world.config_text().replace(
            "[probes]\n", f'[probes]\nnameservers = ["{world.dns.endpoint}"]\nlookup_timeout = "20s"\n'
        )
        config = world.tmp_path / "failover.toml"
        config.write_text(text + platforms)
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        wait_until(
            "every dark platform's lookup to be out",
            lambda: {q for q, _ in world.dns.queries} >= set(names),
            log=daemon.log,
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.stop(timeout=10) == 0
        assert "daemon_stopped" in daemon.text()

    def test_sighup_with_a_broken_file_keeps_the_running_configuration(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """SIGHUP with an invalid file logs why and keeps going on the old configuration:
        an outage afterwards is still detected and notified."""
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        config.write_text("[daemon\nthis is not toml")
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config_reload_failed")
        assert daemon.process.poll() is None
        assert httpx.get(f"{world.api}/healthz", timeout=5).status_code == 200

        world.go_dark()
        world.smtp.wait_for(2, timeout=WAIT_S)
        assert daemon.stop() == 0

    def test_sighup_with_a_file_config_validate_refuses_is_not_applied(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """A file that parses but that ``failover config validate`` refuses (a channel with
        two recipients) is not applied: the API still takes triggers and the contacts of the
        running configuration are told."""
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        config.write_text(
            world.config_text(contacts=3).replace("&to=p2@example.org", "&to=p2@example.org,x@example.org")
        )
        refused = run_cli("config", "validate", config=config)
        assert refused.returncode != 0, refused.stdout
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config_reload_failed")
        trigger = httpx.post(
            f"{world.api}/api/v1/trigger",
            json={"target": "whatsapp", "message": "Write to us by e-mail"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=10,
        )
        assert trigger.status_code == 202, trigger.text
        world.smtp.wait_for(2, timeout=WAIT_S)
        assert set(recipients(world)) == {"p0@example.org", "p1@example.org"}
        assert "config_reloaded" not in daemon.text()
        assert daemon.stop() == 0

    def test_sighup_with_a_new_api_token_revokes_the_old_one(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        new_token = "a-new-token-for-the-api-0123456789"
        config.write_text(world.config_text().replace(API_TOKEN, new_token))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config_reloaded")

        def resolve_unknown(token: str) -> int:
            # an incident that does not exist: 404 once authorised, 401 before
            return httpx.post(
                f"{world.api}/api/v1/incidents/999/resolve",
                json={},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).status_code

        assert resolve_unknown(API_TOKEN) == 401
        assert resolve_unknown(new_token) == 404
        assert new_token not in daemon.text()
        assert API_TOKEN not in daemon.text()
        assert daemon.stop() == 0

    def test_sighup_with_a_valid_file_reloads(self, world: World, start_daemon: StartDaemon) -> None:
        """A valid file is taken: the new contact is told of the next outage."""
        config = world.write_config(contacts=1)
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        config.write_text(world.config_text(contacts=3))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log("config_reloaded")
        world.go_dark()
        world.smtp.wait_for(3, timeout=WAIT_S)
        assert set(recipients(world)) == {"p0@example.org", "p1@example.org", "p2@example.org"}
        assert daemon.stop() == 0


class TestOneDaemonPerDatabase:
    def test_a_second_daemon_is_refused(self, world: World, start_daemon: StartDaemon) -> None:
        """A second `failover run` on the same database exits 1 with one clear line."""
        config = world.write_config()
        first = start_daemon(config)
        first.wait_ready(world.api)
        second = start_daemon(config)
        try:
            code = second.process.wait(timeout=WAIT_S)
        finally:
            second.kill()
        assert code == 1
        assert re.search(r"failover: another daemon \(.+\) holds .+Refusing to start", second.text())
        assert first.process.poll() is None
        assert first.stop() == 0

    def test_a_trigger_after_a_long_database_stall_leaves_the_daemon_running(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """The database refuses every write for 40 s (another writer holds SQLite's lock),
        longer than the daemon's heartbeat may age: a ``failover trigger`` run right after
        sees the daemon still runs, takes nothing from it, and the daemon tells everyone."""
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        locker = sqlite3.connect(world.tmp_path / "failover.db", timeout=30, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            time.sleep(STALL_S)  # the stall itself: the heartbeat cannot be renewed meanwhile
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert "heartbeat_failed" in daemon.text()
        result = run_cli("trigger", "whatsapp", "-m", "Write to us by e-mail", "--yes", config=config)
        assert result.returncode == 0, result.stdout + result.stderr
        world.smtp.wait_for(2, timeout=WAIT_S)
        assert daemon.process.poll() is None, daemon.text()[-3000:]
        assert httpx.get(f"{world.api}/readyz", timeout=5).status_code == 200
        assert recipients(world) == Counter({"p0@example.org": 1, "p1@example.org": 1})
        assert daemon.stop() == 0

    def test_database_down_at_start_is_not_ready_but_alive(
        self, world: World, start_daemon: StartDaemon, closed_port: int
    ) -> None:
        """A database that refuses connections: the daemon stays up, /healthz 200, /readyz 503."""
        url = f'database_url = "postgresql+psycopg://failover:pw@127.0.0.1:{closed_port}/failover"'
        config = world.tmp_path / "failover.toml"
        config.write_text(
            world.config_text().replace(f'database_url = "sqlite:///{world.tmp_path}/failover.db"', url)
        )
        daemon = start_daemon(config)

        def answering() -> bool:
            try:
                return httpx.get(f"{world.api}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("/healthz to answer", answering, log=daemon.log)
        ready = httpx.get(f"{world.api}/readyz", timeout=5)
        assert ready.status_code == 503
        assert "database not connected yet" in ready.json()["reasons"]
        daemon.wait_for_log("database_retry")
        assert daemon.stop(timeout=10) == 0


class TestApi:
    def test_writes_need_the_right_token(self, world: World, start_daemon: StartDaemon) -> None:
        """POST /api/v1/trigger: 401 without a token or with a wrong one; a dry run with it."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        body = {"target": "whatsapp", "message": "test", "dry_run": True}
        url = f"{world.api}/api/v1/trigger"
        assert httpx.post(url, json=body, timeout=5).status_code == 401
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        right = httpx.post(url, json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5)
        assert right.status_code == 200, right.text
        assert right.json()["preview"]["recipients"] == 2
        assert API_TOKEN not in daemon.text()
        status = httpx.get(f"{world.api}/api/v1/status", timeout=5).json()
        assert [p["platform"] for p in status["platforms"]] == ["whatsapp"]
        assert b"failover_platform_up" in httpx.get(f"{world.api}/metrics", timeout=5).content
        assert daemon.stop() == 0


class TestManualFailover:
    """`failover trigger` through a running daemon: the hold, `cancel`, the fan-out."""

    def test_cancel_within_the_hold_sends_nothing(self, world: World, start_daemon: StartDaemon) -> None:
        """A trigger held 15 s then cancelled sends nothing; a later trigger is delivered,
        which shows the daemon was delivering all along. (The hold leaves a loaded machine
        ample time to start the cancelling command.)"""
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        triggered_at = time.monotonic()
        held = run_cli(
            "trigger", "--custom", "phones", "-m", "first, cancelled", "--hold", f"{HOLD_S:g}s", "--yes",
            config=config,
        )  # fmt: skip
        assert held.returncode == 0, held.stderr
        assert "the running daemon delivers them" in held.stdout
        incident = opened_incident(held.stdout)
        cancelled = run_cli("cancel", str(incident), config=config)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "2 notice(s) withdrawn" in cancelled.stdout

        # past the hold: had the first been left, it would be due before this one
        time.sleep(max(0.0, triggered_at + HOLD_S + 0.5 - time.monotonic()))
        later = run_cli("trigger", "--custom", "phones", "-m", "second, sent", "--yes", config=config)
        assert later.returncode == 0, later.stderr
        received = world.smtp.wait_for(2, timeout=WAIT_S)
        assert all("second, sent" in m.message.get_content() for m in received)
        assert daemon.stop() == 0
        assert len(world.smtp.messages) == 2

    def test_sigterm_mid_fanout_then_restart_loses_and_repeats_nothing(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """40 contacts at 60 mails a minute (a burst of 15, then one a second): SIGTERM while
        the fan-out runs, restart, and each contact ends with exactly one message."""
        config = world.write_config(contacts=40, notify="rate_per_minute = { mailto = 60 }")
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        result = run_cli("trigger", "--custom", "phones", "-m", "fan-out", "--yes", config=config)
        assert result.returncode == 0, result.stderr
        world.smtp.wait_for(16, timeout=WAIT_S)
        assert daemon.stop(timeout=10) == 0
        delivered_before_restart = len(world.smtp.messages)
        assert delivered_before_restart < 40, "the fan-out ended before SIGTERM: nothing was tested"

        restarted = start_daemon(config)
        restarted.wait_ready(world.api)
        world.smtp.wait_for(40, timeout=60)
        assert restarted.stop() == 0
        assert len(recipients(world)) == 40
        assert set(recipients(world).values()) == {1}
