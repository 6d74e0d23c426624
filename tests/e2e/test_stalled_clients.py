"""Clients that open connections to the daemon's API and never finish a request: the
daemon stays alive and keeps telling people. It raises its soft limit of open files to the
hard one, so the probes, the database and the outbox find a descriptor, and it closes a
connection on which no request got under way after ``HTTP_IDLE_TIMEOUT_S``."""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from failover.api import HTTP_IDLE_TIMEOUT_S
from tests.e2e.conftest import WAIT_S, Daemon, wait_until
from tests.kit import World

pytestmark = pytest.mark.slow

#: more stalled clients than the usual soft limit of open files (1,024)
STALLED = 1_100
#: the soft limit of open files the daemon is started with, the usual one
SOFT = 1_024


@contextlib.contextmanager
def open_files_limit(soft: int) -> Iterator[None]:
    """This process's soft limit of open files raised to ``soft`` (the stalled clients'
    sockets are ours too), then put back."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    if before[1] != resource.RLIM_INFINITY and before[1] < soft:
        pytest.fail(f"this machine's hard limit of open files ({before[1]}) is under {soft}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def soft_limit_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no 'Max open files' line")


def open_files_of(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def start_limited(config: Path, log: Path) -> Daemon:
    """A daemon started with the usual soft limit of 1,024 open files (it inherits ours)."""
    with open_files_limit(SOFT):
        return Daemon(config, log)


def test_stalled_clients_neither_kill_the_daemon_nor_silence_it(world: World, tmp_path: Path) -> None:
    daemon = start_limited(world.write_config(), tmp_path / "limited.log")
    stalled: list[socket.socket] = []
    try:
        daemon.wait_ready(world.api)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        assert hard > STALLED, f"this machine's hard limit of open files ({hard}) is too low"
        assert soft_limit_of(daemon.process.pid) == (65_536 if hard == resource.RLIM_INFINITY else hard)
        with open_files_limit(STALLED + 512):
            for _ in range(STALLED):
                client = socket.create_connection(("127.0.0.1", world.api_port), timeout=5)
                client.sendall(b"POST /api/v1/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                stalled.append(client)
            # the daemon, its file descriptors taken by nobody, goes on: an outage is told
            world.go_dark()
            world.smtp.wait_for(2, timeout=WAIT_S)
            assert daemon.process.poll() is None, daemon.text()[-3000:]
            # the daemon closes the connections on which no request got under way, while
            # their clients still hold them open, and answers again
            wait_until(
                "the stalled connections to be closed",
                lambda: open_files_of(daemon.process.pid) < STALLED // 4,
                timeout=WAIT_S + HTTP_IDLE_TIMEOUT_S * 3,
                log=daemon.log,
            )
            assert httpx.get(f"{world.api}/healthz", timeout=5).status_code == 200
            closed = 0
            for client in stalled:
                client.settimeout(5)
                with contextlib.suppress(OSError):
                    closed += client.recv(64) == b""
            assert closed == STALLED
        assert daemon.stop() == 0
    finally:
        for client in stalled:
            client.close()
        daemon.kill()
