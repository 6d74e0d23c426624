"""A real Alertmanager (Debian's ``prometheus-alertmanager``) posts to a running daemon's
webhook, routed by the shipped ``deploy/prometheus/alertmanager.yml``: an alert whose
``platform`` label is a typo sends nothing (it is ignored and counted), and an alert on a
platform the judge has already confirmed is attached to the judge's incident, not told
a second time. Messages are counted at the SMTP sink.

Alertmanager runs on 127.0.0.1 with clustering off, its data under ``tmp_path``, and the
shipped configuration with only the webhook's address, its token file and the failover
route's timings (``group_wait`` 0 s, ``group_interval`` 1 s) changed. Alerts are posted to
its own API (``POST /api/v2/alerts``), as Prometheus would.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_prometheus_files import tool_or_skip
from tests.e2e.conftest import WAIT_S, Daemon, wait_until
from tests.kit import API_TOKEN, World, free_port

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alertmanager.yml"


class Alertmanager:
    """``prometheus-alertmanager`` as a child process, its log in a file."""

    def __init__(self, binary: str, config: Path, data: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip: one instance, no port on 0.0.0.0
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"alertmanager exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("alertmanager to be ready (/-/ready 200)", ready, log=self.log)

    def fire(self, labels: dict[str, str], *, summary: str, ends_at: datetime | None = None) -> None:
        """Post one alert, as Prometheus does (again with ``ends_at`` to resolve it)."""
        alert: dict[str, Any] = {"labels": labels, "annotations": {"summary": summary}}
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        response = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        assert response.status_code == 200, response.text

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


def alertmanager_config(tmp_path: Path, *, api_port: int) -> Path:
    """The shipped configuration, sent to this daemon, with the failover route made fast."""
    config = yaml.safe_load(SHIPPED.read_text())
    token_file = tmp_path / "failover-api-token"
    token_file.write_text(API_TOKEN)
    token_file.chmod(0o400)
    [receiver] = [r for r in config["receivers"] if r["name"] == "failover"]
    [webhook] = receiver["webhook_configs"]
    webhook["url"] = f"http://127.0.0.1:{api_port}/api/v1/alertmanager"
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    [route] = [r for r in config["route"]["routes"] if r["receiver"] == "failover"]
    route.update(group_wait="0s", group_interval="1s")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def alertmanager(world: World) -> Iterator[Alertmanager]:
    binary = tool_or_skip("prometheus-alertmanager", required_on_ci=True)
    config = alertmanager_config(world.tmp_path, api_port=world.api_port)
    server = Alertmanager(
        binary, config, world.tmp_path / "alertmanager-data", world.tmp_path / "alertmanager.log"
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def metric(world: World, name: str, labels: dict[str, str]) -> float:
    text = httpx.get(f"{world.api}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


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


class TestAlertmanager:
    def test_an_alert_with_a_typo_sends_nothing(
        self, world: World, start_daemon: StartDaemon, alertmanager: Alertmanager
    ) -> None:
        """``platform="whatsap"`` reaches the webhook and is ignored, logged and counted;
        the same alert spelled right then tells both contacts, once."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        typo = {"alertname": "GatewayDown", "failover_trigger": "true", "platform": "whatsap"}
        alertmanager.fire(typo, summary="The WhatsApp gateway is down")
        wait_until(
            "the webhook to ignore the alert (failover_alerts_ignored_total{reason=unknown_target})",
            lambda: metric(world, "failover_alerts_ignored_total", {"reason": "unknown_target"}) >= 1,
            log=alertmanager.log,
        )
        daemon.wait_for_log("alert_ignored")
        assert journal(world) == []
        assert world.smtp.messages == []
        assert "whatsap" not in daemon.text().replace("whatsapp", ""), "a label's value is never logged"

        right = {"alertname": "GatewayDownAgain", "failover_trigger": "true", "platform": "whatsapp"}
        alertmanager.fire(right, summary="The WhatsApp gateway is down")
        received = world.smtp.wait_for(2, timeout=WAIT_S)
        assert all("The WhatsApp gateway is down" in m.message.get_content() for m in received)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        assert per_contact(world) == {"p0@example.org": 1, "p1@example.org": 1}
        assert [i["kind"] for i in journal(world)] == ["manual"]
        assert daemon.stop() == 0

    def test_an_alert_on_a_confirmed_outage_sends_no_second_notice(
        self, world: World, start_daemon: StartDaemon, alertmanager: Alertmanager
    ) -> None:
        """The judge confirmed whatsapp and told both contacts; Alertmanager then fires for
        whatsapp: the alert is attached to the judge's incident (its journal says so) and
        nobody hears of it twice. Its resolution is noted too; the judge's recovery
        follows: one outage and one recovery per contact."""
        daemon = start_daemon(world.write_config())
        daemon.wait_ready(world.api)
        world.go_dark()
        world.smtp.wait_for(2, timeout=WAIT_S)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        [incident] = journal(world)
        assert incident["kind"] == "unreachable"

        labels = {"alertname": "GatewayDown", "failover_trigger": "true", "platform": "whatsapp"}
        alertmanager.fire(labels, summary="The WhatsApp gateway is down")

        def noted(what: str) -> bool:
            return any(
                line.startswith("note: Alertmanager alert GatewayDown") and line.endswith(what)
                for line in journal(world)[0]["evidence"]
            )

        wait_until(
            "the alert to be attached to the judge's incident", lambda: noted("attached: nothing sent")
        )
        [after] = journal(world)
        assert after["id"] == incident["id"]
        assert after["notices"] == {"sent": 2, "failed": 0, "skipped": 0, "pending": 0}
        assert outbox_settled(world)

        alertmanager.fire(labels, summary="The WhatsApp gateway is down", ends_at=datetime.now(UTC))
        wait_until(
            "the alert's resolution to be noted",
            lambda: any(
                line.startswith("note: Alertmanager alert GatewayDown") and " resolved at " in line
                for line in journal(world)[0]["evidence"]
            ),
            log=alertmanager.log,
        )
        assert journal(world)[0]["resolved_at"] is None, "the judge resolves its own incident"

        world.come_back()
        world.smtp.wait_for(4, timeout=WAIT_S)
        wait_until("the incident to be resolved", lambda: journal(world)[0]["resolved_at"] is not None)
        wait_until("the outbox to settle", lambda: outbox_settled(world), log=daemon.log)
        assert per_contact(world) == {"p0@example.org": 2, "p1@example.org": 2}
        [final] = journal(world)
        assert final["id"] == incident["id"]
        assert sum(line.startswith("note: Alertmanager alert") for line in final["evidence"]) == 2
        assert metric(world, "failover_alerts_ignored_total", {"reason": "unknown_target"}) == 0
        assert daemon.stop() == 0
