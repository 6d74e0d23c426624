"""The HTTP surface over the narrowest daemon it accepts (:class:`DaemonView`): a real store
and configuration, and a fake that records what the surface asks of the daemon (waking the
notice pump, running store calls off the loop). Requests go through the real app, in
process, over httpx.

What a user relies on: Alertmanager may deliver the same group again and again and nothing
is opened or sent twice; a firing alert opens an incident and queues its notices, its
resolution closes it; a body Alertmanager (or anyone) gets wrong is refused with a reason;
``/readyz`` says why the daemon is not ready; ``/api/v1/status`` carries what only the
running daemon knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.stdlib import BoundLogger

from failover.api import create_app
from failover.config import Config, load_config
from failover.domain import IncidentEvent, IncidentKind, NoticeState
from failover.errors import StoreError
from failover.logs import get_logger
from failover.metrics import Metrics, exposition_app
from failover.service import DaemonFacts, Watcher, open_store
from failover.service._http import DaemonBackend, DaemonView
from failover.store import Store
from tests.kit import FakeClock
from tests.service.test_manual import NOW, write_config

TOKEN = "http-surface-token-not-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class FakeDaemon:
    """What the HTTP surface may see of a daemon, and nothing more; it counts the pump's
    wake-ups and fails store calls on demand (a database gone away)."""

    config: Config
    store: Store | None
    clock: Callable[[], datetime]
    watcher: Watcher | None = None
    log: BoundLogger = field(default_factory=lambda: get_logger("tests.http"))
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    alive: bool = True
    database_ok: bool = True
    reasons: list[str] = field(default_factory=list)
    rounds: int = 0
    pump_woken: int = 0
    database_down: bool = False

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.registry)

    def facts(self) -> DaemonFacts:
        return DaemonFacts(started_at=NOW, rounds=self.rounds, last_round_at=None)

    def not_ready_because(self) -> list[str]:
        return list(self.reasons)

    async def in_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.database_down:
            self.database_ok = False
            raise StoreError("database unreachable")
        return await asyncio.to_thread(function, *args, **kwargs)

    def wake_pump(self) -> None:
        self.pump_woken += 1


def _is_a_view(daemon: FakeDaemon) -> DaemonView:
    return daemon  # mypy checks that the fake is what the surface accepts


@dataclass
class Surface:
    client: httpx.AsyncClient
    daemon: FakeDaemon
    store: Store

    async def alerts(self, body: Any) -> httpx.Response:
        return await self.client.post("/api/v1/alertmanager", json=body, headers=AUTH)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    config = load_config(write_config(tmp_path, 2525), env={})
    with open_store(config) as opened:
        yield opened


@pytest.fixture
async def surface(tmp_path: Path, store: Store) -> AsyncIterator[Surface]:
    config = load_config(tmp_path / "failover.toml", env={})
    daemon = FakeDaemon(config=config, store=store, clock=FakeClock(NOW))
    app = create_app(
        DaemonBackend(_is_a_view(daemon)), token=TOKEN, metrics=exposition_app(CollectorRegistry())
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield Surface(client=client, daemon=daemon, store=store)


def alert(platform: str, *, status: str = "firing", fingerprint: str = "0a1b2c3d4e5f6071") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "GatewayDown", "platform": platform},
        "annotations": {"summary": "The gateway is down"},
        "startsAt": "2026-10-04T15:39:30Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-10-04T16:10:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
    }


def group(*alerts: dict[str, Any]) -> dict[str, Any]:
    status = "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"
    return {"version": "4", "status": status, "receiver": "failover", "alerts": list(alerts)}


NOTHING = {"opened": [], "resolved": [], "attached": [], "ignored": 0}


class TestAlertmanagerWebhook:
    """Firing opens or attaches, resolved closes, and repeated deliveries change nothing."""

    async def test_a_firing_alert_opens_a_manual_incident_and_queues_its_notices(
        self, surface: Surface
    ) -> None:
        response = await surface.alerts(group(alert("telegram")))
        assert response.status_code == 200, response.text
        [incident_id] = response.json()["opened"]
        incident = surface.store.incident(incident_id)
        assert incident is not None
        assert (incident.kind, incident.platforms, incident.is_open) == (
            IncidentKind.manual,
            ("telegram",),
            True,
        )
        assert len(surface.store.notices(incident_id)) == 3, "one notice per contact the route names"
        assert surface.daemon.pump_woken == 1, "the notices are delivered now, not at the next tick"

    async def test_the_same_group_delivered_again_opens_and_sends_nothing_more(
        self, surface: Surface
    ) -> None:
        firing = group(alert("telegram"))
        [incident_id] = (await surface.alerts(firing)).json()["opened"]
        for _ in range(3):
            again = await surface.alerts(firing)
            assert again.status_code == 200
            assert again.json() == NOTHING
        assert [i.id for i in surface.store.open_incidents()] == [incident_id]
        assert len(surface.store.notices(incident_id)) == 3
        assert surface.daemon.pump_woken == 1

    async def test_the_resolution_closes_the_incident_once(self, surface: Surface) -> None:
        [incident_id] = (await surface.alerts(group(alert("telegram")))).json()["opened"]
        for notice in surface.store.claim_notices(now=NOW):
            surface.store.mark_notice(notice.id, NoticeState.sent, now=NOW)
        resolved = group(alert("telegram", status="resolved"))
        answer = await surface.alerts(resolved)
        assert answer.json() == {**NOTHING, "resolved": [incident_id]}
        assert surface.store.open_incidents() == []
        recoveries = [n for n in surface.store.notices(incident_id) if n.event is IncidentEvent.resolved]
        assert len(recoveries) == 3
        assert surface.daemon.pump_woken == 2
        again = await surface.alerts(resolved)
        assert again.json() == NOTHING, "a repeated resolution resolves nothing more"
        assert len(surface.store.notices(incident_id)) == 6

    async def test_a_resolution_before_anyone_was_told_withdraws_the_notices(self, surface: Surface) -> None:
        [incident_id] = (await surface.alerts(group(alert("telegram")))).json()["opened"]
        answer = await surface.alerts(group(alert("telegram", status="resolved")))
        assert answer.json()["resolved"] == [incident_id]
        notices = surface.store.notices(incident_id)
        assert {n.state for n in notices} == {NoticeState.cancelled}, "nobody hears of an outage already over"

    async def test_an_alert_on_what_an_operator_already_announced_is_attached(self, surface: Surface) -> None:
        trigger = await surface.client.post(
            "/api/v1/trigger", json={"target": "whatsapp", "message": "Call us"}, headers=AUTH
        )
        assert trigger.status_code in {200, 202}, trigger.text
        incident_id = trigger.json()["id"]
        queued = len(surface.store.notices(incident_id))
        answer = await surface.alerts(group(alert("whatsapp")))
        assert answer.json() == {**NOTHING, "attached": [incident_id]}
        assert len(surface.store.notices(incident_id)) == queued, "nobody is told twice"
        assert (await surface.alerts(group(alert("whatsapp")))).json() == NOTHING

    async def test_an_alert_naming_nothing_configured_is_ignored_and_counted(self, surface: Surface) -> None:
        answer = await surface.alerts(group(alert("myspace")))
        assert answer.json() == {**NOTHING, "ignored": 1}
        assert surface.store.incidents() == []
        assert surface.daemon.registry.get_sample_value(
            "failover_alerts_ignored_total", {"reason": "unknown_target"}
        ) == pytest.approx(1.0)

    @pytest.mark.parametrize(
        ("body", "status", "error", "names"),
        [
            (b"{not json", 400, "request body is not valid JSON", None),
            (b'{"version": "4", "status": "firing"}', 422, "invalid request body", "alerts"),
            (
                b'{"version": "4", "status": "firing", "alerts": [{"status": "burning", "labels": {}}]}',
                422,
                "invalid request body",
                "status",
            ),
        ],
        ids=["not-json", "no-alerts", "unknown-status"],
    )
    @pytest.mark.slow
    async def test_a_bad_body_is_refused_with_its_reason_and_records_nothing(
        self, surface: Surface, body: bytes, status: int, error: str, names: str | None
    ) -> None:
        response = await surface.client.post(
            "/api/v1/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == status, response.text
        answer = response.json()
        assert answer["error"] == error
        if names is not None:
            assert any(names in line for line in answer["detail"]), answer
        assert surface.store.incidents() == []
        assert surface.daemon.pump_woken == 0

    async def test_without_the_token_nothing_is_opened(self, surface: Surface) -> None:
        response = await surface.client.post("/api/v1/alertmanager", json=group(alert("telegram")))
        assert response.status_code == 401
        assert surface.store.incidents() == []

    async def test_while_the_database_is_away_the_delivery_fails_so_alertmanager_retries(
        self, surface: Surface
    ) -> None:
        surface.daemon.database_down = True
        response = await surface.alerts(group(alert("telegram")))
        assert response.status_code >= 500
        surface.daemon.database_down = False
        retried = await surface.alerts(group(alert("telegram")))
        assert len(retried.json()["opened"]) == 1


class TestReadiness:
    """``/readyz`` answers 200 only when the daemon has no reason not to be ready."""

    async def test_ready(self, surface: Surface) -> None:
        response = await surface.client.get("/readyz")
        assert (response.status_code, response.json()) == (200, {"status": "ready", "reasons": []})

    async def test_not_ready_says_why(self, surface: Surface) -> None:
        surface.daemon.reasons = ["database not answering"]
        response = await surface.client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "not ready", "reasons": ["database not answering"]}

    async def test_a_stalled_loop_fails_the_liveness_check(self, surface: Surface) -> None:
        surface.daemon.alive = False
        assert (await surface.client.get("/healthz")).status_code == 503


class TestStatus:
    """The status shows the daemon's own facts, and what it could not read."""

    async def test_the_daemons_facts_and_an_unjudged_state(self, surface: Surface) -> None:
        surface.daemon.rounds = 7
        status = (await surface.client.get("/api/v1/status")).json()
        assert (status["judged"], status["rounds"], status["database"]) == (False, 7, "ok")
        assert status["started_at"] == NOW.isoformat()
        assert [p["platform"] for p in status["platforms"]] == ["whatsapp", "facebook", "telegram"]
        assert {p["health"] for p in status["platforms"]} == {"unknown"}

    async def test_an_open_incident_is_listed(self, surface: Surface) -> None:
        [incident_id] = (await surface.alerts(group(alert("telegram")))).json()["opened"]
        status = (await surface.client.get("/api/v1/status")).json()
        assert [i["id"] for i in status["open_incidents"]] == [incident_id]
        assert status["outbox"]["pending"] == 3

    async def test_a_database_that_does_not_answer_shows_as_unavailable(self, surface: Surface) -> None:
        surface.daemon.database_down = True
        response = await surface.client.get("/api/v1/status")
        assert response.status_code == 200, "the status shows what it can"
        status = response.json()
        assert (status["database"], status["outbox"], status["open_incidents"]) == ("unavailable", None, [])

    async def test_the_journal_lists_the_incidents_newest_first(self, surface: Surface) -> None:
        await surface.alerts(group(alert("telegram")))
        await surface.alerts(group(alert("whatsapp", fingerprint="ffff0000ffff0000")))
        since = (NOW - timedelta(days=1)).isoformat()
        journal = await surface.client.get("/api/v1/incidents", params={"since": since})
        assert [i["platforms"] for i in journal.json()["incidents"]] == [["whatsapp"], ["telegram"]]


