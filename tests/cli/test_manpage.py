"""failover(1): the manual page is generated from the CLI, and man and groff read it cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.cli._manpage import escape, render_man_page


def debian_tool(name: str) -> str:
    """The program's path; on CI (``CI=true``) its absence fails the test, elsewhere skips it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required on CI (Debian packages man-db, groff-base)")
        pytest.skip(f"{name} not installed (Debian packages man-db, groff-base)")
    return path


def visible_commands(group: click.Group, prefix: str = "failover") -> Iterator[str]:
    """The path of every command ``--help`` shows, nested groups walked."""
    ctx = click.Context(group, info_name=prefix.rsplit(" ", 1)[-1])
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from visible_commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = CliRunner().invoke(main, ["man"])
    assert result.exit_code == 0, result.output
    path = tmp_path_factory.mktemp("man") / "failover.1"
    path.write_text(result.stdout, encoding="utf-8")
    return path


class TestGenerated:
    """The page is the CLI's own help, laid out as man pages are."""

    def test_every_command_has_its_section(self, page: Path) -> None:
        text = page.read_text(encoding="utf-8")
        commands = list(visible_commands(main))
        assert "failover check" in commands
        assert "failover config validate" in commands
        for command in commands:
            assert f'.SS "{command} ' in text, command

    def test_the_sections_a_reader_looks_for(self, page: Path) -> None:
        text = page.read_text(encoding="utf-8")
        headings = [line for line in text.splitlines() if line.startswith(".SH ")]
        assert headings == [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH OPTIONS",
            ".SH COMMANDS",
            ".SH EXIT STATUS",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH SHELL COMPLETION",
            ".SH SEE ALSO",
        ]
        assert text.startswith(".TH FAILOVER 1 ")

    def test_the_command_is_hidden_from_help(self) -> None:
        result = CliRunner().invoke(main, ["--help"])
        assert result.exit_code == 0
        assert " man " not in result.stdout

    def test_the_same_cli_gives_the_same_page(self) -> None:
        """No date, no path: the page is reproducible."""
        assert render_man_page(main) == render_man_page(main)

    @pytest.mark.parametrize(
        ("text", "escaped"),
        [
            ("a\\b", "a\\eb"),
            ("5 \u2014 6", "5 \\(em 6"),
            ("wait\u2026", "wait\\&..."),
        ],
    )
    def test_troff_escapes(self, text: str, escaped: str) -> None:
        assert escape(text) == escaped


class TestRendered:
    """Debian's groff and man read the page without a warning."""

    def test_groff_has_nothing_to_say(self, page: Path) -> None:
        groff = debian_tool("groff")
        result = subprocess.run(
            [groff, "-man", "-ww", "-z", "-k", "-Tutf8", str(page)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""

    def test_man_shows_the_commands_and_the_exit_status(self, page: Path) -> None:
        man = debian_tool("man")
        result = subprocess.run(
            [man, "-l", "-P", "cat", str(page)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "MANWIDTH": "100", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""},
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        text = result.stdout
        assert "failover check [OPTIONS] [PLATFORMS]..." in text
        assert "EXIT STATUS" in text
        assert "--nagios" in text
        assert "_FAILOVER_COMPLETE=bash_source failover" in text
        assert "\\" not in text  # no troff escape left unread
