"""Prometheus and Grafana see what the daemon sees: a real Prometheus scrapes a running
``failover run`` through an outage on the test kit, every PromQL expression failover ships
runs against it, and the platform-down alert fires.

The Prometheus is the system's binary (Debian's ``prometheus``), on 127.0.0.1, with its
data under ``tmp_path`` and a 1 s scrape and evaluation interval. It loads a copy of
``deploy/prometheus/failover.rules.yml`` in which only ``FailoverPlatformDown``'s ``for``
is shortened (1 m → 1 s) so that the alert can fire within the test; every other rule is
loaded as shipped and must evaluate without error.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.test_prometheus_files import RULES, all_promql_expressions, tool_or_skip
from tests.e2e.conftest import Daemon, Prometheus, wait_until
from tests.kit import HttpTarget, World

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]
StartPrometheus = Callable[[str, Path], Prometheus]

#: the whole test stays under a minute; every wait takes what is left of this
BUDGET_S = 55.0
#: ``for`` of the platform-down alert in the copy of the rules Prometheus loads
SHORT_FOR = "1s"
DASHBOARD = "grafana/dashboards/failover.json"


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.1)


def tls_platform(target: HttpTarget, ca_file: str) -> str:
    """A second platform, up throughout, whose TLS check gives the certificate series."""
    return f"""
[platforms.telegram]
display_name = "Telegram"
interval = "1s"

