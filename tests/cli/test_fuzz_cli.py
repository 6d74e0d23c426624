"""The command line's durations under fuzzing: ``trigger --hold``, ``incidents --since`` and
``silence --for`` take any text; what is not a duration of at most a hundred years is a
usage error (exit 3) naming the option, never a traceback.

The configuration has everything on 127.0.0.1 (no probe runs: a dry-run trigger, the
journal and a silence only read the file and the database).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from failover.cli import main
from tests.fuzzing import ODD_TEXT, fuzz_settings
from tests.kit import closed_port_socket

EXIT_OK, EXIT_USAGE = 0, 3
#: each command with a duration option, and the option
COMMANDS = {
    "--hold": ["trigger", "whatsapp", "--message", "Call us", "--dry-run", "--yes", "--hold"],
    "--since": ["incidents", "--since"],
    "--for": ["silence", "whatsapp", "--reason", "maintenance", "--for"],
}
durations = st.one_of(
    ODD_TEXT,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.tuples(st.integers(0, 10**20), st.sampled_from(["ms", "s", "m", "h", "d", "y", ""])).map(
        lambda pair: f"{pair[0]}{pair[1]}"
    ),
    st.sampled_from(["1e300", "1e300s", "99999999999d", "36501d", "3000000000000", "1h30m", "60s"]),
)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A configuration whose platform, resolvers, listener and mail server are on 127.0.0.1,
    at a port held closed (nothing is ever probed or delivered)."""
    directory = tmp_path_factory.mktemp("fuzz-cli")
    with closed_port_socket() as closed:
        yield write_config(directory, closed.getsockname()[1])


def write_config(directory: Path, port: int) -> Path:
    path = directory / "failover.toml"
    path.write_text(
        f"""
[catalog]
builtin = false
[daemon]
database_url = "sqlite:///{directory}/failover.db"
listen = "127.0.0.1:{port}"
[probes]
resolvers = ["127.0.0.1:{port}"]
nameservers = ["127.0.0.1:{port}"]
[detection]
control_quorum = 0
[platforms.whatsapp]
family = "meta"
[[platforms.whatsapp.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {port}
[groups.team]
[[contacts]]
name = "Alice"
id = "alice"
groups = ["team"]
[[contacts.channels]]
url = "mailto://127.0.0.1:{port}?from=failover@example.org&to=alice@example.org"
[[routes]]
name = "team"
template = "outage"
events = ["confirmed", "resolved", "manual"]
groups = ["team"]
""",
        encoding="utf-8",
    )
    return path


def run(config_file: Path, option: str, value: str) -> Result:
    return CliRunner().invoke(main, [*COMMANDS[option], value, "--config", str(config_file)])


def assert_ok_or_usage_error(result: Result, option: str) -> None:
    """Success, or a usage error that names the option; never an exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{option}: {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (EXIT_OK, EXIT_USAGE), result.output
    if result.exit_code == EXIT_USAGE:
        assert f"Invalid value for '{option}'" in result.output, result.output


class TestAnyDuration:
    """Whatever text is given as a duration, the command runs or refuses its usage."""

    @pytest.mark.parametrize("option", sorted(COMMANDS))
    def test_fuzzed(self, config_file: Path, option: str) -> None:
        """Random text, numbers of any size and durations in any unit."""

        @fuzz_settings(40, slow_examples=True)
        @given(value=durations)
        def one(value: str) -> None:
            assert_ok_or_usage_error(run(config_file, option, value), option)

        one()

    @pytest.mark.parametrize("option", sorted(COMMANDS))
    @pytest.mark.parametrize("value", ["1e300", "99999999999d", "36501d", "3000000000000", "1e15"])
    def test_longer_than_a_century(self, config_file: Path, option: str, value: str) -> None:
        """Too long to be meant (and to be added to a date): a usage error saying the limit."""
        result = run(config_file, option, value)
        assert_ok_or_usage_error(result, option)
        assert result.exit_code == EXIT_USAGE
        assert "expected a duration of at most 36500d" in result.output

    @pytest.mark.parametrize("option", sorted(COMMANDS))
    def test_a_century_is_accepted(self, config_file: Path, option: str) -> None:
        """The limit itself is a duration the command takes."""
        result = run(config_file, option, "36500d")
        assert (result.exit_code, result.exception) == (EXIT_OK, None), result.output

    @pytest.mark.parametrize("value", ["0", "1e-300", "-1s", "nan"])
    def test_a_silence_needs_a_positive_duration(self, config_file: Path, value: str) -> None:
        """Nothing, less than a microsecond or not a number: a usage error, not a silence."""
        result = run(config_file, "--for", value)
        assert_ok_or_usage_error(result, "--for")
        assert result.exit_code == EXIT_USAGE


@pytest.mark.slow
class TestTheInstalledCommand:
    """The command as an operator types it, in a process of its own."""

    def test_trigger_hold_1e300(self, config_file: Path) -> None:
        """``failover trigger --hold 1e300 --dry-run``: exit 3, one line on stderr, no traceback."""
        process = subprocess.run(
            [sys.executable, "-m", "failover", "trigger", "whatsapp", "-m", "Call us", "--hold", "1e300",
             "--dry-run", "--config", str(config_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "FAILOVER_CONFIG": ""},
            check=False,
        )  # fmt: skip
        assert process.returncode == EXIT_USAGE, process.stderr
        assert "Traceback" not in process.stderr
        assert "Invalid value for '--hold': expected a duration of at most 36500d" in process.stderr
        assert process.stdout == ""
