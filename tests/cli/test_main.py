"""The ``failover`` program's front door: the daemon starts without terminal libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from failover.__main__ import DAEMON_HIDDEN_MODULES, is_daemon, without_terminal_libraries

FAILOVER = str(Path(sys.executable).with_name("failover"))


@pytest.mark.parametrize(
    ("arguments", "daemon"),
    [
        (["run"], True),
        (["run", "--config", "/etc/failover/failover.toml"], True),
        (["run", "--help"], True),
        (["--config", "/etc/failover/failover.toml", "run"], True),
        (["-c", "run.toml", "run"], True),
        (["--config=/etc/failover/failover.toml", "run"], True),
        (["-c", "run", "status"], False),  # a configuration file named "run" is not the daemon
        (["-h", "run"], True),
        ([], False),
        (["--version"], False),
        (["demo"], False),
        (["check", "run"], False),  # a platform named "run" is not the daemon
        (["config", "show", "--config", "run"], False),
        (["trigger", "whatsapp", "--message", "run"], False),
    ],
)
def test_the_daemon_is_the_run_command(arguments: list[str], daemon: bool) -> None:
    """Only the ``run`` command counts, wherever the word appears later on the line."""
    assert is_daemon(arguments) is daemon


def test_hiding_leaves_an_imported_module_alone() -> None:
    """A library already in memory stays usable: only future imports are refused."""
    modules: dict[str, object] = {"rich": sys}
    without_terminal_libraries(modules)  # type: ignore[arg-type]
    assert modules["rich"] is sys
    assert all(modules[name] is None for name in DAEMON_HIDDEN_MODULES if name != "rich")


@pytest.mark.slow
def test_the_daemon_path_imports_and_logs_without_rich(tmp_path: Path) -> None:
    """With rich hidden, every command module, the service, structlog and httpx import,
    a logged exception is still written with its traceback, and none of rich, pygments or
    attrs is in memory."""
    script = """
import json, sys
from failover.__main__ import without_terminal_libraries
without_terminal_libraries(sys.modules)
import httpx, structlog
import failover.cli, failover.service
from failover.logs import configure_logging, get_logger
configure_logging(level="info", json=False, stream=sys.stdout)
try:
    raise RuntimeError("probe exploded")
except RuntimeError:
    get_logger("t").exception("round_failed")
loaded = sorted(
    name for name, module in sys.modules.items()
    if module is not None and name.split(".")[0] in ("rich", "pygments", "attr")
)
print(json.dumps(loaded))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    *logged, loaded = done.stdout.strip().splitlines()
    assert json.loads(loaded) == []
    text = "\n".join(logged)
    assert "round_failed" in text
    assert "RuntimeError: probe exploded" in text


@pytest.mark.slow
def test_the_program_runs_the_daemon_command_line() -> None:
    """The installed program takes the daemon's path and still answers ``run --help``."""
    done = subprocess.run([FAILOVER, "run", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Run the daemon" in done.stdout


@pytest.mark.slow
def test_other_commands_still_draw_with_rich(tmp_path: Path) -> None:
    """Outside the daemon, a table is drawn (rich is not hidden for other commands)."""
    config = tmp_path / "failover.toml"
    config.write_text(
        f"[catalog]\nbuiltin = false\n[detection]\ncontrol_quorum = 0\n"
        f'[daemon]\ndatabase_url = "sqlite:///{tmp_path}/f.db"\n'
    )
    subprocess.run([FAILOVER, "db", "upgrade", "--config", str(config)], check=True, capture_output=True)
    done = subprocess.run(
        [FAILOVER, "status", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert "platforms (times in" in done.stdout, done.stderr
