"""Tell systemd how the daemon is doing (``Type=notify``, ``WatchdogSec=``), without libsystemd.

The protocol is one datagram of newline-separated ``KEY=value`` assignments sent to the unix
socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace). Outside
systemd the variable is unset and every call is a no-op. The environment is passed in: the
service hands over ``os.environ`` at its edge.

    notify(READY, env=os.environ)                       # start-up finished
    notify(status_message("watching 10 platforms"), env=os.environ)
    interval = watchdog_interval(os.environ)            # ping WATCHDOG at least every interval / 2
    notify(STOPPING, env=os.environ)                    # shutdown began
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["READY", "RELOADING", "STOPPING", "WATCHDOG", "notify", "status_message", "watchdog_interval"]

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"
#: ``Type=notify`` units may send it when a reload (SIGHUP) begins, then READY when done
RELOADING = "RELOADING=1"

#: A send to a busy systemd blocks at most this long, then the notification is given up.
_SEND_TIMEOUT_S = 1.0


def status_message(text: str) -> str:
    """``STATUS=text`` on one line, as ``systemctl status`` shows it."""
    return "STATUS=" + " ".join(text.split())


def _address(value: str) -> str | None:
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # the abstract namespace
    if value.startswith("/"):
        return value
    return None  # e.g. vsock: addresses (systemd >= 254 for VMs), which we do not speak


def notify(state: str, *, env: Mapping[str, str]) -> bool:
    """Send ``state`` (e.g. ``READY=1``, or several assignments joined by newlines) to
    ``$NOTIFY_SOCKET``. True if the datagram was sent; False if the variable is unset or
    unusable or the send failed, which the caller may log but never needs to fail over."""
    address = _address(env.get("NOTIFY_SOCKET", ""))
    if address is None or not state:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(state.encode("utf-8"), address)
    except OSError:
        return False
    return True


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds systemd waits for a ``WATCHDOG=1`` before it considers the daemon hung (from
    ``$WATCHDOG_USEC``); None when no watchdog is set up for this process (``$WATCHDOG_PID``,
    when set, must be ours). Ping at least twice per interval."""
    usec = _decimal(env.get("WATCHDOG_USEC"))
    if not usec:
        return None
    if "WATCHDOG_PID" in env and _decimal(env["WATCHDOG_PID"]) != os.getpid():
        return None
    return usec / 1_000_000


def _decimal(text: str | None) -> int | None:
    """A plain ASCII decimal number, else None (``int()`` would also take ``" 1_0"`` or ``"٣"``)."""
    if text is None or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
