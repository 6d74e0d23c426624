"""The command line's front door."""

from click.testing import CliRunner

from failover import __version__
from failover.cli import main


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
