"""Triggers through a running daemon's HTTP API, counted at the SMTP sink: a typo pages
nobody, a custom incident names what it is about, and a trigger on what the judge has
already told everyone is attached to its incident instead of told a second time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import WAIT_S, Daemon, wait_until
from tests.kit import API_TOKEN, World

pytestmark = pytest.mark.slow  # a daemon in a subprocess

StartDaemon = Callable[[Path], Daemon]


def post(world: World, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{world.api}{path}", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    )


def journal(world: World) -> list[dict[str, Any]]:
    incidents: list[dict[str, Any]] = httpx.get(f"{world.api}/api/v1/incidents", timeout=5).json()[
        "incidents"
    ]
    return incidents


def outbox_settled(world: World) -> bool:
    outbox = httpx.get(f"{world.api}/api/v1/status", timeout=5).json()["outbox"]
    return outbox is not None and outbox["pending"] == 0 and outbox["sending"] == 0


def per_contact(world: World) -> Counter[str]:
    return Counter(rcpt for message in world.smtp.messages for rcpt in message.rcpt_tos)


class TestTriggersThroughTheApi:
    def test_a_typo_sends_nothing_and_a_custom_incident_names_itself(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """``whatsap`` is refused with the configured names; ``phones`` must be asked for as
        custom, and then its notices and its recovery say "phones"."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)

        typo = post(world, "/api/v1/trigger", {"target": "whatsap", "message": "Write to us by e-mail"})
        assert typo.status_code == 422, typo.text
        assert "platforms: whatsapp; families: meta" in typo.json()["detail"][0]
        unflagged = post(world, "/api/v1/trigger", {"target": "phones", "message": "Lines down"})
        assert unflagged.status_code == 422
        blank = post(world, "/api/v1/trigger", {"target": "whatsapp", "message": " "})
        assert blank.status_code == 422

        custom = post(
            world,
            "/api/v1/trigger",
            {"custom": True, "name": "phones", "message": "Our phone lines are down"},
        )
        assert custom.status_code == 202, custom.text
        incident_id = custom.json()["id"]
        opened = world.smtp.wait_for(2, timeout=WAIT_S)
        assert all("Our phone lines are down" in m.message.get_content() for m in opened)
        assert all("phones" in str(m.message["Subject"]).lower() for m in opened), [
            str(m.message["Subject"]) for m in opened
        ]

        resolved = post(world, f"/api/v1/incidents/{incident_id}/resolve", {})
        assert resolved.status_code == 200, resolved.text
        everything = world.smtp.wait_for(4, timeout=WAIT_S)
        recoveries = everything[2:]
        assert all("phones" in str(m.message["Subject"]).lower() for m in recoveries), [
            str(m.message["Subject"]) for m in recoveries
        ]
        assert all("phones" in m.message.get_content().lower() for m in recoveries)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        # the refused triggers sent nothing: one notice and one recovery per contact
        assert per_contact(world) == {"p0@example.org": 2, "p1@example.org": 2}
        assert [i["name"] for i in journal(world)] == ["phones"]
        assert daemon.stop() == 0

    def test_a_trigger_on_a_confirmed_outage_is_attached_unless_sent_as_an_update(
        self, world: World, start_daemon: StartDaemon
    ) -> None:
        """The judge confirmed whatsapp and told both contacts. A trigger on whatsapp is
        attached to its incident (journal, no mail); an update sends the operator's words
        once; the recovery follows: per contact, one outage, one update, one recovery."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        world.go_dark()
        outage = world.smtp.wait_for(2, timeout=WAIT_S)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        [incident] = journal(world)
        assert incident["kind"] == "unreachable"

        preview = post(
            world, "/api/v1/trigger", {"target": "whatsapp", "message": "Call us", "dry_run": True}
        )
        assert preview.status_code == 200
        covered_by = preview.json()["covered_by"]
        assert (covered_by["id"], covered_by["notified"]) == (incident["id"], 2)
        assert covered_by["notified_at"] is not None

        attached = post(world, "/api/v1/trigger", {"target": "whatsapp", "message": "Call us"})
        assert attached.status_code == 200, attached.text
        assert attached.json()["attached_to"] == incident["id"]
        [after] = journal(world)
        assert any("trigger via api" in line and "attached" in line for line in after["evidence"])
        assert after["notices"] == {"sent": 2, "failed": 0, "skipped": 0, "pending": 0}

        update = post(
            world, "/api/v1/trigger", {"target": "whatsapp", "message": "Call 01 23 45 67 89", "update": True}
        )
        assert update.status_code == 202, update.text
        assert (update.json()["action"], update.json()["id"]) == ("updated", incident["id"])
        updates = world.smtp.wait_for(4, timeout=WAIT_S)[2:]
        assert all("Call 01 23 45 67 89" in m.message.get_content() for m in updates)
        assert not any("Call 01 23 45 67 89" in m.message.get_content() for m in outage)

        world.come_back()
        world.smtp.wait_for(6, timeout=WAIT_S)
        wait_until("the incident to be resolved", lambda: journal(world)[0]["resolved_at"] is not None)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        assert per_contact(world) == {"p0@example.org": 3, "p1@example.org": 3}
        [final] = journal(world)
        assert final["id"] == incident["id"]
        notes = [line for line in final["evidence"] if line.startswith("note: ")]
        assert len(notes) == 2, final["evidence"]
        assert daemon.stop() == 0
