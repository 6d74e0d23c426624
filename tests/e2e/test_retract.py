"""A retraction while the daemon runs: the judge cried wolf about WhatsApp, an operator
retracts its incident from the command line, the running daemon's pump sends one
correction per contact, and when WhatsApp is judged up again no recovery goes out. Counted
at the SMTP sink on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import WAIT_S, Daemon, run_cli, wait_until
from tests.kit import World

pytestmark = pytest.mark.slow  # a daemon in a subprocess

StartDaemon = Callable[[Path], Daemon]


def status(world: World) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{world.api}/api/v1/status", timeout=5).json()
    return answer


def outbox_settled(world: World) -> bool:
    outbox = status(world)["outbox"]
    return outbox is not None and outbox["pending"] == 0 and outbox["sending"] == 0


def whatsapp_up(world: World) -> bool:
    return any(p["platform"] == "whatsapp" and p["health"] == "up" for p in status(world)["platforms"])


def journal(world: World) -> list[dict[str, Any]]:
    incidents: list[dict[str, Any]] = httpx.get(f"{world.api}/api/v1/incidents", timeout=5).json()[
        "incidents"
    ]
    return incidents


class TestRetractWithTheDaemonRunning:
    def test_the_daemon_sends_the_corrections_and_no_recovery_follows(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)
        world.go_dark()
        world.smtp.wait_for(2, timeout=WAIT_S)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        [incident] = journal(world)

        retracted = run_cli(
            "retract", str(incident["id"]), "--reason", "Our own DNS, not WhatsApp", "--yes", config=config
        )
        assert retracted.returncode == 0, retracted.stdout + retracted.stderr
        assert "the running daemon sends the corrections" in retracted.stdout
        assert "delivering from here" not in retracted.stdout

        corrections = world.smtp.wait_for(4, timeout=WAIT_S)[2:]
        subjects = {m.rcpt_tos[0]: str(m.message["Subject"]) for m in corrections}
        assert subjects == {
            "p0@example.org": "Correction: WhatsApp",
            "p1@example.org": "Rectificatif : WhatsApp",
        }

        world.come_back()
        wait_until("WhatsApp to be judged up again", lambda: whatsapp_up(world), log=daemon.log)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        # per contact: the outage and its correction, no recovery
        assert Counter(rcpt for m in world.smtp.messages for rcpt in m.rcpt_tos) == {
            "p0@example.org": 2,
            "p1@example.org": 2,
        }
        [after] = journal(world)
        assert after["retracted_at"] is not None
        assert [a["kind"] for a in after["actions"]] == ["retracted"]
        assert daemon.stop() == 0