class TestOperatorActions:
    """A trigger previews before it sends; an operator resolves what an operator opened, and
    notes land in the incident's journal."""

    async def post(self, surface: Surface, path: str, body: dict[str, Any]) -> httpx.Response:
        return await surface.client.post(path, json=body, headers=AUTH)

    async def test_a_dry_run_shows_the_texts_and_records_nothing(self, surface: Surface) -> None:
        response = await self.post(
            surface, "/api/v1/trigger", {"target": "telegram", "message": "Call us", "dry_run": True}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["dry_run"], answer["action"], answer["preview"]["recipients"]) == (True, "opened", 3)
        assert surface.store.incidents() == []
        assert surface.daemon.pump_woken == 0

    async def test_an_operator_resolves_a_manual_incident(self, surface: Surface) -> None:
        opened = await self.post(surface, "/api/v1/trigger", {"target": "telegram", "message": "Call us"})
        incident_id = opened.json()["id"]
        resolved = await self.post(surface, f"/api/v1/incidents/{incident_id}/resolve", {})
        assert resolved.status_code == 200, resolved.text
        answer = resolved.json()
        assert (answer["resolved"], answer["already_resolved"]) == (True, False)
        assert surface.store.open_incidents() == []
        missing = await self.post(surface, "/api/v1/incidents/999/resolve", {})
        assert missing.status_code == 404

    async def test_a_note_is_journalled_under_the_api(self, surface: Surface) -> None:
        opened = await self.post(surface, "/api/v1/trigger", {"target": "telegram", "message": "Call us"})
        incident_id = opened.json()["id"]
        noted = await self.post(surface, f"/api/v1/incidents/{incident_id}/notes", {"text": "Phones staffed"})
        assert noted.status_code == 201, noted.text
        assert (noted.json()["action"]["actor"], noted.json()["action"]["text"]) == ("api", "Phones staffed")
        assert (await self.post(surface, "/api/v1/incidents/999/notes", {"text": "x"})).status_code == 404

    async def test_without_a_database_a_trigger_is_refused_as_unavailable(self, surface: Surface) -> None:
        surface.daemon.store = None
        response = await self.post(surface, "/api/v1/trigger", {"target": "telegram", "message": "Call us"})
        assert (response.status_code, response.json()["error"]) == (503, "database not available")
