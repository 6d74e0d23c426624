"""`failover check`: one round, a table or JSON, and exit codes scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from tests.kit import DnsServer, HttpTarget, tcp_controls


def loopback_config(
    tmp_path: Path, *, front_door: str, dns: DnsServer, control_ports: tuple[int, int, int]
) -> Path:
    """One platform (whatsapp, family meta) with authoritative DNS and an HTTP front door,
    and three TCP controls; everything on 127.0.0.1."""
    controls = tcp_controls(control_ports)
    path = tmp_path / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{tmp_path}/failover.db"

[platforms.whatsapp]
display_name = "WhatsApp"
family = "meta"

[[platforms.whatsapp.checks]]
kind = "dns"
name = "authoritative"
qname = "whatsapp.net"
via = "authoritative"
record_types = ["SOA"]
servers = ["{dns.endpoint}"]
timeout = "1s"

[[platforms.whatsapp.checks]]
kind = "http"
name = "https"
url = "{front_door}"
timeout = "1s"
{controls}
"""
    )
    return path


def run_check(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--config", str(config), *args])


@pytest.fixture
def healthy_dns(dns_server: DnsServer) -> DnsServer:
    dns_server.set("whatsapp.net", "noerror")
    return dns_server


class TestCheck:
    """One round against the configured platforms and controls."""

    def test_all_up_exits_0(self, tmp_path: Path, http_target: HttpTarget, healthy_dns: DnsServer) -> None:
        """Every check answering means exit 0 and an 'up' verdict."""
        port = http_target.port
        config = loopback_config(
            tmp_path, front_door=http_target.url + "/", dns=healthy_dns, control_ports=(port, port, port)
        )
        result = run_check(config)
        assert result.exit_code == 0, result.output
        assert "whatsapp" in result.output
        assert "up" in result.output

    def test_json_has_verdicts_connectivity_and_checks(
        self, tmp_path: Path, http_target: HttpTarget, healthy_dns: DnsServer
    ) -> None:
        """--json prints the round for scripts: connectivity, verdicts and each check."""
        port = http_target.port
        config = loopback_config(
            tmp_path, front_door=http_target.url + "/", dns=healthy_dns, control_ports=(port, port, port)
        )
        result = run_check(config, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["connectivity"]["ok"] is True
        assert data["connectivity"]["controls_passing"] == 3
        whatsapp = data["platforms"]["whatsapp"]
        assert whatsapp["health"] == "up"
        assert {c["check"]: c["outcome"] for c in whatsapp["checks"]} == {
            "authoritative": "ok",
            "https": "ok",
        }
        assert set(data["controls"]) == {"control-0", "control-1", "control-2"}

    def test_platform_down_exits_1(
        self, tmp_path: Path, http_target: HttpTarget, dns_server: DnsServer, closed_port: int
    ) -> None:
        """Authoritative DNS SERVFAIL plus a refused front door is 'down': exit 1."""
        dns_server.set("whatsapp.net", "servfail")
        port = http_target.port
        config = loopback_config(
            tmp_path,
            front_door=f"http://127.0.0.1:{closed_port}/",
            dns=dns_server,
            control_ports=(port, port, port),
        )
        result = run_check(config, "--json")
        assert result.exit_code == 1, result.output
        data = json.loads(result.stdout)
        assert data["platforms"]["whatsapp"]["health"] == "down"

    def test_degraded_exits_1(self, tmp_path: Path, http_target: HttpTarget, dns_server: DnsServer) -> None:
        """HTTP 500s with DNS failing too read as trouble, never as 'up'."""
        dns_server.set("whatsapp.net", "servfail")
        http_target.set("status", status=500)
        control = HttpTarget()
        with control:
            port = control.port
            config = loopback_config(
                tmp_path, front_door=http_target.url + "/", dns=dns_server, control_ports=(port, port, port)
            )
            result = run_check(config, "--json")
        assert result.exit_code == 1, result.output
        assert json.loads(result.stdout)["platforms"]["whatsapp"]["health"] in {"degraded", "down"}

    def test_own_connectivity_lost_exits_2_and_never_says_down(
        self, tmp_path: Path, dns_server: DnsServer, closed_port: int, blackhole_port: int
    ) -> None:
        """With the controls failing (closed and silent ports) the platform is 'unknown', not
        'down', even though its own checks fail too; the output says so plainly."""
        dns_server.set("whatsapp.net", "servfail")
        config = loopback_config(
            tmp_path,
            front_door=f"http://127.0.0.1:{closed_port}/",
            dns=dns_server,
            control_ports=(closed_port, blackhole_port, closed_port),
        )
        result = run_check(config)
        assert result.exit_code == 2, result.output
        assert "connectivity is lost" in result.output
        assert "unknown" in result.output
        assert " down " not in result.output
        as_json = json.loads(run_check(config, "--json").stdout)
        assert as_json["connectivity"]["ok"] is False
        assert as_json["platforms"]["whatsapp"]["health"] == "unknown"

    def test_only_the_named_platforms(
        self, tmp_path: Path, http_target: HttpTarget, healthy_dns: DnsServer
    ) -> None:
        """PLATFORM arguments narrow the round; an unknown name is an error naming it."""
        port = http_target.port
        config = loopback_config(
            tmp_path, front_door=http_target.url + "/", dns=healthy_dns, control_ports=(port, port, port)
        )
        assert run_check(config, "whatsapp").exit_code == 0
        result = run_check(config, "whatsap")
        assert result.exit_code == 1
        assert "unknown platform 'whatsap'" in result.stderr
