"""The daemon in this process: :meth:`Daemon.run` on the test's event loop, its HTTP surface
on 127.0.0.1, watching a platform whose DNS server, front door, controls and mail server
are the test kit's loopback servers. Tests talk to it as an operator would (HTTP), make the
platform go dark and come back, and read the mail sink.

Every wait is on a condition, capped generously; every daemon is stopped as SIGTERM would
stop it, and must exit 0.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from failover.config import load_config
from failover.service import Daemon, DaemonTimings
from tests.kit import API_TOKEN, World

#: how long any one thing may take before a test gives up on it (generous: busy machines)
WAIT_S = 120.0
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

TELEGRAM = """
[platforms.telegram]
display_name = "Telegram"
interval = "1s"
[[platforms.telegram.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {port}
timeout = "1s"
"""


@dataclass
class Running:
    daemon: Daemon
    client: httpx.AsyncClient
    run: asyncio.Task[int]

    async def json(self, path: str) -> Any:
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.json("/api/v1/status")
        return status

    async def readyz(self) -> httpx.Response:
        return await self.client.get("/readyz")

    async def alerts(self, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post("/api/v1/alertmanager", json=body, headers=AUTH)


async def eventually(what: str, condition: Callable[[], Awaitable[bool]], *, running: Running) -> None:
    """Wait until ``condition`` holds (capped at :data:`WAIT_S`); the daemon must keep running."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if running.run.done():
                pytest.fail(f"the daemon stopped ({running.run.result()}) while waiting for {what}")
            try:
                if await condition():
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_daemon(path: Path) -> AsyncIterator[Running]:
    """``failover run`` on ``path``, in this process; stopped (and checked to exit 0) at the end."""
    config = load_config(path, env={})
    daemon = Daemon(
        config,
        reload=lambda: load_config(path, env={}),
        env={},
        timings=DaemonTimings(outbox_gauge_every_s=1.0),
    )
    run = asyncio.create_task(daemon.run(), name="daemon-under-test")
    listen = config.daemon.listen
    try:
        async with httpx.AsyncClient(base_url=f"http://{listen.host}:{listen.port}", timeout=10) as client:
            yield Running(daemon=daemon, client=client, run=run)
    finally:
        daemon.request_stop()
        async with asyncio.timeout(WAIT_S):
            exit_code = await run
        assert exit_code == 0


async def ready(running: Running) -> None:
    async def answers() -> bool:
        return (await running.readyz()).status_code == 200

    await eventually("/readyz 200", answers, running=running)


@pytest.mark.slow
class TestReadiness:
    """``/readyz`` says whether the daemon can do its work, and why not."""

    async def test_ready_once_started_and_the_first_round_judged(self, world: World) -> None:
        async with running_daemon(world.write(world.config_text())) as running:
            await ready(running)
            assert (await running.json("/healthz")) == {"status": "ok"}

            async def judged() -> bool:
                status = await running.status()
                return bool(status["judged"]) and status["rounds"] >= 1

            await eventually("the first round", judged, running=running)
            status = await running.status()
            assert status["database"] == "ok"
            assert status["connectivity"]["ok"] is True
            assert [(p["platform"], p["health"]) for p in status["platforms"]] == [("whatsapp", "up")]
            assert status["last_round_at"] is not None

    async def test_not_ready_while_the_database_cannot_be_reached_at_start(
        self, world: World, closed_port: int
    ) -> None:
        url = f"postgresql+psycopg://failover@127.0.0.1:{closed_port}/failover?connect_timeout=2"
        async with running_daemon(world.write(world.config_text(database_url=url))) as running:

            async def answers_503() -> bool:
                return (await running.readyz()).status_code == 503

            await eventually("/readyz 503", answers_503, running=running)
            assert (await running.readyz()).json()["reasons"] == [
                "database not connected yet",
                "scheduler not running",
            ]
            # alive all the same: the service manager must not restart it for the database
            assert (await running.json("/healthz")) == {"status": "ok"}
            status = await running.status()
            assert (status["judged"], status["database"], status["rounds"]) == (False, "unavailable", 0)

    async def test_not_ready_while_rounds_cannot_be_recorded_then_ready_again(self, world: World) -> None:
        async with running_daemon(world.write(world.config_text())) as running:
            await ready(running)
            # another writer holds the database longer than the store waits for it
            blocker = sqlite3.connect(world.database, timeout=WAIT_S, isolation_level=None)
            try:
                blocker.execute("BEGIN EXCLUSIVE")

                async def not_answering() -> bool:
                    response = await running.readyz()
                    return (
                        response.status_code == 503 and "database not answering" in response.json()["reasons"]
                    )

                await eventually("/readyz 503: database not answering", not_answering, running=running)
                blocker.execute("ROLLBACK")
            finally:
                blocker.close()
            await ready(running)


@pytest.mark.slow
class TestRounds:
    """A round that confirms an outage opens an incident and queues its notices; they are sent."""

    async def test_an_outage_opens_an_incident_queues_notices_and_sends_them(self, world: World) -> None:
        async with running_daemon(world.write(world.config_text())) as running:
            await ready(running)

            async def up() -> bool:
                return [p["health"] for p in (await running.status())["platforms"]] == ["up"]

            await eventually("whatsapp up", up, running=running)
            world.go_dark()

            async def opened() -> bool:
                return len((await running.status())["open_incidents"]) == 1

            await eventually("an incident opened", opened, running=running)
            status = await running.status()
            [incident] = status["open_incidents"]
            assert (incident["kind"], incident["platforms"]) == ("unreachable", ["whatsapp"])
            assert status["platforms"][0]["health"] == "down"

            async def told() -> bool:
                return len(world.smtp.messages) >= 2

            await eventually("both contacts mailed", told, running=running)
            recipients = sorted(to for m in world.smtp.messages for to in m.rcpt_tos)
            assert recipients == ["p0@example.org", "p1@example.org"], "one message each, nobody twice"
            journal = await running.json("/api/v1/incidents")
            [entry] = journal["incidents"]
            assert entry["id"] == incident["id"]
            assert entry["notices"]["sent"] + entry["notices"]["pending"] == 2

            world.come_back()

            async def resolved() -> bool:
                return not (await running.status())["open_incidents"]

            await eventually("the incident resolved", resolved, running=running)


class TestAlertmanager:
    """The webhook on the running daemon: firing opens once, resolved closes."""

    @pytest.mark.slow
    async def test_firing_then_repeated_then_resolved(self, world: World) -> None:
        async with running_daemon(world.write(world.config_text())) as running:
            await ready(running)
            alert = {
                "status": "firing",
                "labels": {"alertname": "GatewayDown", "platform": "whatsapp"},
                "annotations": {"summary": "The gateway is down"},
                "startsAt": "2026-10-04T15:39:30Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "0a1b2c3d4e5f6071",
            }
            body = {"version": "4", "status": "firing", "receiver": "failover", "alerts": [alert]}
            first = await running.alerts(body)
            assert first.status_code == 200, first.text
            [incident_id] = first.json()["opened"]
            again = await running.alerts(body)
            assert again.json() == {"opened": [], "resolved": [], "attached": [], "ignored": 0}
            assert [i["id"] for i in (await running.status())["open_incidents"]] == [incident_id]

            resolved = {**alert, "status": "resolved", "endsAt": "2026-10-04T16:10:00Z"}
            answer = await running.alerts({**body, "status": "resolved", "alerts": [resolved]})
            assert answer.json()["resolved"] == [incident_id]
            assert (await running.status())["open_incidents"] == []

            bad = await running.client.post(
                "/api/v1/alertmanager", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
            )
            assert (bad.status_code, bad.json()["error"]) == (400, "request body is not valid JSON")


@pytest.mark.slow
class TestReload:
    """SIGHUP reads the file again: a valid one is applied, an invalid one is refused."""

    async def test_a_platform_added_to_the_file_is_watched_after_a_reload(self, world: World) -> None:
        path = world.write(world.config_text())
        async with running_daemon(path) as running:
            await ready(running)
            world.write(world.config_text(extra=TELEGRAM.format(port=world.control.port)))
            running.daemon.request_reload()

            async def telegram_up() -> bool:
                platforms = {p["platform"]: p["health"] for p in (await running.status())["platforms"]}
                return platforms.get("telegram") == "up"

            await eventually("telegram watched and judged up", telegram_up, running=running)

    async def test_an_invalid_file_is_refused_and_the_running_configuration_kept(self, world: World) -> None:
        path = world.write(world.config_text())
        async with running_daemon(path) as running:
            await ready(running)
            with structlog.testing.capture_logs() as logs:
                path.write_text("[daemon\nthis is not TOML")
                running.daemon.request_reload()

                async def refused() -> bool:
                    return any(line["event"] == "config_reload_failed" for line in logs)

                await eventually("config_reload_failed", refused, running=running)
            assert [p["platform"] for p in (await running.status())["platforms"]] == ["whatsapp"]
            await ready(running)
