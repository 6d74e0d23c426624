"""The systemd notification protocol, against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover.sdnotify import (
    READY,
    RELOADING,
    STOPPING,
    WATCHDOG,
    notify,
    status_message,
    watchdog_interval,
)


class FakeSystemd:
    """A bound datagram socket that keeps what the daemon sends, like systemd's notify socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(5)

    def receive(self) -> str:
        return self.sock.recv(4096).decode("utf-8")

    def nothing_pending(self) -> bool:
        self.sock.settimeout(0)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(5)
        return False


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    with fake.sock:
        yield fake


@pytest.fixture
def abstract_systemd() -> Iterator[FakeSystemd]:
    name = f"failover-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("\0" + name)
    fake.address = "@" + name
    with fake.sock:
        yield fake


class TestNotify:
    """notify sends one datagram per call to $NOTIFY_SOCKET, and does nothing outside systemd."""

    @pytest.mark.parametrize("state", [READY, WATCHDOG, STOPPING, RELOADING, status_message("watching 10")])
    def test_each_state_arrives_as_sent(self, systemd: FakeSystemd, state: str) -> None:
        assert notify(state, env={"NOTIFY_SOCKET": systemd.address}) is True
        assert systemd.receive() == state

    def test_several_assignments_go_in_one_datagram(self, systemd: FakeSystemd) -> None:
        state = f"{READY}\n{status_message('watching 10 platforms')}"
        assert notify(state, env={"NOTIFY_SOCKET": systemd.address})
        assert systemd.receive() == "READY=1\nSTATUS=watching 10 platforms"
        assert systemd.nothing_pending()

    def test_the_abstract_namespace_is_spoken(self, abstract_systemd: FakeSystemd) -> None:
        assert notify(READY, env={"NOTIFY_SOCKET": abstract_systemd.address})
        assert abstract_systemd.receive() == READY

    def test_utf8_status_text_arrives_intact(self, systemd: FakeSystemd) -> None:
        assert notify(
            status_message("WhatsApp hors service — 3 avis envoyés"), env={"NOTIFY_SOCKET": systemd.address}
        )
        assert systemd.receive() == "STATUS=WhatsApp hors service — 3 avis envoyés"

    @pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}, {"NOTIFY_SOCKET": "@"}])
    def test_outside_systemd_it_is_a_no_op(self, env: dict[str, str]) -> None:
        assert notify(READY, env=env) is False

    def test_an_address_family_we_do_not_speak_is_a_no_op(self) -> None:
        assert notify(READY, env={"NOTIFY_SOCKET": "vsock:2:1234"}) is False

    def test_a_socket_nobody_listens_on_is_reported_not_raised(self, tmp_path: Path) -> None:
        assert notify(READY, env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False

    def test_an_empty_state_is_not_sent(self, systemd: FakeSystemd) -> None:
        assert notify("", env={"NOTIFY_SOCKET": systemd.address}) is False
        assert systemd.nothing_pending()


class TestStatusMessage:
    """STATUS= is one line, whatever the text."""

    def test_newlines_cannot_smuggle_other_assignments(self) -> None:
        assert status_message("degraded\nREADY=1\n") == "STATUS=degraded READY=1"


class TestWatchdogInterval:
    """The watchdog interval comes from $WATCHDOG_USEC, if it is meant for this process."""

    def test_the_interval_is_in_seconds(self) -> None:
        assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0

    def test_a_pid_of_ours_is_accepted(self) -> None:
        env = {"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": str(os.getpid())}
        assert watchdog_interval(env) == 15.0

    @pytest.mark.parametrize(
        "env",
        [
            {},
            {"WATCHDOG_USEC": "0"},
            {"WATCHDOG_USEC": ""},
            {"WATCHDOG_USEC": "-5"},
            {"WATCHDOG_USEC": "30s"},
            {"WATCHDOG_USEC": "3_000"},
            {"WATCHDOG_USEC": "\u0663\u0660"},
            {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"},
            {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "not-a-pid"},
        ],
    )
    def test_no_interval_without_a_watchdog_for_this_process(self, env: dict[str, str]) -> None:
        if env.get("WATCHDOG_PID") == "1" and os.getpid() == 1:
            pytest.skip("the test runs as PID 1")
        assert watchdog_interval(env) is None
