"""Compiled templates kept on disk: a new process loads them instead of compiling again,
and a cache that cannot be trusted, read or written never changes what is rendered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest
from click.testing import CliRunner

from failover.cli import main
from failover.config import parse_config
from failover.notify import BUILTIN_TEMPLATES, use_bytecode_cache
from failover.service import install_template_cache
from failover.service._template_cache import template_cache_directory
from failover.status_page import use_bytecode_cache as use_page_cache
from failover.store import Store
from tests.notify.test_render import render
from tests.status_page.test_privacy import ENV, NOW, config_text, write_journal


@pytest.fixture(autouse=True)
def _no_cache_after() -> Iterator[None]:
    """Each test installs its own cache; the rest of the suite compiles in memory."""
    yield
    use_bytecode_cache(None)
    use_page_cache(None)


def cached_files(directory: Path, prefix: str) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.startswith(prefix))


def never_parse(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a template was compiled although the cache holds it")


def outage_texts() -> list[str]:
    notices = [render(BUILTIN_TEMPLATES["outage"], language=language) for language in ("fr", "en")]
    return [f"{n.subject}\n{n.body}" for n in notices]


class TestNotices:
    def test_a_new_process_reads_what_an_earlier_one_compiled(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first render writes the compiled template; once the process's own memory
        is gone (as in a new process), the same text comes from the file: Jinja's parser
        is never called."""
        directory = install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})
        assert directory == tmp_path / "failover" / "templates"
        first = outage_texts()
        assert cached_files(directory, "notice-")
        install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})  # forgets what is in memory
        monkeypatch.setattr(jinja2.Environment, "_parse", never_parse)
        assert outage_texts() == first

    def test_cut_or_foreign_files_are_compiled_anew(self, tmp_path: Path) -> None:
        """A file cut short, emptied, or holding something else: the text is the same."""
        directory = install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})
        assert directory is not None
        first = outage_texts()
        files = cached_files(directory, "notice-")
        magic = jinja2.bccache.bc_magic
        for index, path in enumerate(files):
            whole = path.read_bytes()
            path.write_bytes([b"", whole[: len(whole) // 2], magic + b"\x80garbage", b"not jinja"][index % 4])
        install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})
        assert outage_texts() == first

    def test_a_full_disk_loses_the_saving_not_the_notice(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def disk_full(*_args: object) -> None:
            raise OSError(28, "No space left on device")

        directory = install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})
        assert directory is not None
        expected = outage_texts()
        for path in cached_files(directory, "notice-"):
            path.unlink()
        install_template_cache({"XDG_CACHE_HOME": str(tmp_path)})
        monkeypatch.setattr(jinja2.bccache.Bucket, "write_bytecode", disk_full)
        assert outage_texts() == expected
        assert not [p for p in directory.iterdir() if p.name.startswith("notice-")]


class TestWhere:
    def test_systemd_cache_directory_first(self, tmp_path: Path) -> None:
        env = {"CACHE_DIRECTORY": str(tmp_path / "unit"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
        (tmp_path / "unit").mkdir(mode=0o700)
        assert template_cache_directory(env) == tmp_path / "unit" / "templates"

    def test_home_when_nothing_else_says(self, tmp_path: Path) -> None:
        expected = tmp_path / ".cache" / "failover" / "templates"
        assert template_cache_directory({"HOME": str(tmp_path)}) == expected

    def test_no_home_no_cache(self) -> None:
        assert template_cache_directory({}) is None
        assert install_template_cache({}) is None
        assert outage_texts()  # rendered in memory

    @pytest.mark.parametrize("mode", [0o770, 0o777, 0o702])
    def test_a_directory_others_may_write_to_is_not_used(self, tmp_path: Path, mode: int) -> None:
        """Code loaded from the cache is executed: a directory another user may write to
        could hold theirs."""
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(mode)
        assert template_cache_directory({"CACHE_DIRECTORY": str(shared)}) is None

    def test_a_link_is_not_followed(self, tmp_path: Path) -> None:
        real = tmp_path / "real"
        real.mkdir(mode=0o700)
        (tmp_path / "link").symlink_to(real)
        assert template_cache_directory({"CACHE_DIRECTORY": str(tmp_path / "link")}) is None

    def test_a_file_in_the_way(self, tmp_path: Path) -> None:
        (tmp_path / "failover").write_text("not a directory")
        assert template_cache_directory({"XDG_CACHE_HOME": str(tmp_path)}) is None


def test_status_page_built_twice_compiles_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``failover status-page build`` compiles the page's templates into the cache; the
    next build (a new process, as a daemon's start) loads them and writes the same site."""
    path = tmp_path / "failover.toml"
    path.write_text(config_text(tmp_path))
    config = parse_config(path.read_text(), source=str(path), env=ENV, cwd=tmp_path)
    with Store.open(config.daemon.database_url) as store:
        store.upgrade()
        store.record_platforms(config.platforms, now=NOW - timedelta(days=30))
        write_journal(store)
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def build(to: str) -> dict[str, bytes]:
        arguments = ["status-page", "build", "--to", str(tmp_path / to), "-c", str(path)]
        result = CliRunner().invoke(main, arguments, env=env)
        assert result.exit_code == 0, result.output
        site = tmp_path / to
        return {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}

    first = build("one")
    directory = tmp_path / "cache" / "failover" / "templates"
    assert {"page-", "notice-"} <= {p.name.split("-")[0] + "-" for p in directory.iterdir()}
    use_bytecode_cache(None)
    use_page_cache(None)  # what a new process remembers
    monkeypatch.setattr(jinja2.Environment, "_parse", never_parse)
    second = build("two")
    assert second.keys() == first.keys()
    assert os.listdir(directory)
