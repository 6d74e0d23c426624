"""Compiled templates kept on disk, so that a new process does not compile them again.

Compiling the notice templates and the status page's costs a new process about 100 ms of
CPU (Jinja parses each source, generates Python and compiles it), paid by a daemon's first
status page build and by every command that renders a notice. Jinja's bytecode cache keeps
the compiled code in a directory: systemd's ``CacheDirectory=`` (``$CACHE_DIRECTORY``),
else ``$XDG_CACHE_HOME/failover``, else ``~/.cache/failover``.

What is loaded from there is executed, so the directory must be ours and writable by
nobody else (as Jinja checks its own default directory); anything else and nothing is
cached. The cache is only a saving: a file that cannot be written (a full disk, a
read-only file system) or read (a truncated or foreign file) is compiled anew, never an
error. A cached file is named after the source's hash, failover's version and the
environment (see :func:`install_template_cache`), and Jinja refuses code of another
Python or Jinja version.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import jinja2

import failover
from failover.notify import use_bytecode_cache as use_notice_cache
from failover.status_page import use_bytecode_cache as use_page_cache

__all__ = ["TemplateCache", "install_template_cache", "template_cache_directory"]


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file system cache, which never fails a render: a file that cannot be read
    or written is a miss."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - pickle and marshal raise what a foreign or cut file makes them
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            # a full disk or a read-only directory: the template is compiled; only the saving is lost
            return


def _ours(path: Path) -> bool:
    """A directory owned by this user, writable by nobody else, and not a link."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def template_cache_directory(env: Mapping[str, str]) -> Path | None:
    """Where compiled templates are kept, created if need be; None when there is no safe
    place (no home, a directory someone else may write to)."""
    cache = env.get("CACHE_DIRECTORY", "").split(":")[0]
    if cache:
        base = Path(cache)
    elif env.get("XDG_CACHE_HOME"):
        base = Path(env["XDG_CACHE_HOME"]) / "failover"
    elif env.get("HOME"):
        base = Path(env["HOME"]) / ".cache" / "failover"
    else:
        return None
    directory = base / "templates"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return directory if _ours(base) and _ours(directory) else None


def install_template_cache(env: Mapping[str, str]) -> Path | None:
    """Keep the compiled notice and page templates in :func:`template_cache_directory`
    from now on (nothing is kept when it gives None); where they are kept."""
    directory = template_cache_directory(env)
    if directory is None:
        use_notice_cache(None)
        use_page_cache(None)
        return None
    version = failover.__version__
    use_notice_cache(TemplateCache(str(directory), f"notice-{version}-%s.cache"))
    use_page_cache(TemplateCache(str(directory), f"page-{version}-%s.cache"))
    return directory
