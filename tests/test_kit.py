"""The test kit's servers, each exercised over its real protocol on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import apprise
import dns.asyncresolver
import dns.exception
import dns.message
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import httpx
import pytest
import trustme

import failover.testing
import tests.kit
from failover.domain import Endpoint
from failover.testing import _dns, _http, _net, _smtp
from tests.kit import (
    Blackhole,
    DnsServer,
    FakeMastodon,
    FakeSignal,
    HttpTarget,
    SmtpSink,
    Unbound,
    _config,
    _fakes,
    _postgres,
    _unbound,
    _world,
    free_port,
)

#: Short enough to keep the file fast, long enough for a loaded CI machine on loopback.
SHORT = 0.3


def _ssl_chain(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """Find the certificate error an httpx exception wraps."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class TestFrontDoor:
    def test_all_is_complete(self) -> None:
        """The package exports every public name of its private modules, and only those."""
        modules = (_config, _fakes, _postgres, _unbound, _world, failover.testing)
        public = {name for module in modules for name in module.__all__}
        assert set(tests.kit.__all__) == public
        for name in tests.kit.__all__:
            assert getattr(tests.kit, name) is not None

    def test_the_fake_world_front_door_is_complete(self) -> None:
        """failover.testing exports every public name of its private modules, and only those;
        the kit hands on each of them as the very same object."""
        modules = (_dns, _http, _net, _smtp)
        public = {name for module in modules for name in module.__all__}
        assert set(failover.testing.__all__) == public
        for name in failover.testing.__all__:
            assert getattr(tests.kit, name) is getattr(failover.testing, name)