[[platforms.telegram.checks]]
kind = "tls"
name = "tls"
host = "127.0.0.1"
port = {target.port}
server_name = "localhost"
ca_file = "{ca_file}"
timeout = "1s"
"""


def rules_with_short_for(path: Path) -> Path:
    """A copy of the shipped rules in which FailoverPlatformDown waits ``SHORT_FOR``."""
    rules = yaml.safe_load(RULES.read_text())
    shortened = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "FailoverPlatformDown":
                rule["for"] = SHORT_FOR
                shortened += 1
    assert shortened == 1, "FailoverPlatformDown is not in the rules file"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def prometheus_config(path: Path, *, target_port: int, rules: Path) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "failover",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def instant(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    """The result of an instant query; fails the test if it is not a success."""
    body = prometheus.api("query", query=expr)
    assert body.get("status") == "success", f"{expr!r}: {body.get('errorType')}: {body.get('error')}"
    data: dict[str, Any] = body["data"]  # type: ignore[assignment]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result


def total(prometheus: Prometheus, expr: str) -> float:
    return sum(float(sample["value"][1]) for sample in instant(prometheus, expr))


def firing(prometheus: Prometheus, alertname: str) -> list[dict[str, Any]]:
    body = prometheus.api("alerts")
    assert body.get("status") == "success", body
    alerts: list[dict[str, Any]] = body["data"]["alerts"]  # type: ignore[index]
    return [a for a in alerts if a["labels"].get("alertname") == alertname and a["state"] == "firing"]


class TestPrometheus:
    def test_prometheus_sees_the_outage_and_every_expression_runs(
        self,
        world: World,
        https_target: HttpTarget,
        ca_file: str,
        start_daemon: StartDaemon,
        start_prometheus: StartPrometheus,
    ) -> None:
        prometheus_binary = tool_or_skip("prometheus", required_on_ci=True)
        promtool = tool_or_skip("promtool", required_on_ci=True)
        budget = Budget(BUDGET_S)
        config = world.tmp_path / "failover.toml"
        config.write_text(world.config_text() + tls_platform(https_target, ca_file))

        daemon = start_daemon(config)
        rules = rules_with_short_for(world.tmp_path / "failover.rules.yml")
        prometheus = start_prometheus(
            prometheus_binary,
            prometheus_config(world.tmp_path / "prometheus.yml", target_port=world.api_port, rules=rules),
        )
        daemon.wait_ready(world.api)
        prometheus.wait_ready(timeout=budget.left())

        # Scraped before anything happens: the series exist at their start values, so that
        # rate() and increase() see the outage's increments.
        wait_until(
            "prometheus to scrape the daemon (up == 1, platforms judged)",
            lambda: (
                total(prometheus, 'up{job="failover"}') == 1
                and total(prometheus, 'failover_platform_state{state="up"}') == 2
            ),
            timeout=budget.left(),
            log=prometheus.log,
        )

        world.go_dark()
        world.smtp.wait_for(2, timeout=budget.left())
        wait_until(
            "prometheus to see the outage and the two notices sent",
            lambda: (
                total(prometheus, 'failover_platform_state{platform="whatsapp", state="down"}') == 1
                and total(prometheus, 'failover_notices_total{channel="mailto", outcome="sent"}') == 2
                and total(prometheus, "failover_notice_latency_seconds_count") == 2
            ),
            timeout=budget.left(),
            log=daemon.log,
        )

        # The platform-down alert fires (its `for` shortened to SHORT_FOR in the copy).
        wait_until(
            "FailoverPlatformDown to fire for whatsapp",
            lambda: any(
                a["labels"].get("platform") == "whatsapp" for a in firing(prometheus, "FailoverPlatformDown")
            ),
            timeout=budget.left(),
            log=prometheus.log,
        )
        [alert] = firing(prometheus, "FailoverPlatformDown")
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["family"] == "meta"
        assert alert["annotations"]["summary"] == "whatsapp is down"
        assert total(prometheus, 'ALERTS{alertname="FailoverPlatformDown", alertstate="firing"}') == 1
        assert firing(prometheus, "FailoverNoticesFailing") == []  # every notice went out

        # Every expression parses; every dashboard panel has data (a finite number).
        expressions = all_promql_expressions()
        assert len({source for source, _ in expressions}) == len(expressions)
        empty: list[str] = []
        for source, expr in expressions:
            result = instant(prometheus, expr)
            if source.startswith(DASHBOARD):
                values = [float(sample["value"][1]) for sample in result]
                if not any(math.isfinite(value) for value in values):
                    empty.append(f"{source}: {expr}\n    -> {values}")
        assert empty == [], "dashboard panels without data:\n" + "\n".join(empty)

        # The shipped panels show what happened, not only that something answers.
        assert total(prometheus, 'count(failover_platform_state{state="down"} == 1) or vector(0)') == 1
        assert total(prometheus, 'sum(increase(failover_incidents_total{scope="platform"}[5m]))') > 0
        assert total(prometheus, "sum(failover_incident_open)") >= 1
        assert total(prometheus, 'sum(failover_notices_total{outcome="sent"})') == 2
        cert_days = total(prometheus, "(min(failover_certificate_expiry_timestamp_seconds) - time()) / 86400")
        assert cert_days > 30  # the kit's certificate for localhost is valid for years

        # Every rule (the copy of the shipped file) was evaluated without error.
        body = prometheus.api("rules")
        groups: list[dict[str, Any]] = body["data"]["groups"]  # type: ignore[index]
        evaluated = {rule["name"]: rule for group in groups for rule in group["rules"]}
        shipped = {
            rule.get("alert") or rule["record"]
            for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]
        }
        assert set(evaluated) == shipped
        broken = {name: rule.get("lastError") for name, rule in evaluated.items() if rule["health"] != "ok"}
        assert broken == {}

        # The daemon's own exposition, as Prometheus scraped it, passes promtool's lint.
        exposition = httpx.get(f"{world.api}/metrics", timeout=5)
        assert exposition.status_code == 200
        assert "failover_notices_total{" in exposition.text
        lint = subprocess.run(
            [promtool, "check", "metrics"],
            input=exposition.content,
            capture_output=True,
            timeout=budget.left(),
            check=False,
        )
        complaints = (lint.stdout + lint.stderr).decode(errors="replace").strip()
        assert lint.returncode == 0, complaints
        assert complaints == ""

        assert daemon.stop(timeout=budget.left()) == 0
