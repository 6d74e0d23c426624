"""`failover demo` runs on its own, offline, and tells the whole story, from a plain install."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.e2e.conftest import failover_command

pytestmark = pytest.mark.slow

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: Runs ``failover demo`` with a finder first on ``sys.meta_path`` that refuses the modules
#: named in argv[1] (comma-separated), as a plain install without them would.
REFUSING = """
import runpy, sys

refused = frozenset(sys.argv[1].split(","))

class RefuseDevPackages:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in refused:
            raise ModuleNotFoundError(f"{name} is a development dependency", name=name)
        return None

sys.meta_path.insert(0, RefuseDevPackages)
sys.argv = ["failover", *sys.argv[2:]]
runpy.run_module("failover", run_name="__main__", alter_sys=True)
"""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: Iterable[str]) -> set[str]:
    """The installed distributions these requirements pull in, transitively (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _normalized(requirement.name)
        if name in seen:
            continue
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (a marker's other platform): nothing to refuse
        seen.add(name)
        todo.extend(Requirement(text) for text in requires)
    return seen


def dev_only_modules() -> set[str]:
    """Top-level modules that only the ``dev`` extra brings in: pytest, hypothesis, trustme,
    tomlkit, coverage … but not PyYAML, which apprise needs at run time too."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    runtime = _closure(project["dependencies"])
    dev_only = _closure(project["optional-dependencies"]["dev"]) - runtime
    return {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if all(_normalized(distribution) in dev_only for distribution in distributions)
        and module.isidentifier()
    }


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


class TestPlainInstall:
    def test_the_dev_only_packages_are_found(self) -> None:
        """The refused set names the test tools and not the runtime's own dependencies."""
        refused = dev_only_modules()
        assert {"pytest", "hypothesis", "trustme", "tomlkit"} <= refused
        assert not {"aiosmtpd", "yaml", "dns", "httpx", "rich", "failover"} & refused

    def test_the_demo_needs_no_development_dependency(self, tmp_path: Path) -> None:
        """With every dev-only package refused at import, the demo still runs to its end."""
        refused = dev_only_modules()
        # a coverage run hands its subprocesses a start-up hook: not wanted in this one
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("COV_CORE_", "COVERAGE_"))
        }
        result = subprocess.run(
            [sys.executable, "-c", REFUSING, ",".join(sorted(refused)), "demo", "--speed", "4"],
            capture_output=True,
            text=True,
            timeout=90,
            env={**env, "NO_COLOR": "1", "COLUMNS": "160"},
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "recovery notices delivered" in result.stdout
        assert "development dependency" not in result.stderr