class TestHttpTarget:
    def test_ok_answers_and_records_the_request(self, http_target: HttpTarget) -> None:
        """Mode ok answers 200 "ok" and records method, path, query, headers and body."""
        response = httpx.post(f"{http_target.url}/probe?x=1", content=b"ping", headers={"X-Probe": "yes"})
        assert (response.status_code, response.text) == (200, "ok")
        [request] = http_target.requests
        assert (request.method, request.path, request.query) == ("POST", "/probe", "x=1")
        assert request.body == b"ping"
        assert request.headers["x-probe"] == request.headers["X-Probe"] == "yes"

    def test_url_names_the_loopback_port(self, http_target: HttpTarget) -> None:
        """A plain target's URL is http://127.0.0.1 and its bound port."""
        assert http_target.url == f"http://127.0.0.1:{http_target.port}"
        assert http_target.ca_file is None

    def test_chunked_request_bodies_are_read(self, http_target: HttpTarget) -> None:
        """A body sent with chunked transfer encoding is reassembled."""
        response = httpx.post(http_target.url, content=iter([b"ab", b"cd"]))
        assert response.status_code == 200
        assert http_target.requests[0].headers["transfer-encoding"] == "chunked"
        assert http_target.requests[0].body == b"abcd"

    def test_status_mode_answers_the_given_status(self, http_target: HttpTarget) -> None:
        """Mode status answers with the configured status and body."""
        http_target.set("status", status=503, body=b"down")
        response = httpx.get(http_target.url)
        assert (response.status_code, response.text) == (503, "down")

    def test_body_mode_answers_200_with_the_given_body(self, http_target: HttpTarget) -> None:
        """Mode body answers 200 with another body and content type."""
        http_target.set("body", body="<html>login</html>", content_type="text/html")
        response = httpx.get(http_target.url)
        assert (response.status_code, response.text) == (200, "<html>login</html>")
        assert response.headers["content-type"] == "text/html"

    def test_slow_mode_answers_after_the_delay(self, http_target: HttpTarget) -> None:
        """Mode slow answers 200, but only after the delay."""
        http_target.set("slow", delay=0.2)
        started = time.monotonic()
        response = httpx.get(http_target.url, timeout=2.0)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.2

    @pytest.mark.slow
    def test_slow_mode_outlasts_a_short_client_timeout(self, http_target: HttpTarget) -> None:
        """A client that waits less than the delay times out reading."""
        http_target.set("slow", delay=2.0)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(http_target.url, timeout=SHORT)

    def test_reset_mode_resets_the_connection(self, http_target: HttpTarget) -> None:
        """Mode reset reads the request, then aborts with a TCP RST."""
        http_target.set("reset")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            httpx.get(http_target.url, timeout=2.0)
        assert len(http_target.requests) == 1

    def test_reset_is_a_real_rst(self, http_target: HttpTarget) -> None:
        """The reset reaches a raw socket as ECONNRESET, not as an orderly end of stream."""
        http_target.set("reset")
        with socket.create_connection((http_target.host, http_target.port), timeout=2.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(1024)

    @pytest.mark.slow
    def test_silent_mode_never_answers(self, http_target: HttpTarget) -> None:
        """Mode silent accepts the request and never answers."""
        http_target.set("silent")
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(http_target.url, timeout=SHORT)
        assert len(http_target.requests) == 1

    def test_routes_are_served_in_ok_status_and_slow(self, http_target: HttpTarget) -> None:
        """A route answers its fixed response in modes ok, status and slow; other paths follow the mode."""
        http_target.route("/api/v2/summary.json", body=b'{"status": {"indicator": "none"}}')
        for mode in ("ok", "status", "slow"):
            http_target.set(mode, status=500, delay=0.01)
            routed = httpx.get(f"{http_target.url}/api/v2/summary.json")
            assert (routed.status_code, routed.json()) == (200, {"status": {"indicator": "none"}})
            assert routed.headers["content-type"] == "application/json"
            unrouted = httpx.get(f"{http_target.url}/other")
            assert unrouted.status_code == (500 if mode == "status" else 200)

    def test_body_mode_overrides_routes(self, http_target: HttpTarget) -> None:
        """Mode body answers its body on every path, routed or not."""
        http_target.route("/status", body=b"{}")
        http_target.set("body", body=b"nope")
        assert httpx.get(f"{http_target.url}/status").text == "nope"

    def test_mode_switches_between_requests_on_one_connection(self, http_target: HttpTarget) -> None:
        """A change of mode applies to the next request, even on a kept-alive connection."""
        with httpx.Client(base_url=http_target.url) as client:
            assert client.get("/").status_code == 200
            http_target.set("status", status=502)
            assert client.get("/").status_code == 502
        assert len(http_target.requests) == 2

    def test_head_gets_headers_only(self, http_target: HttpTarget) -> None:
        """HEAD answers the status and Content-Length without a body."""
        response = httpx.head(http_target.url)
        assert response.status_code == 200
        assert response.headers["content-length"] == "2"
        assert response.content == b""

    async def test_serves_async_clients(self, http_target: HttpTarget) -> None:
        """An async test's own loop stays free: the server answers from its thread."""
        async with httpx.AsyncClient() as client:
            responses = await asyncio.gather(*(client.get(http_target.url) for _ in range(5)))
        assert [r.status_code for r in responses] == [200] * 5

    def test_unknown_mode_is_refused(self, http_target: HttpTarget) -> None:
        """set() rejects a mode name it does not know."""
        with pytest.raises(ValueError, match="unknown mode"):
            http_target.set("broken")  # type: ignore[arg-type]

    def test_stop_frees_the_port_and_the_thread(self) -> None:
        """After stop, the port refuses connections and the server thread is gone, even mid-request."""
        before = set(threading.enumerate())
        target = HttpTarget()
        target.start()
        target.set("silent")
        client = socket.create_connection((target.host, target.port), timeout=2.0)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        target.stop()
        with client:
            # FIN or RST depending on whether the server had read the request yet; either way
            # the connection is over, which a timeout here would deny.
            received = b""
            with contextlib.suppress(ConnectionResetError):
                received = client.recv(1024)
            assert received == b""
        assert set(threading.enumerate()) <= before
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((target.host, target.port), timeout=1.0).close()

    def test_set_certificate_needs_tls(self, http_target: HttpTarget) -> None:
        """A plain target has no certificate to switch."""
        with pytest.raises(RuntimeError, match="tls"):
            http_target.set_certificate("expired")


class TestHttpsTarget:
    def test_valid_certificate_verifies(self, https_target: HttpTarget, ca_file: str) -> None:
        """The default certificate verifies for localhost against the session CA."""
        assert https_target.url == f"https://localhost:{https_target.port}"
        assert https_target.ca_file is not None
        for trusted in (https_target.ca_file, ca_file):
            response = httpx.get(https_target.url, verify=ssl.create_default_context(cafile=trusted))
            assert (response.status_code, response.text) == (200, "ok")

    def test_valid_certificate_covers_the_ip_address(self, https_target: HttpTarget) -> None:
        """The certificate also names 127.0.0.1, for probes that connect by address."""
        context = ssl.create_default_context(cafile=https_target.ca_file)
        response = httpx.get(f"https://127.0.0.1:{https_target.port}/", verify=context)
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("kind", "reason"),
        [
            ("wrong_host", "Hostname mismatch"),
            ("expired", "certificate has expired"),
            ("untrusted", "unable to get local issuer certificate"),
        ],
    )
    def test_bad_certificates_fail_verification(
        self, https_target: HttpTarget, kind: str, reason: str
    ) -> None:
        """Each bad certificate fails the client's verification for its own reason."""
        https_target.set_certificate(kind)  # type: ignore[arg-type]
        context = ssl.create_default_context(cafile=https_target.ca_file)
        with pytest.raises(httpx.ConnectError) as excinfo:
            httpx.get(https_target.url, verify=context, timeout=2.0)
        error = _ssl_chain(excinfo.value)
        assert error is not None, excinfo.value
        assert reason in error.verify_message
        assert https_target.requests == []

    def test_expiring_certificate_verifies_but_ends_soon(self, https_target: HttpTarget) -> None:
        """The expiring certificate is valid today and ends within three days."""
        https_target.set_certificate("expiring")
        context = ssl.create_default_context(cafile=https_target.ca_file)
        with (
            socket.create_connection((https_target.host, https_target.port), timeout=2.0) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            cert = tls.getpeercert()
        assert cert is not None
        not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), UTC)
        assert timedelta(days=2) < not_after - datetime.now(UTC) <= timedelta(days=3)

    def test_switch_applies_to_the_next_connection(self, https_target: HttpTarget) -> None:
        """Switching the certificate changes what a fresh connection sees."""
        context = ssl.create_default_context(cafile=https_target.ca_file)
        assert httpx.get(https_target.url, verify=context).status_code == 200
        https_target.set_certificate("expired")
        with pytest.raises(httpx.ConnectError):
            httpx.get(https_target.url, verify=context)
        https_target.set_certificate("valid")
        assert httpx.get(https_target.url, verify=context).status_code == 200

    def test_faults_also_apply_over_tls(self, https_target: HttpTarget) -> None:
        """Modes work the same behind TLS: here a reset after the handshake."""
        https_target.set("reset")
        context = ssl.create_default_context(cafile=https_target.ca_file)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            httpx.get(https_target.url, verify=context, timeout=2.0)

    async def test_serves_async_tls_clients(self, https_target: HttpTarget) -> None:
        """An async client completes a verified handshake and request."""
        context = ssl.create_default_context(cafile=https_target.ca_file)
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(https_target.url)
        assert response.status_code == 200


