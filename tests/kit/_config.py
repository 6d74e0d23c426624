"""Configuration fragments and scenarios for loopback tests, so that every test that
drives a platform through an outage describes it the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from failover.testing import DnsServer, HttpTarget

__all__ = [
    "OCT_4_2021",
    "FakeClock",
    "come_back",
    "go_dark",
    "healthy",
    "name_platform",
    "tcp_controls",
    "whatsapp_platform",
]

#: The day Meta's DNS disappeared; a fixed, readable start for fake clocks.
OCT_4_2021 = datetime(2021, 10, 4, 15, 40, tzinfo=UTC)


def whatsapp_platform(*, dns: object, front_door: str, interval: str | None = None) -> str:
    """``[platforms.whatsapp]`` (family meta) with an authoritative DNS check of
    whatsapp.net, a resolver check of web.whatsapp.com (both against ``dns``, a
    ``host:port``) and an HTTP front door at ``front_door`` (a base URL)."""
    interval_line = f'interval = "{interval}"\n' if interval else ""
    return f"""
[platforms.whatsapp]
display_name = "WhatsApp"
family = "meta"
{interval_line}
[[platforms.whatsapp.checks]]
kind = "dns"
name = "authoritative"
qname = "whatsapp.net"
via = "authoritative"
record_types = ["SOA"]
servers = ["{dns}"]
timeout = "1s"

[[platforms.whatsapp.checks]]
kind = "dns"
name = "resolvers"
qname = "web.whatsapp.com"
via = "resolvers"
timeout = "1s"

[[platforms.whatsapp.checks]]
kind = "http"
name = "front-door"
url = "{front_door}/"
timeout = "1s"
"""


def name_platform(
    name: str,
    *,
    display_name: str,
    dns: object,
    door: str,
    family: str | None = None,
    interval: str = "2s",
    via: str = "resolvers",
    dns_timeout: str = "1s",
    http_timeout: str = "2s",
    body_pattern: str | None = None,
) -> str:
    """``[platforms.NAME]`` with an authoritative DNS check of ``NAME.test`` against ``dns``
    (a ``host:port``), a resolver check of ``www.NAME.test`` (``via`` the listed resolvers
    or the probes' system resolver) and an HTTP front door at ``door`` (a full URL)."""
    family_line = f'family = "{family}"\n' if family else ""
    pattern_line = f"body_pattern = '{body_pattern}'\n" if body_pattern else ""
    return f"""
[platforms.{name}]
display_name = "{display_name}"
{family_line}interval = "{interval}"

[[platforms.{name}.checks]]
kind = "dns"
name = "authoritative"
qname = "{name}.test"
via = "authoritative"
record_types = ["SOA"]
servers = ["{dns}"]
timeout = "{dns_timeout}"

[[platforms.{name}.checks]]
kind = "dns"
name = "resolver"
qname = "www.{name}.test"
via = "{via}"
timeout = "{dns_timeout}"

[[platforms.{name}.checks]]
kind = "http"
name = "front-door"
url = "{door}"
timeout = "{http_timeout}"
{pattern_line}"""


def tcp_controls(ports: int | Sequence[int], *, count: int = 3, interval: str | None = None) -> str:
    """``count`` control targets ``control-0`` … each with one TCP check; ``ports`` is one
    port for all of them or one port each."""
    each = [ports] * count if isinstance(ports, int) else list(ports)
    interval_line = f'interval = "{interval}"\n' if interval else ""
    return "".join(
        f"""
[controls.control-{n}]
{interval_line}[[controls.control-{n}.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = {port}
timeout = "1s"
"""
        for n, port in enumerate(each)
    )


def healthy(dns: DnsServer) -> DnsServer:
    """The names :func:`whatsapp_platform` checks answer."""
    dns.set("whatsapp.net", "noerror")
    dns.set("web.whatsapp.com", "noerror")
    return dns


def go_dark(dns: DnsServer, front_door: HttpTarget) -> None:
    """What 4 October 2021 looked like: authoritative and resolver DNS fail, the door is gone."""
    dns.set("whatsapp.net", "servfail")
    dns.set("web.whatsapp.com", "servfail")
    front_door.set("reset")


def come_back(dns: DnsServer, front_door: HttpTarget) -> None:
    healthy(dns)
    front_door.set("ok")


class FakeClock:
    """A clock a test moves by hand (tz-aware UTC), shared by the prober and the judge."""

    def __init__(self, start: datetime = OCT_4_2021) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
