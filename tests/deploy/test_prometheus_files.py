"""The files an operator drops next to Prometheus, Alertmanager and Grafana are valid,
tested, and speak only of series that failover declares."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from failover.domain import Health
from failover.metrics import render
from tests.test_metrics import exercised_registry

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
RULES = PROMETHEUS / "failover.rules.yml"
RULE_TESTS = PROMETHEUS / "failover.rules.test.yml"
ALERTMANAGER = PROMETHEUS / "alertmanager.yml"
GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "failover.json"
DATASOURCE_VARIABLES = {"${datasource}", "${DS_PROMETHEUS}"}

#: What each Grafana variable becomes so that an expression runs in plain Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${platform}": ".*",
    "$platform": ".*",
}

#: The alerts an operator can count on (deploy/prometheus/failover.rules.yml).
REQUIRED_ALERTS = {
    "FailoverPlatformDown",
    "FailoverFamilyDown",
    "FailoverConnectivityLost",
    "FailoverNoticesFailing",
    "FailoverOutboxStuck",
    "FailoverDaemonDown",
    "FailoverMetricsAbsent",
    "FailoverProbesStalled",
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def substitute_grafana_variables(expr: str) -> str:
    """``expr`` with Grafana's variables replaced by values plain Prometheus accepts."""
    for variable, replacement in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, replacement)
    return expr


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def rules() -> list[tuple[str, dict[str, Any]]]:
    """(group name, rule) for every rule of failover.rules.yml."""
    return [(group["name"], rule) for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def all_promql_expressions() -> list[tuple[str, str]]:
    """Every PromQL expression failover ships, as (source, expression) runnable against a
    real Prometheus: the dashboard's targets (Grafana variables substituted) and the rules.
    """
    expressions: list[tuple[str, str]] = []
    for panel in dashboard_panels(load_dashboard()):
        for target in panel.get("targets", []):
            source = f"grafana/dashboards/failover.json: {panel['title']} ({target['refId']})"
            expressions.append((source, substitute_grafana_variables(target["expr"])))
    for group, rule in rules():
        name = rule.get("alert") or rule["record"]
        expressions.append((f"deploy/prometheus/failover.rules.yml: {group}/{name}", rule["expr"]))
    return expressions


def tool_or_skip(name: str, *, required_on_ci: bool) -> str:
    """The tool's path; when absent, fail on CI (``CI=true``) if required, else skip."""
    path = shutil.which(name)
    if path is None:
        if required_on_ci and os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required on CI")
        pytest.skip(f"{name} not installed")
    return path


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_METRIC_NAME = re.compile(r"(?<![\w:])failover_[A-Za-z0-9_]+(?![\w:])")


def metric_names(expr: str) -> set[str]:
    """The ``failover_*`` series an expression reads (quoted strings ignored)."""
    return set(_METRIC_NAME.findall(_QUOTED.sub('""', expr)))


def exposed_names() -> set[str]:
    """Every sample name failover's registry exposes (``_total``, ``_bucket`` … included)."""
    return {sample.name for family in exercised_registry().collect() for sample in family.samples}


class TestPrometheusConfig:
    """prometheus.yml scrapes the daemon and loads the rules."""

    def test_promtool_accepts_the_config_and_its_rule_file(self) -> None:
        promtool = tool_or_skip("promtool", required_on_ci=True)
        result = run(promtool, "check", "config", PROMETHEUS_CONFIG)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 rule files found" in result.stdout + result.stderr

    def test_it_scrapes_failover_on_loopback_every_15_seconds(self) -> None:
        config = load_yaml(PROMETHEUS_CONFIG)
        (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "failover"]
        assert job["scrape_interval"] == "15s"
        assert job["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]
        assert config["rule_files"] == ["failover.rules.yml"]
        assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]


class TestRules:
    """failover.rules.yml is valid and every alert is unit-tested both ways."""

    def test_promtool_check_rules(self) -> None:
        promtool = tool_or_skip("promtool", required_on_ci=True)
        result = run(promtool, "check", "rules", RULES)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.slow
    def test_promtool_test_rules(self) -> None:
        promtool = tool_or_skip("promtool", required_on_ci=True)
        result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=PROMETHEUS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout

    @pytest.mark.slow
    def test_promtool_test_rules_can_fail(self, tmp_path: Path) -> None:
        """The unit tests bite: a platform-down rule that never fires fails them."""
        promtool = tool_or_skip("promtool", required_on_ci=True)
        broken = RULES.read_text().replace(
            'expr: failover_platform_state{state="down"} == 1',
            'expr: failover_platform_state{state="down"} == 2',
        )
        assert broken != RULES.read_text()
        (tmp_path / RULES.name).write_text(broken)
        shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
        result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
        assert result.returncode != 0
        assert "FailoverPlatformDown" in result.stdout + result.stderr

    def test_the_required_alerts_exist_with_a_severity(self) -> None:
        alerts = {rule["alert"]: rule for _, rule in rules() if "alert" in rule}
        assert set(alerts) >= REQUIRED_ALERTS
        for name, rule in alerts.items():
            assert rule["labels"]["severity"] in {"critical", "warning"}, name
            assert rule["annotations"]["summary"], name
            assert "failover_trigger" not in rule["labels"], f"{name} would be routed back to failover"

    def test_every_alert_is_tested_firing_and_not_firing(self) -> None:
        firing: set[str] = set()
        silent: set[str] = set()
        for case in load_yaml(RULE_TESTS)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
        alerts = {rule["alert"] for _, rule in rules() if "alert" in rule}
        assert alerts - firing == set(), "alerts never tested firing"
        assert alerts - silent == set(), "alerts never tested silent"

    def test_every_recording_rule_is_tested(self) -> None:
        tested = {
            check["expr"]
            for case in load_yaml(RULE_TESTS)["tests"]
            for check in case.get("promql_expr_test", [])
        }
        recorded = {rule["record"] for _, rule in rules() if "record" in rule}
        assert recorded <= tested

    def test_state_matchers_name_real_health_values(self) -> None:
        for source, expr in all_promql_expressions():
            for state in re.findall(r'state="([^"]*)"', expr):
                assert state in set(Health), (source, state)


class TestAlertmanager:
    """alertmanager.yml routes failover triggers to the daemon's webhook with a bearer token file."""

    def test_amtool_check_config(self) -> None:
        amtool = tool_or_skip("amtool", required_on_ci=False)
        result = run(amtool, "check-config", ALERTMANAGER)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_triggers_reach_the_webhook_with_a_token_from_a_file(self) -> None:
        config = load_yaml(ALERTMANAGER)
        (receiver,) = [r for r in config["receivers"] if r["name"] == "failover"]
        (webhook,) = receiver["webhook_configs"]
        assert webhook["url"] == "http://127.0.0.1:9464/api/v1/alertmanager"
        assert webhook["send_resolved"] is True
        authorization = webhook["http_config"]["authorization"]
        assert authorization["type"] == "Bearer"
        assert authorization["credentials_file"].startswith("/")
        assert "credentials" not in authorization
        first_route = config["route"]["routes"][0]
        assert first_route["receiver"] == "failover"
        assert first_route["matchers"] == ['failover_trigger="true"']


class TestDashboard:
    """The Grafana dashboard draws every platform's state, probes, incidents and notices
    through its data source variable."""

    def test_schema_and_datasource_variable(self) -> None:
        dashboard = load_dashboard()
        assert dashboard["schemaVersion"] >= 36
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["platform"]["includeAll"] is True
        assert variables["platform"]["datasource"]["uid"] in DATASOURCE_VARIABLES

    def test_every_panel_queries_through_the_datasource_variable(self) -> None:
        panels = dashboard_panels(load_dashboard())
        assert panels
        for panel in panels:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in DATASOURCE_VARIABLES, panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["expr"].strip(), panel["title"]
                assert target["datasource"]["uid"] in DATASOURCE_VARIABLES, panel["title"]

    def test_panel_ids_are_unique(self) -> None:
        ids = [panel["id"] for panel in dashboard_panels(load_dashboard())]
        assert len(ids) == len(set(ids))

    @pytest.mark.parametrize(
        ("panel_type", "metric"),
        [
            ("state-timeline", "failover_platform_state"),
            ("timeseries", "failover_probe_phase_seconds_bucket"),
            ("timeseries", "failover_probe_results_total"),
            ("timeseries", "failover_incidents_total"),
            ("timeseries", "failover_incident_open"),
            ("timeseries", "failover_notices_total"),
            ("timeseries", "failover_outbox_pending"),
            ("timeseries", "failover_connectivity_up"),
        ],
    )
    def test_the_promised_views_are_there(self, panel_type: str, metric: str) -> None:
        assert any(
            panel["type"] == panel_type and any(metric in metric_names(t["expr"]) for t in panel["targets"])
            for panel in dashboard_panels(load_dashboard())
        )

    def test_failure_reasons_leave_out_successes(self) -> None:
        (panel,) = [p for p in dashboard_panels(load_dashboard()) if p["title"] == "Failure reasons"]
        assert 'outcome!="ok"' in panel["targets"][0]["expr"]


class TestGrafanaProvisioning:
    """The provisioning files drop into /etc/grafana/provisioning/."""

    def test_datasource(self) -> None:
        config = load_yaml(GRAFANA / "provisioning" / "datasources" / "failover.yml")
        assert config["apiVersion"] == 1
        (datasource,) = config["datasources"]
        assert datasource["type"] == "prometheus"
        assert datasource["url"].startswith("http://127.0.0.1:")

    def test_dashboard_provider(self) -> None:
        config = load_yaml(GRAFANA / "provisioning" / "dashboards" / "failover.yml")
        assert config["apiVersion"] == 1
        (provider,) = config["providers"]
        assert provider["type"] == "file"
        assert provider["options"]["path"] == "/var/lib/grafana/dashboards/failover"


class TestExpressions:
    """Every PromQL expression parses and reads only series failover declares."""

    def test_expressions_come_from_both_sources(self) -> None:
        sources = {source.split(":", 1)[0] for source, _ in all_promql_expressions()}
        assert sources == {"grafana/dashboards/failover.json", "deploy/prometheus/failover.rules.yml"}

    def test_no_grafana_variable_is_left(self) -> None:
        for source, expr in all_promql_expressions():
            assert "$" not in expr, source

    def test_every_expression_parses(self, tmp_path: Path) -> None:
        promtool = tool_or_skip("promtool", required_on_ci=True)
        rule_file = tmp_path / "expressions.yml"
        rule_file.write_text(yaml.safe_dump(_as_recording_rules(all_promql_expressions())))
        result = run(promtool, "check", "rules", rule_file)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_broken_expression_does_not_parse(self, tmp_path: Path) -> None:
        """The parse check above can fail."""
        promtool = tool_or_skip("promtool", required_on_ci=True)
        rule_file = tmp_path / "expressions.yml"
        rule_file.write_text(yaml.safe_dump(_as_recording_rules([("broken", "sum by (platform (up)")])))
        result = run(promtool, "check", "rules", rule_file)
        assert result.returncode != 0

    def test_every_series_read_is_exposed(self) -> None:
        exposed = exposed_names()
        read = {name: source for source, expr in all_promql_expressions() for name in metric_names(expr)}
        assert read
        assert {name for name in read if name not in exposed} == set(), read

    def test_metric_names_finds_names_and_ignores_strings(self) -> None:
        assert metric_names('sum(rate(failover_a_total{x="failover_b"}[5m])) / failover_c') == {
            "failover_a_total",
            "failover_c",
        }
        assert metric_names("failover_family:platforms_down:count") == set()

    def test_the_exposition_names_what_the_expressions_read(self) -> None:
        text = render(exercised_registry()).decode()
        assert "failover_probe_phase_seconds_bucket{" in text
        assert "failover_certificate_expiry_timestamp_seconds{" in text


def _as_recording_rules(expressions: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "expressions",
                "rules": [
                    {"record": f"failover_check:expression_{index}", "expr": expr}
                    for index, (_, expr) in enumerate(expressions)
                ],
            }
        ]
    }
