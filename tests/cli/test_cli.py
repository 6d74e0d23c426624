"""The command line's front door: the global --config, exit codes, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from failover import __version__
from failover.cli import main
from failover.cli._main import PluginState, plugin_state
from failover.cli._status_cmds import status_state
from failover.detect import PlatformStatus
from failover.domain import Health
from failover.service import StatusReport

FAILOVER = str(Path(sys.executable).with_name("failover"))


class TestRoot:
    def test_help_lists_the_command_groups(self) -> None:
        """`failover --help` names every command group a user reaches for."""
        result = CliRunner().invoke(main, ["--help"])
        assert result.exit_code == 0
        assert "config" in result.output

    def test_version(self) -> None:
        """`failover --version` prints the installed version."""
        result = CliRunner().invoke(main, ["--version"])
        assert result.exit_code == 0
        assert __version__ in result.output


LOOPBACK_CONFIG = """
[catalog]
builtin = false

[daemon]
database_url = "sqlite:///{db}"

[detection]
control_quorum = 0

[platforms.whatsapp]
display_name = "WhatsApp"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "failover.toml"
    path.write_text(LOOPBACK_CONFIG.format(db=tmp_path / "failover.db"))
    return path


class TestGlobalConfig:
    """`--config` is accepted before the command as well as after it."""

    def test_before_the_command_reads_the_same_file(self, config: Path) -> None:
        before = CliRunner().invoke(main, ["--config", str(config), "config", "show", "--json"])
        after = CliRunner().invoke(main, ["config", "show", "--json", "--config", str(config)])
        assert before.exit_code == after.exit_code == 0, before.output + after.output
        assert before.stdout == after.stdout
        assert json.loads(before.stdout)["source"] == str(config)

    def test_short_form_and_a_command_without_the_option(self, config: Path) -> None:
        """`config validate` takes a PATH; without one it reads the root's --config."""
        result = CliRunner().invoke(main, ["-c", str(config), "config", "validate"])
        assert result.exit_code == 0, result.output
        assert str(config) in result.stdout

    def test_two_different_files_are_a_usage_error(self, config: Path, tmp_path: Path) -> None:
        other = tmp_path / "other.toml"
        other.write_text(config.read_text())
        result = CliRunner().invoke(main, ["--config", str(config), "status", "--config", str(other)])
        assert result.exit_code == 3
        assert "give one" in result.stderr

    def test_the_same_file_twice_is_fine(self, config: Path) -> None:
        result = CliRunner().invoke(main, ["-c", str(config), "config", "show", "--json", "-c", str(config)])
        assert result.exit_code == 0, result.output


class TestExitCodes:
    """Usage errors exit 3 in every command (click's 2 means CRITICAL to a monitoring
    system, and is `check`'s and `status`'s "a platform is down")."""

    @pytest.mark.parametrize(
        "arguments",
        [
            ["no-such-command"],
            ["check", "--no-such-option"],
            ["status", "--json", "--nagios"],
            ["incidents", "--since", "soon"],
            ["config", "show", "--no-such-option"],
            ["trigger"],
            ["resolve", "not-a-number"],
            ["--config"],
        ],
    )
    def test_usage_errors_exit_3(self, config: Path, arguments: list[str]) -> None:
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 3, result.output
        assert "Error:" in result.stderr

    def test_an_invalid_configuration_exits_1_outside_check_and_status(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.toml"
        bad.write_text("[daemon]\nlisten = 42\n")
        assert CliRunner().invoke(main, ["config", "validate", str(bad)]).exit_code == 1
        assert CliRunner().invoke(main, ["status", "--config", str(bad)]).exit_code == 3
        assert CliRunner().invoke(main, ["check", "--config", str(bad)]).exit_code == 3

    @pytest.mark.parametrize(
        ("healths", "lost", "state"),
        [
            ((), False, PluginState.ok),
            ((Health.up, Health.up), False, PluginState.ok),
            ((Health.up, Health.unknown), False, PluginState.unknown),
            ((Health.unknown, Health.degraded), False, PluginState.warning),
            ((Health.degraded, Health.down, Health.up), False, PluginState.critical),
            ((Health.down,), True, PluginState.unknown),
        ],
    )
    def test_the_worst_health_decides_as_monitoring_plugins_do(
        self, healths: tuple[Health, ...], lost: bool, state: PluginState
    ) -> None:
        """CRITICAL > WARNING > UNKNOWN > OK; lost connectivity makes every verdict unknown."""
        assert plugin_state(healths, connectivity_lost=lost) is state

    @pytest.mark.parametrize(
        ("health", "judged", "lost", "code"),
        [
            (Health.up, True, False, 0),
            (Health.degraded, True, False, 1),
            (Health.down, True, False, 2),
            (Health.unknown, True, True, 3),
            (Health.unknown, False, False, 3),
        ],
    )
    def test_status_maps_the_judged_state_as_check_does(
        self, health: Health, judged: bool, lost: bool, code: int
    ) -> None:
        report = StatusReport(
            platforms=(
                PlatformStatus(
                    platform="whatsapp",
                    health=health,
                    since=None,
                    flapping=False,
                    suspect=False,
                    incident=None,
                ),
            ),
            open_incidents=(),
            connectivity_lost_since=datetime(2021, 10, 4, 15, 40, tzinfo=UTC) if lost else None,
            judged=judged,
        )
        assert int(status_state(report)) == code


@pytest.mark.slow
class TestCompletion:
    """Shell completion is click's: `_FAILOVER_COMPLETE` on the installed program."""

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FAILOVER], capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **env}
        )

    @pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
    def test_the_script_for_each_shell(self, shell: str) -> None:
        result = self.run(_FAILOVER_COMPLETE=f"{shell}_source")
        assert result.returncode == 0, result.stderr
        assert "_FAILOVER_COMPLETE" in result.stdout

    def test_commands_and_options_complete(self) -> None:
        commands = self.run(_FAILOVER_COMPLETE="bash_complete", COMP_WORDS="failover ch", COMP_CWORD="1")
        assert commands.stdout.split() == ["plain,check"]
        options = self.run(
            _FAILOVER_COMPLETE="bash_complete", COMP_WORDS="failover check --na", COMP_CWORD="2"
        )
        assert options.stdout.split() == ["plain,--nagios"]
