"""Name lookups that cannot hang the process: silent name servers, hosts files, outcomes.

Every test resolves through the kit's DNS server on 127.0.0.1 (the prober's "system"
resolver), never through the machine's own configuration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from failover.domain import CONTROL_FAMILY, CheckKind, HttpCheck, Outcome, Platform, TcpCheck, TlsCheck
from failover.probes import Prober
from failover.probes._dns import SystemResolver
from failover.probes._lookup import NameLookup, NameLookupError, read_hosts
from tests.kit import DnsServer, HttpTarget
from tests.probes.conftest import USER_AGENT, utc_now

#: hung lookups started at once against a silent name server (each holds one UDP socket)
HUNG = 300


def _kit_prober(dns_server: DnsServer) -> Prober:
    return Prober(user_agent=USER_AGENT, clock=utc_now, system_nameservers=[dns_server.endpoint])


def _http(name: str, url: str, *, timeout_s: float) -> HttpCheck:
    return HttpCheck(name=name, url=url, timeout_s=timeout_s)


async def test_hundreds_of_hung_lookups_do_not_delay_a_healthy_one(
    dns_server: DnsServer, http_target: HttpTarget
) -> None:
    # The event loop's getaddrinfo would park every one of these in a thread; then the
    # healthy lookup queues behind them and times out although its server answers at once.
    dns_server.set("dark.example", "silent")
    dns_server.set("healthy.example", "noerror")
    async with Prober(
        user_agent=USER_AGENT,
        clock=utc_now,
        concurrency=HUNG + 1,
        system_nameservers=[dns_server.endpoint],
    ) as prober:
        hung = [
            asyncio.create_task(
                prober.probe(
                    target="dark",
                    check=_http(f"door-{n}", f"http://dark.example:{http_target.port}/", timeout_s=8.0),
                )
            )
            for n in range(HUNG)
        ]
        await asyncio.sleep(0.2)  # every hung lookup is out before the healthy one starts
        healthy = await prober.probe(
            target="healthy",
            check=_http("door", f"http://healthy.example:{http_target.port}/", timeout_s=4.0),
        )
        assert healthy.outcome is Outcome.ok, healthy.detail
        assert not any(task.done() for task in hung), "the hung lookups were not hanging"
        for task in hung:
            task.cancel()
        await asyncio.gather(*hung, return_exceptions=True)


async def test_a_control_never_waits_for_the_platforms_concurrency_slots(
    dns_server: DnsServer, http_target: HttpTarget
) -> None:
    dns_server.set("dark.example", "silent")
    dns_server.set("control.example", "noerror")
    dark = Platform(
        name="facebook",
        display_name="Facebook",
        family="meta",
        checks=tuple(
            _http(f"door-{n}", f"http://dark.example:{http_target.port}/", timeout_s=8.0) for n in range(8)
        ),
    )
    control = Platform(
        name="control-0",
        display_name="control-0",
        family=CONTROL_FAMILY,
        checks=(_http("http", f"http://control.example:{http_target.port}/", timeout_s=4.0),),
    )
    async with Prober(
        user_agent=USER_AGENT, clock=utc_now, concurrency=4, system_nameservers=[dns_server.endpoint]
    ) as prober:
        platforms = asyncio.create_task(prober.probe_platforms([dark]))
        await asyncio.sleep(0.2)  # the dark platform holds every one of the 4 slots
        (observation,) = await prober.probe_platforms([control])
        assert observation.outcome is Outcome.ok, observation.detail
        assert not platforms.done()
        platforms.cancel()
        with pytest.raises(asyncio.CancelledError):
            await platforms


@pytest.mark.slow
async def test_a_silent_name_server_is_a_dns_timeout_within_the_lookup_timeout(
    dns_server: DnsServer, http_target: HttpTarget
) -> None:
    dns_server.set("dark.example", "silent")
    async with Prober(
        user_agent=USER_AGENT,
        clock=utc_now,
        system_nameservers=[dns_server.endpoint],
        lookup_timeout_s=0.5,
    ) as prober:
        http = await prober.probe(
            target="dark", check=_http("door", f"http://dark.example:{http_target.port}/", timeout_s=30.0)
        )
        tcp = await prober.probe(
            target="dark",
            check=TcpCheck(name="tcp", host="dark.example", port=http_target.port),
        )
        tls = await prober.probe(
            target="dark",
            check=TlsCheck(name="tls", host="dark.example", port=http_target.port),
        )
    for observation in (http, tcp, tls):
        assert observation.outcome is Outcome.dns_timeout, observation
        assert "dark.example" in observation.detail
    # the 30 s HTTP timeout was not waited for: the lookup gave up first
    assert http.latency_s is not None
    assert http.latency_s < 30.0


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("nxdomain", Outcome.dns_nxdomain),
        ("servfail", Outcome.dns_servfail),
        ("refused", Outcome.dns_refused),
    ],
)
async def test_a_failed_lookup_is_reported_as_the_dns_outcome_it_is(
    dns_server: DnsServer, http_target: HttpTarget, mode: str, outcome: Outcome
) -> None:
    dns_server.set("broken.example", mode)  # type: ignore[arg-type]
    async with Prober(
        user_agent=USER_AGENT, clock=utc_now, system_nameservers=[dns_server.endpoint]
    ) as prober:
        observation = await prober.probe(
            target="broken", check=_http("door", f"http://broken.example:{http_target.port}/", timeout_s=5.0)
        )
    assert observation.kind is CheckKind.http
    assert observation.outcome is outcome, observation.detail


async def test_the_url_host_name_reaches_the_server_as_the_host_header(
    dns_server: DnsServer, http_target: HttpTarget
) -> None:
    dns_server.set("www.facebook.example", "noerror")
    async with Prober(
        user_agent=USER_AGENT, clock=utc_now, system_nameservers=[dns_server.endpoint]
    ) as prober:
        observation = await prober.probe(
            target="facebook",
            check=_http("door", f"http://www.facebook.example:{http_target.port}/", timeout_s=5.0),
        )
    assert observation.outcome is Outcome.ok, observation.detail
    assert http_target.requests[-1].headers["host"] == f"www.facebook.example:{http_target.port}"
    assert observation.secure is False  # an http:// door: its cause will say HTTP, not HTTPS


async def test_a_name_with_only_an_ipv6_address_is_reached_over_ipv6(dns_server: DnsServer) -> None:
    dns_server.set("six.example", "noerror", addresses=["::1"])
    lookup = NameLookup(SystemResolver([dns_server.endpoint]), hosts=dict)
    assert await lookup.addresses("six.example") == ["::1"]


async def test_the_hosts_file_is_read_before_any_name_server(dns_server: DnsServer, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "# pinned by the operator\n127.0.0.1\tlocalhost pinned.example  # trailing\n::1 localhost\n"
    )
    dns_server.set("pinned.example", "silent")  # would hang if it were asked
    lookup = NameLookup(SystemResolver([dns_server.endpoint]), hosts=lambda: read_hosts(hosts))
    assert await lookup.addresses("PINNED.example.") == ["127.0.0.1"]
    assert await lookup.addresses("localhost") == ["127.0.0.1", "::1"]
    assert await lookup.addresses("192.0.2.7") == ["192.0.2.7"]  # a literal is never looked up
    assert dns_server.queries == []


def test_an_unreadable_hosts_file_is_empty(tmp_path: Path) -> None:
    assert read_hosts(tmp_path / "missing") == {}
    odd = tmp_path / "hosts"
    odd.write_text("not-an-address name\n127.0.0.1\n\n10.0.0.1 ten.example\n")
    assert read_hosts(odd) == {"ten.example": ("10.0.0.1",)}


async def test_a_lookup_error_names_the_host_and_the_outcome(dns_server: DnsServer) -> None:
    dns_server.set("gone.example", "nxdomain")
    lookup = NameLookup(SystemResolver([dns_server.endpoint]), hosts=dict)
    with pytest.raises(NameLookupError) as caught:
        await lookup.addresses("gone.example")
    assert caught.value.outcome is Outcome.dns_nxdomain
    assert "gone.example" in str(caught.value)
