"""End-to-end: the daemon runs as a subprocess (``failover run``) against the test kit's
loopback servers; tests drive it with signals, the CLI and HTTP, and read the SMTP sink.

Every child process is killed in a ``finally``; every wait is bounded and says what it
waited for, with the tail of the daemon's log, when it gives up.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.kit import free_port

#: how long any one thing may take before a test gives up on it (generous: CI machines)
WAIT_S = 90.0


def failover_command() -> list[str]:
    """The installed ``failover`` script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("failover")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "failover"]


def wait_until(
    what: str, predicate: Callable[[], bool], *, timeout: float = WAIT_S, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = "\n--- daemon log (tail) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    pytest.fail(f"gave up after {timeout:g} s waiting for {what}{tail}")


class Daemon:
    """``failover run`` as a child process, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            [*failover_command(), "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env={**os.environ, "NO_COLOR": "1"},
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, pattern: str, *, timeout: float = WAIT_S) -> None:
        wait_until(
            f"{pattern!r} in the daemon's log",
            lambda: re.search(pattern, self.text()) is not None,
            timeout=timeout,
            log=self.log,
        )

    def wait_ready(self, api: str) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the daemon exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            try:
                return httpx.get(f"{api}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the daemon to be ready (/readyz 200)", ready, log=self.log)

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def stop(self, *, timeout: float = WAIT_S) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit within {timeout:g} s of SIGTERM:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    """Start ``failover run`` on a config; every daemon started is killed at the end."""
    started: list[Daemon] = []

    def start(config: Path) -> Daemon:
        daemon = Daemon(config, tmp_path / f"daemon-{len(started)}.log")
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.kill()


def run_cli(*args: str, config: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """One ``failover`` command, to completion (bounded)."""
    return subprocess.run(
        [*failover_command(), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        check=False,
    )


class Prometheus:
    """A real Prometheus server as a child process: its data in a temporary directory,
    listening on 127.0.0.1 only, its log in a file."""

    def __init__(self, binary: str, config: Path, data: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, *, timeout: float = WAIT_S) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("prometheus to be ready (/-/ready 200)", ready, timeout=timeout, log=self.log)

    def api(self, path: str, **params: str) -> dict[str, object]:
        """``GET /api/v1/<path>``: the decoded JSON body, whatever the status code (a query
        that does not parse answers 400 with ``"status": "error"``)."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        body: dict[str, object] = response.json()
        return body

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[str, Path], Prometheus]]:
    """Start ``prometheus`` (binary, configuration file) with its data under ``tmp_path``;
    every one started is stopped at the end."""
    started: list[Prometheus] = []

    def start(binary: str, config: Path) -> Prometheus:
        n = len(started)
        server = Prometheus(
            binary, config, tmp_path / f"prometheus-data-{n}", tmp_path / f"prometheus-{n}.log"
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()
