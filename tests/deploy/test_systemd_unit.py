"""The shipped systemd unit: systemd itself accepts it, and it keeps its hardening."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from failover.config import parse_config
from failover.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "failover.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "failover.env.example"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
#: ``systemd-analyze security`` exposure, times ten (1.4 today; "OK" ends at 2.0)
MAX_EXPOSURE = 20


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value assigned, in order (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"assignment outside a section: {line}"
        assert not line.endswith("\\"), "continuation lines are not used in this unit"
        key, separator, value = line.partition("=")
        assert separator, f"not an assignment: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service_section() -> Mapping[str, list[str]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]


def systemd_analyze() -> str:
    if Path(SYSTEMD_ANALYZE).is_file():
        return SYSTEMD_ANALYZE
    if os.environ.get("CI") == "true":
        pytest.fail(f"{SYSTEMD_ANALYZE} is required in CI")
    pytest.skip(f"{SYSTEMD_ANALYZE} is not installed")


def verifiable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at an executable that exists here (systemd checks)."""
    executable = shutil.which("failover", path=str(Path(sys.executable).parent)) or "/bin/true"
    text = (
        UNIT.read_text(encoding="utf-8")
        .replace("ExecStart=/usr/bin/failover ", f"ExecStart={executable} ", 1)
        .replace("ExecStartPre=/usr/bin/failover ", f"ExecStartPre={executable} ", 1)
    )
    assert f"ExecStart={executable} run --config /etc/failover/failover.toml" in text
    assert f"ExecStartPre={executable} db upgrade --config /etc/failover/failover.toml" in text
    copy = tmp_path / "failover.service"
    copy.write_text(text, encoding="utf-8")
    return copy


def run_analyze(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "notice", "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [systemd_analyze(), *arguments], capture_output=True, text=True, timeout=60, env=env, check=False
    )


class TestSystemdAcceptsTheUnit:
    """systemd-analyze finds nothing wrong with the unit and scores its exposure as OK."""

    def test_verify_passes_without_a_word_about_the_unit(self, tmp_path: Path) -> None:
        result = run_analyze("verify", "--man=no", str(verifiable_copy(tmp_path)))
        # a container may make systemd-analyze talk about other units or itself: only ours counts
        about_the_unit = [
            line for line in (result.stdout + result.stderr).splitlines() if "failover.service" in line
        ]
        assert about_the_unit == []
        assert result.returncode == 0, result.stderr

    def test_a_broken_unit_would_be_caught(self, tmp_path: Path) -> None:
        copy = verifiable_copy(tmp_path)
        copy.write_text(
            copy.read_text(encoding="utf-8").replace("Type=notify", "Type=notifyy"), encoding="utf-8"
        )
        result = run_analyze("verify", "--man=no", str(copy))
        assert any("failover.service" in line for line in result.stderr.splitlines())

    def test_the_exposure_level_stays_ok(self, tmp_path: Path) -> None:
        result = run_analyze(
            "security", "--offline=true", f"--threshold={MAX_EXPOSURE}", str(verifiable_copy(tmp_path))
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr


class TestHardening:
    """The directives the deployment promises are in the unit, with their values."""

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("Type", "notify"),
            ("NotifyAccess", "main"),
            ("WatchdogSec", "30s"),
            ("ExecStart", "/usr/bin/failover run --config /etc/failover/failover.toml"),
            ("ExecReload", "/bin/kill -HUP $MAINPID"),
            ("DynamicUser", "yes"),
            ("StateDirectory", "failover"),
            ("CacheDirectory", "failover"),
            ("CacheDirectoryMode", "0700"),
            ("ConfigurationDirectory", "failover"),
            ("EnvironmentFile", "-/etc/failover/failover.env"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("NoNewPrivileges", "yes"),
            ("CapabilityBoundingSet", ""),
            ("AmbientCapabilities", ""),
            ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
            ("RestrictNamespaces", "yes"),
            ("LockPersonality", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("SystemCallArchitectures", "native"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectKernelLogs", "yes"),
            ("ProtectControlGroups", "yes"),
            ("ProtectClock", "yes"),
            ("ProtectHostname", "yes"),
            ("RestrictRealtime", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("UMask", "0077"),
            ("MemoryMax", "256M"),
            ("TasksMax", "1100"),
            ("LogRateLimitIntervalSec", "30s"),
            ("LogRateLimitBurst", "100000"),
            ("Restart", "on-failure"),
            ("RestartSec", "5s"),
            ("TimeoutStopSec", "15s"),
        ],
    )
    def test_the_directive_is_set_once_to_its_value(self, key: str, value: str) -> None:
        assert service_section().get(key) == [value]

    def test_every_concurrency_the_configuration_allows_has_its_threads(self) -> None:
        """A thread per delivery in flight: the largest ``[notify] concurrency`` the
        configuration accepts, and the daemon's own threads, fit under the unit's limit."""
        text = "[notify]\nconcurrency = {}\n"
        parse_config(text.format(1024), source="failover.toml", env={}, cwd=Path.cwd())
        with pytest.raises(ConfigError, match="concurrency"):
            parse_config(text.format(1025), source="failover.toml", env={}, cwd=Path.cwd())
        assert int(service_section()["TasksMax"][0]) >= 1024 + 64

    def test_system_calls_are_limited_to_a_system_service(self) -> None:
        filters = service_section()["SystemCallFilter"]
        assert filters[0] == "@system-service"
        assert all(extra.startswith("~") for extra in filters[1:]), "later filters may only deny"

    def test_the_credential_example_is_commented_out(self) -> None:
        text = UNIT.read_text(encoding="utf-8")
        assert "#LoadCredential=" in text
        assert "LoadCredential" not in service_section()

    def test_the_unit_starts_after_the_network_and_with_the_system(self) -> None:
        unit = parse_unit(UNIT.read_text(encoding="utf-8"))
        assert unit["Unit"]["After"] == ["network-online.target"]
        assert unit["Unit"]["Wants"] == ["network-online.target"]
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]


class TestEnvironmentExample:
    """The environment example names the API token and holds no secret."""

    def test_every_assignment_is_empty(self) -> None:
        assignments = [
            line
            for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert assignments == ["FAILOVER_API_TOKEN="]

    def test_it_documents_the_optional_variables(self) -> None:
        text = ENV_EXAMPLE.read_text(encoding="utf-8")
        for name in ("PGPASSWORD", "SMTP_PASS", "MASTODON_TOKEN"):
            assert f"#{name}=" in text
