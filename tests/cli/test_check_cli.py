"""`failover check`: one round, a table, JSON or a monitoring plugin's line, and exit codes
that follow the monitoring-plugins guidelines (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from tests.kit import DnsServer, HttpTarget, tcp_controls

FAILOVER = str(Path(sys.executable).with_name("failover"))
#: one perfdata item: 'label'=value[UOM];[warn];[crit];[min];[max] (monitoring-plugins guidelines)
PERFDATA_ITEM = re.compile(
    r"^(?:'[^'=]+'|[^'=\s]+)=(?:U|-?\d+(?:\.\d+)?(?:e-?\d+)?)(?:s|%|B|c)?(?:;[^;\s]*){0,4}$"
)


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


@pytest.fixture
def up_config(tmp_path: Path, http_target: HttpTarget, healthy_dns: DnsServer) -> Path:
    """Every check answers: the platform is up, the controls pass."""
    port = http_target.port
    return loopback_config(
        tmp_path, front_door=http_target.url + "/", dns=healthy_dns, control_ports=(port, port, port)
    )


@pytest.fixture
def down_config(tmp_path: Path, http_target: HttpTarget, dns_server: DnsServer, closed_port: int) -> Path:
    """Authoritative DNS SERVFAIL and a refused front door, while the controls pass: down."""
    dns_server.set("whatsapp.net", "servfail")
    port = http_target.port
    return loopback_config(
        tmp_path,
        front_door=f"http://127.0.0.1:{closed_port}/",
        dns=dns_server,
        control_ports=(port, port, port),
    )


@pytest.fixture
def degraded_config(tmp_path: Path, http_target: HttpTarget, dns_server: DnsServer) -> Iterator[Path]:
    """The front door answers, with HTTP 500, and DNS fails: corroborated trouble short of
    an outage, degraded."""
    dns_server.set("whatsapp.net", "servfail")
    http_target.set("status", status=500)
    with HttpTarget() as control:
        port = control.port
        yield loopback_config(
            tmp_path, front_door=http_target.url + "/", dns=dns_server, control_ports=(port, port, port)
        )


@pytest.fixture
def lost_config(tmp_path: Path, dns_server: DnsServer, closed_port: int, blackhole_port: int) -> Path:
    """The controls fail (closed and silent ports): our own connectivity is lost."""
    dns_server.set("whatsapp.net", "servfail")
    return loopback_config(
        tmp_path,
        front_door=f"http://127.0.0.1:{closed_port}/",
        dns=dns_server,
        control_ports=(closed_port, blackhole_port, closed_port),
    )


def plugin_output(result: Result) -> tuple[str, str, list[str], list[str]]:
    """(state, summary, perfdata items, long output lines) of a --nagios answer."""
    first, *rest = result.stdout.rstrip("\n").split("\n")
    match = re.fullmatch(r"FAILOVER (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.+))?", first)
    assert match, first
    state, summary, perfdata = match.groups()
    items = perfdata.split() if perfdata else []
    for item in items:
        assert PERFDATA_ITEM.match(item), item
    assert all("|" not in line for line in rest)
    return state, summary, items, rest


def perf(items: list[str]) -> dict[str, str]:
    return {item.split("=", 1)[0]: item.split("=", 1)[1] for item in items}


@pytest.mark.slow
class TestExitCodes:
    """0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN: what Nagios, Icinga and Sensu expect of a
    plugin, whatever the output format."""

    def test_all_up_exits_0(self, up_config: Path) -> None:
        """Every check answering means exit 0 and an 'up' verdict."""
        result = run_check(up_config)
        assert result.exit_code == 0, result.output
        assert "whatsapp" in result.output
        assert "up" in result.output

    def test_degraded_exits_1(self, degraded_config: Path) -> None:
        """HTTP 500s with DNS failing too: degraded, WARNING."""
        result = run_check(degraded_config, "--json")
        assert result.exit_code == 1, result.output
        assert json.loads(result.stdout)["platforms"]["whatsapp"]["health"] == "degraded"

    def test_platform_down_exits_2(self, down_config: Path) -> None:
        """Authoritative DNS SERVFAIL plus a refused front door is 'down': CRITICAL."""
        result = run_check(down_config, "--json")
        assert result.exit_code == 2, result.output
        assert json.loads(result.stdout)["platforms"]["whatsapp"]["health"] == "down"

    def test_own_connectivity_lost_exits_3_and_never_says_down(self, lost_config: Path) -> None:
        """With the controls failing the platform is 'unknown', not 'down', even though its
        own checks fail too: UNKNOWN, and the output says so plainly."""
        result = run_check(lost_config)
        assert result.exit_code == 3, result.output
        assert "connectivity is lost" in result.output
        assert "unknown" in result.output
        assert " down " not in result.output
        as_json = run_check(lost_config, "--json")
        assert as_json.exit_code == 3
        assert json.loads(as_json.stdout)["connectivity"]["ok"] is False
        assert json.loads(as_json.stdout)["platforms"]["whatsapp"]["health"] == "unknown"

    @pytest.mark.parametrize(
        ("arguments", "complaint"),
        [
            (["--bogus"], "No such option"),
            (["--json", "--nagios"], "choose one"),
            (["whatsap"], "unknown platform 'whatsap'"),
        ],
    )
    def test_usage_errors_exit_3(self, up_config: Path, arguments: list[str], complaint: str) -> None:
        """A wrong option or a PLATFORM that names none: UNKNOWN (click alone would say 2,
        which a monitoring system reads as CRITICAL)."""
        result = run_check(up_config, *arguments)
        assert result.exit_code == 3, result.output
        assert complaint in result.stderr

    def test_an_invalid_configuration_exits_3(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text("[daemon]\nlisten = 42\n")
        result = run_check(path)
        assert result.exit_code == 3
        assert result.stderr.startswith("failover: ")
        nagios = run_check(path, "--nagios")
        assert nagios.exit_code == 3
        assert nagios.stdout.startswith("FAILOVER UNKNOWN - configuration: ")

    def test_the_installed_program_exits_the_same(self, down_config: Path) -> None:
        """Not only under click's test runner: the `failover` program itself."""
        down = subprocess.run(
            [FAILOVER, "check", "--nagios", "--config", str(down_config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert down.returncode == 2, down.stdout + down.stderr
        assert down.stdout.startswith("FAILOVER CRITICAL - down: whatsapp")
        usage = subprocess.run(
            [FAILOVER, "check", "--nagios", "--bogus"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert usage.returncode == 3
        assert "No such option" in usage.stderr


@pytest.mark.slow
class TestNagiosOutput:
    """--nagios: one line with the state, a summary and perfdata, then one line per platform."""

    def test_ok(self, up_config: Path) -> None:
        result = run_check(up_config, "--nagios")
        assert result.exit_code == 0, result.output
        state, summary, items, details = plugin_output(result)
        assert state == "OK"
        assert summary == "1 of 1 up; 3 of 3 controls answer"
        values = perf(items)
        assert (values["up"], values["down"], values["degraded"]) == ("1;;;0;1", "0;;0;0;1", "0;0;;0;1")
        assert values["controls"] == "3;;;0;3"
        assert values["time"].endswith("s;;;0")
        for check in ("whatsapp.authoritative", "whatsapp.https", "control-0.tcp"):
            assert re.fullmatch(r"\d+(\.\d+)?(e-?\d+)?s;;;0", values[check]), values[check]
        assert details == ["whatsapp up: all 2 checks passing"]

    def test_warning(self, degraded_config: Path) -> None:
        result = run_check(degraded_config, "--nagios")
        assert result.exit_code == 1, result.output
        state, summary, items, details = plugin_output(result)
        assert state == "WARNING"
        assert summary.startswith("degraded: whatsapp; 0 of 1 up")
        assert perf(items)["degraded"] == "1;0;;0;1"
        assert details[0].startswith("whatsapp degraded: ")

    def test_critical(self, down_config: Path) -> None:
        result = run_check(down_config, "--nagios")
        assert result.exit_code == 2, result.output
        state, summary, items, details = plugin_output(result)
        assert state == "CRITICAL"
        assert summary == "down: whatsapp; 0 of 1 up; 3 of 3 controls answer"
        assert perf(items)["down"] == "1;;0;0;1"
        assert details[0].startswith("whatsapp down: ")

    def test_unknown(self, lost_config: Path) -> None:
        result = run_check(lost_config, "--nagios")
        assert result.exit_code == 3, result.output
        state, summary, items, _ = plugin_output(result)
        assert state == "UNKNOWN"
        assert summary == (
            "own connectivity lost: 0 of 3 controls answer, 2 needed: platform health unknown, not down"
        )
        assert perf(items)["unknown"] == "1;;;0;1"
        assert perf(items)["controls"] == "0;;;0;3"


class TestOptions:
    def test_json_has_verdicts_connectivity_and_checks(self, up_config: Path) -> None:
        """--json prints the round for scripts: connectivity, verdicts and each check."""
        result = run_check(up_config, "--json")
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

    def test_only_the_named_platforms(self, up_config: Path) -> None:
        """PLATFORM arguments narrow the round."""
        assert run_check(up_config, "whatsapp").exit_code == 0

    def test_config_before_the_command(self, down_config: Path) -> None:
        """`failover --config X check` reads X, as `failover check --config X` does."""
        result = CliRunner().invoke(main, ["--config", str(down_config), "check", "--nagios"])
        assert result.exit_code == 2, result.output
        assert result.stdout.startswith("FAILOVER CRITICAL")