def _query(server: DnsServer, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.host, port=server.port, timeout=2.0)


def _answers(response: dns.message.Message) -> list[str]:
    return sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)


@pytest.fixture
def resolver(dns_server: DnsServer) -> dns.asyncresolver.Resolver:
    """An async stub resolver that asks only the kit's DNS server."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(dns_server.host, dns_server.port)]
    resolver.lifetime = 1.0
    return resolver


@pytest.mark.slow
class TestDnsServer:
    @pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
    def test_noerror_answers_a_records(self, dns_server: DnsServer, tcp: bool) -> None:
        """A name set to noerror answers its IPv4 addresses, authoritatively, on UDP and TCP."""
        dns_server.set("facebook.com", "noerror", addresses=["127.0.0.2", "127.0.0.3"])
        response = _query(dns_server, "facebook.com", "A", tcp=tcp)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert _answers(response) == ["127.0.0.2", "127.0.0.3"]
        assert dns_server.queries == [("facebook.com", "A")]

    def test_noerror_answers_aaaa_soa_and_ns(self, dns_server: DnsServer) -> None:
        """AAAA defaults to ::1; SOA and NS are answered for the name itself."""
        dns_server.set("whatsapp.net", "noerror")
        assert _answers(_query(dns_server, "whatsapp.net", "AAAA")) == ["::1"]
        assert _answers(_query(dns_server, "whatsapp.net", "NS")) == ["ns1.whatsapp.net."]
        [soa] = _answers(_query(dns_server, "whatsapp.net", "SOA"))
        assert soa.startswith("ns1.whatsapp.net. hostmaster.whatsapp.net.")

    def test_ipv6_addresses_go_to_aaaa(self, dns_server: DnsServer) -> None:
        """Addresses are split by family between A and AAAA."""
        dns_server.set("example.test", "noerror", addresses=["127.0.0.9", "::2"])
        assert _answers(_query(dns_server, "example.test", "A")) == ["127.0.0.9"]
        assert _answers(_query(dns_server, "example.test", "AAAA")) == ["::2"]

    def test_names_ignore_case_and_trailing_dot(self, dns_server: DnsServer) -> None:
        """A name set with a trailing dot matches a query in another case, and is recorded in lower case."""
        dns_server.set("Instagram.COM.", "noerror")
        assert _answers(_query(dns_server, "instagram.com", "A")) == ["127.0.0.1"]
        assert dns_server.queries == [("instagram.com", "A")]

    @pytest.mark.parametrize(
        ("mode", "rcode"),
        [("nxdomain", dns.rcode.NXDOMAIN), ("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED)],
    )
    def test_error_modes_answer_their_rcode(
        self, dns_server: DnsServer, mode: str, rcode: dns.rcode.Rcode
    ) -> None:
        """Error modes answer their response code with no answer records."""
        dns_server.set("facebook.com", mode)  # type: ignore[arg-type]
        response = _query(dns_server, "facebook.com", "A")
        assert (response.rcode(), response.answer) == (rcode, [])

    def test_unknown_names_are_nxdomain(self, dns_server: DnsServer) -> None:
        """A name never set answers NXDOMAIN."""
        assert _query(dns_server, "never.set.test", "A").rcode() == dns.rcode.NXDOMAIN

    def test_nodata_is_noerror_without_answers(self, dns_server: DnsServer) -> None:
        """Mode nodata answers NOERROR with an empty answer section."""
        dns_server.set("facebook.com", "nodata")
        response = _query(dns_server, "facebook.com", "A")
        assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])

    @pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
    def test_silent_never_answers(self, dns_server: DnsServer, tcp: bool) -> None:
        """Mode silent drops the query, so the client times out, on UDP and TCP."""
        dns_server.set("facebook.com", "silent")
        send = dns.query.tcp if tcp else dns.query.udp
        with pytest.raises(dns.exception.Timeout):
            send(
                dns.message.make_query("facebook.com", "A"),
                dns_server.host,
                port=dns_server.port,
                timeout=SHORT,
            )
        assert dns_server.queries == [("facebook.com", "A")]

    def test_endpoint_names_the_server(self, dns_server: DnsServer) -> None:
        """The endpoint is the domain value failover configures DNS servers with."""
        assert dns_server.endpoint == Endpoint(host="127.0.0.1", port=dns_server.port)

    async def test_resolver_gets_addresses(
        self, dns_server: DnsServer, resolver: dns.asyncresolver.Resolver
    ) -> None:
        """dnspython's async resolver resolves a noerror name."""
        dns_server.set("facebook.com", "noerror", addresses=["127.0.0.5"])
        answer = await resolver.resolve("facebook.com", "A")
        assert [rdata.to_text() for rdata in answer] == ["127.0.0.5"]

    @pytest.mark.parametrize(
        ("mode", "error"),
        [
            ("nxdomain", dns.resolver.NXDOMAIN),
            ("nodata", dns.resolver.NoAnswer),
            ("servfail", dns.resolver.NoNameservers),
            ("refused", dns.resolver.NoNameservers),
            ("silent", dns.resolver.LifetimeTimeout),
        ],
    )
    async def test_resolver_sees_each_failure(
        self,
        dns_server: DnsServer,
        resolver: dns.asyncresolver.Resolver,
        mode: str,
        error: type[Exception],
    ) -> None:
        """Each failure mode reaches the async resolver as its own exception."""
        dns_server.set("facebook.com", mode)  # type: ignore[arg-type]
        resolver.lifetime = SHORT
        with pytest.raises(error):
            await resolver.resolve("facebook.com", "A")

    def test_unknown_mode_is_refused(self, dns_server: DnsServer) -> None:
        """set() rejects a mode name it does not know."""
        with pytest.raises(ValueError, match="unknown DNS mode"):
            dns_server.set("facebook.com", "timeout")  # type: ignore[arg-type]


