"""`failover config validate|show|init`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from failover.cli import main
from failover.config import parse_config, starter_config
from failover.logs import configure_logging, get_logger
from tests.config.test_config import EXAMPLE, LOCAL, WITH_SECRETS, secrets_env

SECRET = "s3cret-token-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Commands run in an empty directory with no $FAILOVER_CONFIG of the machine."""
    monkeypatch.delenv("FAILOVER_CONFIG", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class TestValidate:
    """`config validate` prints one 'ok' line, or one error line and exits 1."""

    def test_example(self, tmp_path: Path) -> None:
        """The documented example is valid."""
        result = invoke("config", "validate", str(EXAMPLE), env={})
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("ok: 10 platforms, 5 controls, 2 contacts")

    def test_local(self) -> None:
        """The loopback configuration is valid."""
        result = invoke("config", "validate", str(LOCAL))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("ok: 5 platforms, 3 controls, 2 contacts")

    def test_built_in_when_no_file(self) -> None:
        """Without a file anywhere, the built-in default is validated."""
        result = invoke("config", "validate")
        assert result.exit_code == 0, result.output
        assert "(built-in)" in result.stdout

    def test_follows_the_search_order(self, tmp_path: Path) -> None:
        """Without PATH, $FAILOVER_CONFIG (then ./failover.toml) is validated."""
        write(tmp_path / "failover.toml", "[daemon]\nlisten = 'host:port'\n")
        named = write(
            tmp_path / "named.toml", "[catalog]\nbuiltin = false\n[detection]\ncontrol_quorum = 0\n"
        )
        result = invoke("config", "validate", env={"FAILOVER_CONFIG": str(named)})
        assert result.exit_code == 0, result.output
        assert "ok: 0 platforms" in result.stdout
        result = invoke("config", "validate")
        assert result.exit_code == 1
        assert "failover.toml: daemon.listen: expected a port" in result.stderr

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "[platforms.facebook]\nintervall = '5s'\n",
                "platforms.facebook: unknown key 'intervall'",
                id="typo",
            ),
            pytest.param(
                "[probes]\nconcurrency = 'many'\n",
                "probes.concurrency: Input should be a valid integer",
                id="type",
            ),
            pytest.param(
                "[daemon]\napi_token = '${env:FAILOVER_TEST_UNSET}'\n",
                "daemon.api_token: environment variable 'FAILOVER_TEST_UNSET' is not set",
                id="missing-env",
            ),
            pytest.param(
                "[daemon]\napi_token = '${file:/nonexistent/failover/token}'\n",
                "daemon.api_token: cannot read secret file '/nonexistent/failover/token'",
                id="unreadable-file",
            ),
            pytest.param("[daemon]\nlisten = = 1\n", ":2: ", id="syntax"),
            pytest.param(
                "[groups.team]\n[[contacts]]\nname = 'A'\ngroups = ['staff']\n[[contacts.channels]]\nurl = 'mailto://h?to=b@example.org'\n",
                "contacts[0].groups[0]: unknown group 'staff'",
                id="unknown-group",
            ),
            pytest.param(
                "[channels.pub]\nurl = 'json://127.0.0.1/'\nvisibility = 'public'\n"
                "[templates.t]\nen = { subject = 's', body = 'b' }\n"
                "[[routes]]\nname = 'r'\ntemplate = 't'\nchannels = ['pub']\n",
                "routes[0].channels[0]: public channel 'pub' may not receive private template 't'",
                id="private-to-public",
            ),
        ],
    )
    def test_errors_are_one_line(self, tmp_path: Path, text: str, expected: str) -> None:
        """Each mistake exits 1 with one line on stderr naming the key or the line."""
        path = write(tmp_path / "bad.toml", text)
        result = invoke("config", "validate", str(path))
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"failover: {path}")
        assert expected in lines[0]

    def test_missing_file(self, tmp_path: Path) -> None:
        """A PATH that does not exist is an error, not a fallback to the built-in default."""
        result = invoke("config", "validate", str(tmp_path / "absent.toml"))
        assert result.exit_code == 1
        assert "not found" in result.stderr


class TestShow:
    """`config show` prints the resolved configuration without a single secret."""

    def test_json(self, tmp_path: Path) -> None:
        """--json prints plain JSON of the merged configuration, secrets redacted."""
        env = secrets_env(tmp_path)
        result = invoke("config", "show", "--config", str(WITH_SECRETS), "--json", env=env)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["daemon"]["api_token"] == "***"
        assert "facebook" in {p["name"] for p in data["platforms"]}
        for name in ("SMTP_PASS", "FAILOVER_API_TOKEN", "MASTODON_TOKEN", "ALICE_PHONE", "ALICE_EMAIL"):
            assert env[name] not in result.stdout

    @pytest.mark.slow
    def test_pretty(self, tmp_path: Path) -> None:
        """Without --json the same data is shown for people."""
        env = secrets_env(tmp_path)
        result = invoke("config", "show", "--config", str(WITH_SECRETS), env=env)
        assert result.exit_code == 0, result.output
        assert "mastodons://***" in result.stdout
        assert env["MASTODON_TOKEN"] not in result.stdout

    def test_no_secret_in_logs(self, tmp_path: Path) -> None:
        """Neither a shown configuration nor a failing load leaks a secret into logs or output."""
        stream = io.StringIO()
        redactor = configure_logging(level="debug", stream=stream)
        redactor.add_secrets([SECRET])
        good = write(
            tmp_path / "good.toml",
            "[daemon]\napi_token = '${env:FAILOVER_TEST_TOKEN}'\n"
            "[[contacts]]\nname = 'A'\n[[contacts.channels]]\n"
            "url = 'mailtos://u:${env:FAILOVER_TEST_TOKEN}@smtp.example.org?to=a@example.org'\n",
        )
        bad = write(
            tmp_path / "bad.toml", good.read_text() + "[probes]\nconcurrency = '${env:FAILOVER_TEST_TOKEN}'\n"
        )
        env = {"FAILOVER_TEST_TOKEN": SECRET}
        shown = invoke("config", "show", "--config", str(good), "--json", env=env)
        failed = invoke("config", "show", "--config", str(bad), env=env)
        assert shown.exit_code == 0
        assert failed.exit_code == 1
        try:
            raise_error_from(failed.stderr)
        except RuntimeError:
            get_logger("failover.cli").exception("config_invalid", detail=f"token {SECRET}")
        everything = stream.getvalue() + shown.output + failed.output
        assert "config_invalid" in stream.getvalue()
        assert SECRET not in everything
        assert "a@example.org" not in shown.output


def raise_error_from(message: str) -> None:
    raise RuntimeError(message)


class TestInit:
    """`config init` writes a starter file and never overwrites one."""

    def test_writes_a_valid_starter(self, tmp_path: Path) -> None:
        """The default target is ./failover.toml, and the result validates."""
        result = invoke("config", "init")
        assert result.exit_code == 0, result.output
        written = (tmp_path / "failover.toml").read_text()
        assert written == starter_config()
        parse_config(written, source="failover.toml", env={}, cwd=tmp_path)
        assert invoke("config", "validate").exit_code == 0

    def test_explicit_path(self, tmp_path: Path) -> None:
        """A PATH argument chooses where to write."""
        result = invoke("config", "init", str(tmp_path / "custom.toml"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "custom.toml").exists()

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        """An existing file is kept and the command exits 1."""
        existing = write(tmp_path / "failover.toml", "# mine\n")
        result = invoke("config", "init")
        assert result.exit_code == 1
        assert "already exists" in result.stderr
        assert existing.read_text() == "# mine\n"
