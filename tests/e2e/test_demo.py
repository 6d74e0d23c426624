"""`failover demo` runs on its own, offline, and tells the whole story."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import failover_command

pytestmark = pytest.mark.slow


class TestDemo:
    def test_the_demo_runs_its_scenario_to_the_end(self) -> None:
        """Dark WhatsApp, dark Meta, recovery: timeline, inboxes and latencies are printed."""
        result = subprocess.run(
            [*failover_command(), "demo"],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "160"},
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        for expected in (
            "platform incident whatsapp confirmed",
            "family incident meta confirmed",
            "recovery notices delivered",
            "What each contact received",
            "WhatsApp bridge (webhook)",
            "Latencies",
        ):
            assert expected in result.stdout, f"{expected!r} missing from:\n{result.stdout}"
