"""The README's systemd install steps leave a configuration the unit's ``DynamicUser`` can
read: the steps are run as written (``/etc/failover`` moved into a temporary directory, root's
strictest umask), then the configuration is read as an unprivileged user, as systemd's
dynamic user would."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FAILOVER = str(Path(sys.executable).with_name("failover"))
#: the uid and gid of ``nobody``: any user but root stands for the dynamic user
NOBODY = "65534"


def install_steps() -> list[list[str]]:
    """The commands of the README's systemd block that prepare /etc/failover, as argv lists."""
    section = README.read_text(encoding="utf-8").split("## Deployment (systemd)", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no shell block in the README's systemd section"
    steps = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words and "/etc/failover" in " ".join(words) and words[0] in {"install", "chmod", "failover"}:
            steps.append(words)
    return steps


@pytest.fixture
def etc() -> Iterator[Path]:
    """A stand-in for /etc: a directory everyone may traverse, as /etc is."""
    path = Path(tempfile.mkdtemp(prefix="failover-etc-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def run_steps(etc: Path) -> None:
    for words in install_steps():
        argv = [word.replace("/etc/failover", str(etc / "failover")) for word in words]
        if argv[0] == "failover":
            argv[0] = FAILOVER
        if argv[:2] == [FAILOVER, "config"] and argv[2] == "validate":
            continue  # checked below, as the dynamic user
        subprocess.run(
            argv, cwd=ROOT, check=True, capture_output=True, timeout=60, preexec_fn=lambda: os.umask(0o077)
        )


@pytest.mark.slow
class TestInstallSteps:
    def test_the_steps_create_the_directory_the_file_and_the_secrets(self) -> None:
        joined = [" ".join(words) for words in install_steps()]
        assert any(line.startswith("install -d -m 0755 /etc/failover") for line in joined), joined
        assert "failover config init /etc/failover/failover.toml" in joined
        assert "chmod 0644 /etc/failover/failover.toml" in joined

    def test_modes_let_any_user_read_the_configuration_but_not_the_secrets(self, etc: Path) -> None:
        run_steps(etc)
        directory, config, env = (
            etc / "failover",
            etc / "failover" / "failover.toml",
            etc / "failover" / "failover.env",
        )
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755
        assert stat.S_IMODE(config.stat().st_mode) == 0o644
        assert stat.S_IMODE(env.stat().st_mode) == 0o600  # systemd reads it as root

    def test_an_unprivileged_user_reads_and_validates_it(self, etc: Path) -> None:
        if os.geteuid() != 0:
            pytest.skip("switching to another user needs root (CI runs as root)")
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is missing")
        run_steps(etc)
        as_nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        config = etc / "failover" / "failover.toml"
        read = subprocess.run([*as_nobody, "cat", str(config)], capture_output=True, timeout=60, check=False)
        assert read.returncode == 0, read.stderr
        secrets = subprocess.run(
            [*as_nobody, "cat", str(etc / "failover" / "failover.env")],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert secrets.returncode != 0  # the environment file stays root's
        validate = subprocess.run(
            [*as_nobody, FAILOVER, "config", "validate", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd="/",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
        )
        assert validate.returncode == 0, validate.stdout + validate.stderr
        assert validate.stdout.startswith("ok: ")
