"""`failover status` exits as `failover check` does for the same state: a real daemon judges
the test kit's platform up, then down (4 October 2021), then loses its own connectivity,
and both commands say so with the same code (0 OK, 2 CRITICAL, 3 UNKNOWN)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon, run_cli, wait_until
from tests.kit import World

pytestmark = pytest.mark.slow

StartDaemon = Callable[[Path], Daemon]


def status(config: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("status", "--nagios", config=config, timeout=30)


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("check", "--nagios", config=config, timeout=30)


def wait_for_status(config: Path, code: int, daemon: Daemon) -> subprocess.CompletedProcess[str]:
    answers: list[subprocess.CompletedProcess[str]] = []

    def reached() -> bool:
        answers.append(status(config))
        return answers[-1].returncode == code

    wait_until(f"`failover status` to exit {code}", reached, log=daemon.log)
    return answers[-1]


class TestStatusExitsLikeCheck:
    def test_up_down_and_connectivity_lost(self, world: World, start_daemon: StartDaemon) -> None:
        config = world.write_config()
        daemon = start_daemon(config)
        daemon.wait_ready(world.api)

        up = wait_for_status(config, 0, daemon)
        assert up.stdout.startswith("FAILOVER OK - 1 of 1 up"), up.stdout
        assert check(config).returncode == 0

        world.go_dark()
        down = wait_for_status(config, 2, daemon)
        assert down.stdout.startswith("FAILOVER CRITICAL - down: whatsapp"), down.stdout
        assert "open_incidents=1;;;0" in down.stdout
        seen = check(config)
        assert seen.returncode == 2, seen.stdout + seen.stderr
        assert seen.stdout.startswith("FAILOVER CRITICAL - down: whatsapp")

        world.control.stop()  # the three controls knock on it: our own network is "down"
        lost = wait_for_status(config, 3, daemon)
        assert lost.stdout.startswith("FAILOVER UNKNOWN - own connectivity lost since "), lost.stdout
        assert "platform health unknown, not down" in lost.stdout
        seen = check(config)
        assert seen.returncode == 3, seen.stdout + seen.stderr
        assert seen.stdout.startswith("FAILOVER UNKNOWN - own connectivity lost")

        assert daemon.stop() == 0