@pytest.fixture
def unbound(dns_server: DnsServer) -> Iterator[Unbound]:
    """A real unbound in front of the kit's DNS server (fails under CI=true when missing)."""
    Unbound.require()
    with Unbound(dns_server.endpoint) as resolver:
        yield resolver


def _ask(resolver: Unbound, name: str, *, timeout: float = 1.0) -> dns.message.Message:
    query = dns.message.make_query(name, "A")
    return dns.query.udp(query, resolver.host, port=resolver.port, timeout=timeout)


def _failure(resolver: Unbound, name: str) -> str | None:
    """How a 1 s query through unbound fails ("timeout", "SERVFAIL"), None if it succeeds."""
    try:
        response = _ask(resolver, name)
    except dns.exception.Timeout:
        return "timeout"
    if response.rcode() == dns.rcode.NOERROR and response.answer:
        return None
    return dns.rcode.to_text(response.rcode())


def _resolves_within(resolver: Unbound, name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _failure(resolver, name) is None:
            return True
        time.sleep(0.2)
    return False


def _sockets_of(pid: int) -> list[tuple[str, str]]:
    """(local, remote) IPv4 addresses of every UDP and TCP socket process ``pid`` holds;
    an IPv6 socket fails the test (unbound is configured for IPv4 only)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("udp", "tcp", "udp6", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            assert not table.endswith("6"), f"unbound holds an IPv6 socket: {line}"
            found.append((_ipv4(fields[1]), _ipv4(fields[2])))
    return found


def _ipv4(field: str) -> str:
    """``0100007F:0035`` (/proc/net, little-endian hex) → ``127.0.0.1``."""
    address = field.split(":", maxsplit=1)[0]
    return str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1]))


@pytest.mark.slow
class TestUnbound:
    """A real recursive resolver: what the probes meet when the authority behind it goes silent."""

    def test_resolves_what_the_kit_serves(self, unbound: Unbound, dns_server: DnsServer) -> None:
        """A name the kit serves resolves through unbound, which asked the kit for it."""
        dns_server.set("www.facebook.test", "noerror", addresses=["127.0.0.7"])
        response = _ask(unbound, "www.facebook.test", timeout=5.0)
        assert response.rcode() == dns.rcode.NOERROR
        assert _answers(response) == ["127.0.0.7"]
        assert ("www.facebook.test", "A") in dns_server.queries
        assert unbound.endpoint == Endpoint(host="127.0.0.1", port=unbound.port)

    def test_errors_of_the_kit_come_through(self, unbound: Unbound, dns_server: DnsServer) -> None:
        """NXDOMAIN passes through as NXDOMAIN; the kit's SERVFAIL becomes unbound's SERVFAIL."""
        dns_server.set("gone.facebook.test", "nxdomain")
        dns_server.set("broken.facebook.test", "servfail")
        assert _ask(unbound, "gone.facebook.test", timeout=5.0).rcode() == dns.rcode.NXDOMAIN
        assert _ask(unbound, "broken.facebook.test", timeout=10.0).rcode() == dns.rcode.SERVFAIL

    def test_a_silent_authority_gets_no_answer_within_a_second(
        self, unbound: Unbound, dns_server: DnsServer
    ) -> None:
        """Silent upstream: unbound forwards and keeps retrying, and the client gets no
        answer at all within 1 s (stock discard-timeout); names the kit still answers keep
        resolving meanwhile."""
        dns_server.set("www.facebook.test", "silent")
        dns_server.set("telegram.test", "noerror")
        assert _failure(unbound, "www.facebook.test") == "timeout"
        assert ("www.facebook.test", "A") in dns_server.queries
        assert _failure(unbound, "telegram.test") is None

    def test_a_cached_answer_expires_within_seconds(self, unbound: Unbound, dns_server: DnsServer) -> None:
        """cache-max-ttl 1: a name resolved a moment ago fails soon after its authority
        falls silent (the cache is modelled as already expired, not hiding the outage)."""
        dns_server.set("www.facebook.test", "noerror")
        assert _failure(unbound, "www.facebook.test") is None
        dns_server.set("www.facebook.test", "silent")
        deadline = time.monotonic() + 10.0
        failure = None
        while failure is None and time.monotonic() < deadline:
            failure = _failure(unbound, "www.facebook.test")
        assert failure in ("timeout", "SERVFAIL")

    def test_answers_again_after_the_heal(self, unbound: Unbound, dns_server: DnsServer) -> None:
        """Once the authority answers again, so does unbound, within seconds."""
        dns_server.set("www.facebook.test", "silent")
        assert _failure(unbound, "www.facebook.test") is not None
        dns_server.set("www.facebook.test", "noerror")
        assert _resolves_within(unbound, "www.facebook.test", 30.0), unbound.log_text()[-2000:]

    def test_everything_goes_to_the_loopback_upstream_only(self, unbound: Unbound) -> None:
        """The configuration forwards the root to the kit's server only, queries leave from
        127.0.0.1, nothing validates (no trust anchor to fetch), nobody controls it remotely."""
        config = (unbound.directory / "unbound.conf").read_text()
        assert config == unbound.config_text()
        lines = [line.strip() for line in config.splitlines()]
        assert f"forward-addr: 127.0.0.1@{unbound.upstream.port}" in lines
        assert [line for line in lines if line.startswith(("forward-addr", "forward-host", "stub-"))] == [
            f"forward-addr: 127.0.0.1@{unbound.upstream.port}"
        ]
        assert 'name: "."' in lines
        assert "outgoing-interface: 127.0.0.1" in lines
        assert 'module-config: "iterator"' in lines
        assert not [line for line in lines if "trust-anchor" in line or "root-hints" in line]
        assert "control-enable: no" in lines

    def test_its_sockets_stay_on_loopback(self, unbound: Unbound, dns_server: DnsServer) -> None:
        """While unbound works on answered and silent names, every socket it holds is bound
        to 127.0.0.1 and talks to 127.0.0.1 (or nobody): nothing is sent off the machine."""
        dns_server.set("www.facebook.test", "silent")
        dns_server.set("telegram.test", "noerror")
        for name in ("www.facebook.test", "telegram.test", "www.facebook.test"):
            _failure(unbound, name)
        assert unbound.pid is not None
        sockets = _sockets_of(unbound.pid)
        assert sockets, "no socket of unbound found in /proc/net"
        for local, remote in sockets:
            assert local.startswith("127."), (local, remote)
            assert remote.startswith(("127.", "0.0.0.0")), (local, remote)

    def test_refuses_an_upstream_off_loopback(self) -> None:
        """An upstream outside 127.0.0.0/8 (or a name) is refused before anything runs."""
        for host in ("192.0.2.1", "dns.example", "::1"):
            with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
                Unbound(Endpoint(host=host, port=53))

    def test_stop_ends_the_process_and_frees_the_port(self, dns_server: DnsServer) -> None:
        """After stop, the port (UDP and TCP) is free again and the directory is gone."""
        Unbound.require()
        with Unbound(dns_server.endpoint) as resolver:
            port, directory = resolver.port, resolver.directory
            assert directory.exists()
        assert not directory.exists()
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind(("127.0.0.1", port))  # nobody holds it any more

    @pytest.mark.parametrize(
        ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
    )
    def test_a_missing_binary_fails_under_ci_and_skips_elsewhere(
        self, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
    ) -> None:
        """require(): CI=true turns a missing unbound into a failure, never a skip."""
        monkeypatch.setenv("CI", ci)
        with pytest.raises(outcome, match="not installed"):
            Unbound.require("/nonexistent/unbound")


def _mail(subject: str = "Facebook is down") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "failover@example.test"
    message["To"] = "team@example.test"
    message["Subject"] = subject
    message.set_content("Reach us on Signal instead.")
    return message


class TestSmtpSink:
    def test_receives_one_message_for_two_recipients(self, smtp_sink: SmtpSink) -> None:
        """One SMTP transaction with two recipients is one message with both envelope recipients."""
        with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
            client.send_message(_mail(), to_addrs=["a@example.test", "b@example.test"])
        [received] = smtp_sink.wait_for(1)
        assert received.mail_from == "failover@example.test"
        assert received.rcpt_tos == ["a@example.test", "b@example.test"]
        assert received.message["Subject"] == "Facebook is down"
        assert received.message.get_content().strip() == "Reach us on Signal instead."

    def test_wait_for_times_out_clearly(self, smtp_sink: SmtpSink) -> None:
        """Waiting for more messages than arrive fails with a message saying so."""
        with pytest.raises(AssertionError, match=r"expected 1 message\(s\) within 0.1s, received 0"):
            smtp_sink.wait_for(1, timeout=0.1)

    def test_clear_forgets_messages(self, smtp_sink: SmtpSink) -> None:
        """clear() empties the received messages."""
        with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
            client.send_message(_mail())
        smtp_sink.wait_for(1)
        smtp_sink.clear()
        assert smtp_sink.messages == []

    def test_fail_with_refuses_recipients(self, smtp_sink: SmtpSink) -> None:
        """fail_with(550) refuses every RCPT, and fail_with(None) accepts again."""
        smtp_sink.fail_with(550)
        with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
                client.send_message(_mail())
            assert excinfo.value.recipients["team@example.test"][0] == 550
            smtp_sink.fail_with(None)
            client.send_message(_mail())
        assert len(smtp_sink.wait_for(1)) == 1

    def test_fail_with_at_data(self, smtp_sink: SmtpSink) -> None:
        """fail_with(451, stage="data") accepts recipients and then refuses the message."""
        smtp_sink.fail_with(451, stage="data")
        with (
            smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client,
            pytest.raises(smtplib.SMTPDataError) as excinfo,
        ):
            client.send_message(_mail())
        assert excinfo.value.smtp_code == 451
        assert smtp_sink.messages == []

    def test_fail_with_rejects_success_codes(self, smtp_sink: SmtpSink) -> None:
        """Only 4xx and 5xx codes make sense as failures."""
        with pytest.raises(ValueError, match="4xx or 5xx"):
            smtp_sink.fail_with(250)

    def test_starttls_and_auth(self, ca: trustme.CA) -> None:
        """With tls and auth, a client upgrades with STARTTLS, logs in and delivers."""
        with SmtpSink(tls=ca, auth=True) as sink:
            context = ssl.create_default_context(cafile=sink.ca_file)
            with smtplib.SMTP("localhost", sink.port, timeout=5) as client:
                client.starttls(context=context)
                client.login("failover", "s3cret")
                client.send_message(_mail())
            assert len(sink.wait_for(1)) == 1
            assert sink.logins == [("failover", "s3cret")]

    async def test_wait_for_async_lets_the_sender_run(self, smtp_sink: SmtpSink) -> None:
        """wait_for_async polls without blocking the test's own loop."""

        def send() -> None:
            time.sleep(0.05)
            with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
                client.send_message(_mail())

        sending = asyncio.create_task(asyncio.to_thread(send))
        messages = await smtp_sink.wait_for_async(1)
        await sending
        assert len(messages) == 1


class TestFakeSignal:
    def test_send_answers_201_and_records_the_body(self, fake_signal: FakeSignal) -> None:
        """A valid send answers 201 with a timestamp and is recorded."""
        body = {"message": "Facebook is down", "number": "+15550000000", "recipients": ["+15551111111"]}
        response = httpx.post(f"{fake_signal.url}/v2/send", json=body)
        assert response.status_code == 201
        assert response.json()["timestamp"].isdigit()
        assert fake_signal.requests == [body]

    def test_invalid_send_answers_400(self, fake_signal: FakeSignal) -> None:
        """A send without recipients is refused like the real API refuses it."""
        response = httpx.post(f"{fake_signal.url}/v2/send", json={"message": "hi", "number": "+1555"})
        assert response.status_code == 400
        assert "recipients" in response.json()["error"]

    def test_set_status_forces_failures(self, fake_signal: FakeSignal) -> None:
        """set_status(500) makes sends fail (still recorded); set_status(None) restores 201."""
        body = {"message": "hi", "number": "+1555", "recipients": ["+1556"]}
        fake_signal.set_status(500)
        assert httpx.post(f"{fake_signal.url}/v2/send", json=body).status_code == 500
        fake_signal.set_status(None)
        assert httpx.post(f"{fake_signal.url}/v2/send", json=body).status_code == 201
        assert len(fake_signal.requests) == 2

    def test_about_and_unknown_paths(self, fake_signal: FakeSignal) -> None:
        """GET /v1/about answers the API versions; other paths answer 404."""
        assert httpx.get(f"{fake_signal.url}/v1/about").json()["versions"] == ["v1", "v2"]
        assert httpx.get(f"{fake_signal.url}/v1/send").status_code == 404

    # apprise 2.2 imports the deprecated imghdr module when it loads its e-mail plugin.
    @pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
    def test_apprise_delivers_to_it(self, fake_signal: FakeSignal) -> None:
        """apprise's signal:// plugin (batch mode) delivers one send for both recipients."""
        notifier = apprise.Apprise()
        url = f"signal://127.0.0.1:{fake_signal.port}/+15550000000/+15551111111/+15552222222?batch=yes"
        assert notifier.add(url)
        assert notifier.notify(body="Facebook is down", title="failover")
        [sent] = fake_signal.requests
        assert sent["number"] == "+15550000000"
        assert sent["recipients"] == ["+15551111111", "+15552222222"]
        assert "Facebook is down" in sent["message"]


class TestFakeMastodon:
    def test_json_status_is_posted(self, fake_mastodon: FakeMastodon) -> None:
        """A JSON status answers 200 with a status object and is recorded."""
        body = {"status": "WhatsApp is down", "visibility": "unlisted"}
        response = httpx.post(f"{fake_mastodon.url}/api/v1/statuses", json=body)
        assert response.status_code == 200
        status = response.json()
        assert status["visibility"] == "unlisted"
        assert status["content"] == "<p>WhatsApp is down</p>"
        assert status["url"] == f"{fake_mastodon.url}/@failover/{status['id']}"
        assert fake_mastodon.statuses == [body]

    def test_form_status_is_parsed(self, fake_mastodon: FakeMastodon) -> None:
        """A form-encoded status keeps `media_ids[]` as a list and the rest as strings."""
        form = {"status": "down", "in_reply_to_id": "7", "media_ids[]": ["1", "2"]}
        response = httpx.post(f"{fake_mastodon.url}/api/v1/statuses", data=form)
        assert response.status_code == 200
        assert response.json()["in_reply_to_id"] == "7"
        assert fake_mastodon.statuses == [form]

    def test_blank_status_is_refused(self, fake_mastodon: FakeMastodon) -> None:
        """A status without text or media answers 422 and is not recorded."""
        response = httpx.post(f"{fake_mastodon.url}/api/v1/statuses", json={"status": ""})
        assert response.status_code == 422
        assert fake_mastodon.statuses == []

    def test_verify_credentials(self, fake_mastodon: FakeMastodon) -> None:
        """verify_credentials names the account."""
        response = httpx.get(f"{fake_mastodon.url}/api/v1/accounts/verify_credentials")
        assert response.json()["username"] == "failover"

    def test_set_status_forces_failures(self, fake_mastodon: FakeMastodon) -> None:
        """set_status(500) fails every call and posts nothing."""
        fake_mastodon.set_status(500)
        response = httpx.post(f"{fake_mastodon.url}/api/v1/statuses", json={"status": "x"})
        assert response.status_code == 500
        assert fake_mastodon.statuses == []
        assert len(fake_mastodon.received) == 1

    def test_token_is_enforced_when_set(self) -> None:
        """With a token, a request without the right Bearer token answers 401."""
        with FakeMastodon(token="t0ken") as fake:
            url = f"{fake.url}/api/v1/statuses"
            assert httpx.post(url, json={"status": "x"}).status_code == 401
            ok = httpx.post(url, json={"status": "x"}, headers={"Authorization": "Bearer t0ken"})
            assert ok.status_code == 200

    # apprise 2.2 imports the deprecated imghdr module when it loads its e-mail plugin.
    @pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
    def test_apprise_posts_a_direct_status(self, fake_mastodon: FakeMastodon) -> None:
        """apprise's mastodon:// plugin looks up the account, then posts a direct status."""
        notifier = apprise.Apprise()
        assert notifier.add(f"mastodon://t0ken@127.0.0.1:{fake_mastodon.port}/?visibility=direct")
        assert notifier.notify(body="Instagram is down", title="failover")
        paths = [r.path for r in fake_mastodon.received]
        assert paths == ["/api/v1/accounts/verify_credentials", "/api/v1/statuses"]
        assert fake_mastodon.received[1].headers["authorization"] == "Bearer t0ken"
        [status] = fake_mastodon.statuses
        assert status["visibility"] == "direct"
        assert "Instagram is down" in status["status"]
        assert "@failover" in status["status"]


@pytest.mark.slow
class TestPorts:
    def test_free_port_is_refused(self) -> None:
        """Nobody listens on a port free_port() returns."""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", free_port()), timeout=1.0).close()

    def test_closed_port_refuses(self, closed_port: int) -> None:
        """A connect to closed_port is refused at once, for sockets and httpx alike."""
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed_port), timeout=1.0).close()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{closed_port}/", timeout=1.0)

    def test_blackhole_port_times_out(self, blackhole_port: int) -> None:
        """A connect to blackhole_port hangs until the client's timeout instead of being refused."""
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            socket.create_connection(("127.0.0.1", blackhole_port), timeout=SHORT).close()
        assert time.monotonic() - started >= SHORT * 0.9
        with pytest.raises(httpx.ConnectTimeout):
            httpx.get(f"http://127.0.0.1:{blackhole_port}/", timeout=SHORT)

    async def test_blackhole_port_times_out_for_asyncio(self, blackhole_port: int) -> None:
        """asyncio's open_connection hangs on the black hole too."""
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(SHORT):
                await asyncio.open_connection("127.0.0.1", blackhole_port)

    def test_blackhole_stays_shut_for_repeated_attempts(self) -> None:
        """Timed-out attempts do not free a slot in the queue: every later connect hangs too."""
        with Blackhole() as blackhole:
            for _ in range(2):
                with pytest.raises(TimeoutError):
                    socket.create_connection((blackhole.host, blackhole.port), timeout=0.1).close()


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail if the test leaves a thread running."""
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= before


class TestLifecycle:
    @pytest.mark.parametrize("server_class", [HttpTarget, DnsServer, SmtpSink, FakeSignal, FakeMastodon])
    def test_start_and_stop_leave_nothing_behind(
        self, server_class: type[HttpTarget | DnsServer | SmtpSink], no_leaked_threads: None
    ) -> None:
        """Every server starts on a fresh port, stops its thread and frees its port."""
        with server_class() as server:
            port = server.port
            assert port > 0
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
