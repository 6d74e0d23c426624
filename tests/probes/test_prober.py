"""Every outcome, produced over real protocols on 127.0.0.1 by the test kit's servers."""

from __future__ import annotations

import errno
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

import failover.probes
from failover.domain import (
    CONTROL_FAMILY,
    CheckKind,
    CheckRole,
    DnsCheck,
    DnsVia,
    Endpoint,
    HttpCheck,
    Observation,
    Outcome,
    Platform,
    StatusCheck,
    StatusFormat,
    TcpCheck,
    TlsCheck,
)
from failover.probes import Prober
from failover.probes._http import outcome_for_http_error
from failover.probes._tcp import outcome_for_connect_error
from tests.kit import DnsServer, HttpTarget
from tests.probes.conftest import USER_AGENT, ProbeServer, utc_now

FIXTURES = Path(__file__).parent / "fixtures"
# Deadlines in tests are short; "returned in time" allows a generous margin for slow machines.
SHORT = 0.5
MARGIN = 2.0


async def probe(
    prober: Prober, check: DnsCheck | TcpCheck | TlsCheck | HttpCheck | StatusCheck
) -> Observation:
    return await prober.probe(target="example", check=check)


def connect_error(cause: OSError) -> httpx.ConnectError:
    """An httpx.ConnectError raised from ``cause``, as httpx chains them."""
    error = httpx.ConnectError(str(cause))
    error.__cause__ = cause
    return error


class TestFrontDoor:
    """The package exports exactly its public names."""

    def test_all_is_complete(self) -> None:
        """Every public attribute is in __all__ and every name in __all__ exists."""
        public = {name for name in vars(failover.probes) if not name.startswith("_")} - {"annotations"}
        assert set(failover.probes.__all__) == public

    def test_concurrency_must_be_positive(self) -> None:
        """A prober needs room for at least one probe."""
        with pytest.raises(ValueError, match="concurrency"):
            Prober(user_agent=USER_AGENT, clock=utc_now, concurrency=0)


class TestObservation:
    """An observation carries who, what, when and how long."""

    async def test_fields(self, prober: Prober, http_target: HttpTarget) -> None:
        """Target, check, kind, role, control flag, tz-aware time and latency are filled in."""
        check = HttpCheck(name="home", url=http_target.url + "/")
        observation = await prober.probe(target="canary", check=check, is_control=True)
        assert observation.target == "canary"
        assert observation.check == "home"
        assert observation.kind is CheckKind.http
        assert observation.role is CheckRole.front_door
        assert observation.is_control
        assert observation.at.tzinfo is not None
        assert observation.latency_s is not None
        assert observation.latency_s > 0

    async def test_closed_prober_refuses_http(self, http_target: HttpTarget) -> None:
        """After aclose the prober does not quietly open new clients."""
        prober = Prober(user_agent=USER_AGENT, clock=utc_now)
        await prober.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await probe(prober, HttpCheck(name="home", url=http_target.url))


class TestDnsViaResolvers:
    """Listed resolvers: each response code becomes its outcome."""

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("noerror", Outcome.ok),
            ("nxdomain", Outcome.dns_nxdomain),
            ("servfail", Outcome.dns_servfail),
            ("refused", Outcome.dns_refused),
            ("nodata", Outcome.dns_no_answer),
        ],
    )
    async def test_response_codes(
        self, prober: Prober, dns_server: DnsServer, mode: str, expected: Outcome
    ) -> None:
        """NOERROR with an answer is ok; the failures keep their names."""
        dns_server.set("facebook.test", mode)  # type: ignore[arg-type]
        check = DnsCheck(
            name="resolvers", qname="facebook.test", via=DnsVia.resolvers, servers=(dns_server.endpoint,)
        )
        observation = await probe(prober, check)
        assert observation.outcome is expected
        assert observation.role is CheckRole.resolver
        assert ("facebook.test", "A") in dns_server.queries

    async def test_a_truncated_answer_is_asked_again_over_tcp(
        self, prober: Prober, dns_server: DnsServer
    ) -> None:
        """A UDP answer cut short (TC flag, no records) is not read as "no answer": the
        question goes again over TCP, whose full answer counts."""
        dns_server.set("facebook.test", "truncated", addresses=("127.0.0.9",))
        check = DnsCheck(
            name="r", qname="facebook.test", via=DnsVia.resolvers, servers=(dns_server.endpoint,)
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok
        assert "127.0.0.9" in observation.detail
        assert dns_server.transports == ["udp", "tcp"]

    async def test_answer_in_detail(self, prober: Prober, dns_server: DnsServer) -> None:
        """The detail shows what was answered."""
        dns_server.set("facebook.test", "noerror", addresses=("127.0.0.7",))
        check = DnsCheck(
            name="r", qname="facebook.test", via=DnsVia.resolvers, servers=(dns_server.endpoint,)
        )
        observation = await probe(prober, check)
        assert "127.0.0.7" in observation.detail

    @pytest.mark.slow
    async def test_silence_is_a_timeout_within_the_deadline(
        self, prober: Prober, dns_server: DnsServer
    ) -> None:
        """A silent resolver yields dns_timeout, and the check returns at its deadline."""
        dns_server.set("facebook.test", "silent")
        check = DnsCheck(
            name="r",
            qname="facebook.test",
            via=DnsVia.resolvers,
            servers=(dns_server.endpoint,),
            timeout_s=SHORT,
        )
        started = time.monotonic()
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.dns_timeout
        assert time.monotonic() - started < SHORT + MARGIN

    async def test_several_record_types(self, prober: Prober, dns_server: DnsServer) -> None:
        """Each record type is asked; one answer is enough for ok."""
        dns_server.set("facebook.test", "noerror", addresses=("127.0.0.1", "::1"))
        check = DnsCheck(
            name="r",
            qname="facebook.test",
            via=DnsVia.resolvers,
            record_types=("A", "AAAA", "MX"),
            servers=(dns_server.endpoint,),
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok
        assert {("facebook.test", "A"), ("facebook.test", "AAAA"), ("facebook.test", "MX")} <= set(
            dns_server.queries
        )
        assert "MX: no answer" in observation.detail

    async def test_resolver_given_by_name(self, dns_prober: Prober, dns_server: DnsServer) -> None:
        """A server named by host name is resolved through the system resolver first."""
        dns_server.set("resolver.test", "noerror", addresses=("127.0.0.1",))
        dns_server.set("facebook.test", "noerror")
        named = Endpoint(host="resolver.test", port=dns_server.port)
        check = DnsCheck(name="r", qname="facebook.test", via=DnsVia.resolvers, servers=(named,))
        observation = await probe(dns_prober, check)
        assert observation.outcome is Outcome.ok
        assert ("resolver.test", "A") in dns_server.queries


class TestDnsViaSystem:
    """The system resolver (here pointed at the kit) is asked like any resolver."""

    @pytest.mark.parametrize(
        ("mode", "expected"), [("noerror", Outcome.ok), ("nxdomain", Outcome.dns_nxdomain)]
    )
    async def test_system_resolver(
        self, dns_prober: Prober, dns_server: DnsServer, mode: str, expected: Outcome
    ) -> None:
        """via=system uses the prober's system resolver configuration."""
        dns_server.set("whatsapp.test", mode)  # type: ignore[arg-type]
        check = DnsCheck(name="system", qname="whatsapp.test", via=DnsVia.system)
        assert (await probe(dns_prober, check)).outcome is expected


@pytest.mark.slow
class TestDnsViaAuthoritative:
    """Direct queries to each authoritative server; ok when any answers authoritatively."""

    async def test_soa_from_the_authority(self, prober: Prober, dns_server: DnsServer) -> None:
        """An SOA answer with the AA flag is ok."""
        dns_server.set("facebook.test", "noerror")
        check = DnsCheck(
            name="auth",
            qname="facebook.test",
            via=DnsVia.authoritative,
            record_types=("SOA",),
            servers=(dns_server.endpoint,),
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok
        assert observation.role is CheckRole.authoritative
        assert ("facebook.test", "SOA") in dns_server.queries

    async def test_a_truncated_answer_is_asked_again_over_tcp(
        self, prober: Prober, dns_server: DnsServer
    ) -> None:
        """An authoritative server whose UDP answer is truncated is asked again over TCP."""
        dns_server.set("facebook.test", "truncated")
        check = DnsCheck(
            name="auth",
            qname="facebook.test",
            via=DnsVia.authoritative,
            record_types=("SOA",),
            servers=(dns_server.endpoint,),
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok
        assert dns_server.transports == ["udp", "tcp"]

    async def test_one_answering_server_is_enough(self, prober: Prober, dns_server: DnsServer) -> None:
        """With one server silent and one answering, the check is ok and the detail lists both."""
        with DnsServer() as silent:
            silent.set("facebook.test", "silent")
            dns_server.set("facebook.test", "noerror")
            check = DnsCheck(
                name="auth",
                qname="facebook.test",
                via=DnsVia.authoritative,
                record_types=("NS",),
                servers=(silent.endpoint, dns_server.endpoint),
                timeout_s=1.0,
            )
            observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok
        assert f"{silent.endpoint}: dns_timeout" in observation.detail
        assert f"{dns_server.endpoint}: ok" in observation.detail

    async def test_all_silent_is_a_timeout(self, prober: Prober, dns_server: DnsServer) -> None:
        """When every authoritative server is silent the outcome is dns_timeout, in time."""
        dns_server.set("facebook.test", "silent")
        with DnsServer() as other:
            other.set("facebook.test", "silent")
            check = DnsCheck(
                name="auth",
                qname="facebook.test",
                via=DnsVia.authoritative,
                record_types=("SOA",),
                servers=(dns_server.endpoint, other.endpoint),
                timeout_s=SHORT,
            )
            started = time.monotonic()
            observation = await probe(prober, check)
        assert observation.outcome is Outcome.dns_timeout
        assert time.monotonic() - started < SHORT + MARGIN

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("servfail", Outcome.dns_servfail),
            ("nxdomain", Outcome.dns_nxdomain),
            ("refused", Outcome.dns_refused),
            ("nodata", Outcome.dns_no_answer),
        ],
    )
    async def test_failures(
        self, prober: Prober, dns_server: DnsServer, mode: str, expected: Outcome
    ) -> None:
        """Authoritative failures keep their names."""
        dns_server.set("facebook.test", mode)  # type: ignore[arg-type]
        check = DnsCheck(
            name="auth",
            qname="facebook.test",
            via=DnsVia.authoritative,
            record_types=("MX",) if mode == "nodata" else ("SOA",),
            servers=(dns_server.endpoint,),
        )
        assert (await probe(prober, check)).outcome is expected

    async def test_server_given_by_name(self, dns_prober: Prober, dns_server: DnsServer) -> None:
        """a.ns.example style names are resolved (system resolver) before the direct query."""
        dns_server.set("a.ns.facebook.test", "noerror", addresses=("127.0.0.1",))
        dns_server.set("facebook.test", "noerror")
        check = DnsCheck(
            name="auth",
            qname="facebook.test",
            via=DnsVia.authoritative,
            record_types=("SOA",),
            servers=(Endpoint(host="a.ns.facebook.test", port=dns_server.port),),
        )
        assert (await probe(dns_prober, check)).outcome is Outcome.ok

    async def test_unresolvable_server_name(self, dns_prober: Prober, dns_server: DnsServer) -> None:
        """A server whose name does not resolve reports that, not a crash."""
        check = DnsCheck(
            name="auth",
            qname="facebook.test",
            via=DnsVia.authoritative,
            record_types=("SOA",),
            servers=(Endpoint(host="gone.ns.test", port=dns_server.port),),
        )
        observation = await probe(dns_prober, check)
        assert observation.outcome is Outcome.dns_nxdomain
        assert "gone.ns.test" in observation.detail


class TestTcp:
    """A TCP connect: ok, refused, timed out; unreachable via the errno mapping."""

    async def test_connects(self, prober: Prober, listening_port: int) -> None:
        """A listening port is ok, with the connect time as a phase."""
        observation = await probe(prober, TcpCheck(name="tcp", host="127.0.0.1", port=listening_port))
        assert observation.outcome is Outcome.ok
        assert "connect" in observation.phases

    async def test_refused(self, prober: Prober, closed_port: int) -> None:
        """Nobody listening is tcp_refused."""
        observation = await probe(prober, TcpCheck(name="tcp", host="127.0.0.1", port=closed_port))
        assert observation.outcome is Outcome.tcp_refused

    @pytest.mark.slow
    async def test_timeout(self, prober: Prober, blackhole_port: int) -> None:
        """A black hole is tcp_timeout, returned at the deadline."""
        check = TcpCheck(name="tcp", host="127.0.0.1", port=blackhole_port, timeout_s=SHORT)
        started = time.monotonic()
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.tcp_timeout
        assert time.monotonic() - started < SHORT + MARGIN

    @pytest.mark.parametrize(
        ("exc", "expected"),
        [
            (OSError(errno.EHOSTUNREACH, "No route to host"), Outcome.tcp_unreachable),
            (OSError(errno.ENETUNREACH, "Network is unreachable"), Outcome.tcp_unreachable),
            (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), Outcome.tcp_refused),
            (OSError(errno.ETIMEDOUT, "Connection timed out"), Outcome.tcp_timeout),
            (TimeoutError(), Outcome.tcp_timeout),
            (
                OSError(
                    "Multiple exceptions: [Errno 111] Connect call failed ('::1', 80), "
                    "[Errno 111] Connect call failed ('127.0.0.1', 80)"
                ),
                Outcome.tcp_refused,
            ),
            (
                OSError(
                    "Multiple exceptions: [Errno 101] Network is unreachable, "
                    "[Errno 111] Connect call failed ('127.0.0.1', 80)"
                ),
                Outcome.tcp_unreachable,
            ),
            (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Outcome.dns_nxdomain),
            (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), Outcome.dns_servfail),
        ],
    )
    def test_errno_mapping(self, exc: OSError, expected: Outcome) -> None:
        """Connect errors map by errno (unreachable cannot be produced on loopback)."""
        assert outcome_for_connect_error(exc) is expected


@pytest.mark.slow
class TestTls:
    """A TLS handshake with SNI and verification; certificate faults keep their names."""

    def check(self, target: HttpTarget, ca_file: str | None, **overrides: object) -> TlsCheck:
        fields: dict[str, object] = {
            "name": "tls",
            "host": "127.0.0.1",
            "port": target.port,
            "server_name": "localhost",
            "ca_file": ca_file,
        }
        fields.update(overrides)
        return TlsCheck(**fields)  # type: ignore[arg-type]

    async def test_valid(self, prober: Prober, https_target: HttpTarget, ca_file: str) -> None:
        """A valid certificate is ok, with days left and connect/tls phases."""
        observation = await probe(prober, self.check(https_target, ca_file))
        assert observation.outcome is Outcome.ok, observation.detail
        assert observation.cert_days_left is not None
        assert observation.cert_days_left > 30
        assert {"connect", "tls"} <= set(observation.phases)

    async def test_expiring_reports_days_left(
        self, prober: Prober, https_target: HttpTarget, ca_file: str
    ) -> None:
        """A certificate ending in three days is ok, with about three days left."""
        https_target.set_certificate("expiring")
        observation = await probe(prober, self.check(https_target, ca_file))
        assert observation.outcome is Outcome.ok
        assert observation.cert_days_left is not None
        assert 2.5 < observation.cert_days_left < 3.5

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("expired", Outcome.tls_expired),
            ("wrong_host", Outcome.tls_invalid),
            ("untrusted", Outcome.tls_invalid),
        ],
    )
    async def test_certificate_faults(
        self, prober: Prober, https_target: HttpTarget, ca_file: str, kind: str, expected: Outcome
    ) -> None:
        """Expired is tls_expired; wrong host and unknown issuer are tls_invalid."""
        https_target.set_certificate(kind)  # type: ignore[arg-type]
        observation = await probe(prober, self.check(https_target, ca_file))
        assert observation.outcome is expected
        assert observation.detail.startswith("certificate:")

    async def test_system_trust_store_does_not_know_the_test_ca(
        self, prober: Prober, https_target: HttpTarget
    ) -> None:
        """Without ca_file the system CAs are used, which never trust the kit's CA."""
        assert (await probe(prober, self.check(https_target, None))).outcome is Outcome.tls_invalid

    async def test_not_tls_is_a_tls_error(self, prober: Prober, not_tls_port: int) -> None:
        """A peer that answers the ClientHello with plain text is tls_error."""
        check = TlsCheck(name="tls", host="127.0.0.1", port=not_tls_port, server_name="localhost")
        assert (await probe(prober, check)).outcome is Outcome.tls_error

    async def test_handshake_timeout(self, prober: Prober, mute_port: int) -> None:
        """A peer that accepts but never answers the handshake is tls_timeout, in time."""
        check = TlsCheck(name="tls", host="127.0.0.1", port=mute_port, timeout_s=SHORT)
        started = time.monotonic()
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.tls_timeout
        assert time.monotonic() - started < SHORT + MARGIN

    async def test_tcp_failures_map_as_for_tcp(
        self, prober: Prober, closed_port: int, blackhole_port: int
    ) -> None:
        """Refused and black-holed connects are tcp_refused and tcp_timeout."""
        refused = await probe(prober, TlsCheck(name="tls", host="127.0.0.1", port=closed_port))
        hung = await probe(
            prober, TlsCheck(name="tls", host="127.0.0.1", port=blackhole_port, timeout_s=SHORT)
        )
        assert refused.outcome is Outcome.tcp_refused
        assert hung.outcome is Outcome.tcp_timeout


class TestHttp:
    """One request on a fresh connection, judged by status, body, latency and TLS."""

    async def test_ok_with_phases_and_user_agent(self, prober: Prober, http_target: HttpTarget) -> None:
        """A 200 is ok; phases are measured and our User-Agent is sent."""
        observation = await probe(prober, HttpCheck(name="home", url=http_target.url + "/"))
        assert observation.outcome is Outcome.ok
        assert {"connect", "first_byte", "total"} <= set(observation.phases)
        assert all(value >= 0 for value in observation.phases.values())
        assert http_target.requests[-1].headers.get("user-agent") == USER_AGENT

    async def test_https_ok_with_tls_phase_and_days_left(
        self, prober: Prober, https_target: HttpTarget, ca_file: str
    ) -> None:
        """An HTTPS probe has a tls phase and the certificate's days left."""
        check = HttpCheck(name="home", url=https_target.url + "/", ca_file=ca_file)
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok, observation.detail
        assert {"connect", "tls", "first_byte", "total"} <= set(observation.phases)
        assert observation.cert_days_left is not None
        assert observation.cert_days_left > 30

    async def test_fresh_connection_per_probe(self, prober: Prober, probe_server: ProbeServer) -> None:
        """Two probes open two connections, although the server offers keep-alive."""
        check = HttpCheck(name="home", url=probe_server.url + "/")
        first = await probe(prober, check)
        second = await probe(prober, check)
        assert len(probe_server.connections) == 2
        assert len(set(probe_server.connections)) == 2
        assert "connect" in first.phases
        assert "connect" in second.phases
        assert all(request.headers.get("connection") == "close" for request in probe_server.received)

    async def test_status_not_accepted(self, prober: Prober, http_target: HttpTarget) -> None:
        """A status outside the accepted set is http_status, with the code in the detail."""
        http_target.set("status", status=503)
        observation = await probe(prober, HttpCheck(name="home", url=http_target.url + "/"))
        assert observation.outcome is Outcome.http_status
        assert "503" in observation.detail

    async def test_accepted_status_set(self, prober: Prober, http_target: HttpTarget) -> None:
        """The accepted set is the check's: a 404 can be fine."""
        http_target.set("status", status=404)
        check = HttpCheck(name="home", url=http_target.url + "/", accept_status=frozenset({404}))
        assert (await probe(prober, check)).outcome is Outcome.ok

    async def test_method(self, prober: Prober, http_target: HttpTarget) -> None:
        """The check's method is used."""
        await probe(prober, HttpCheck(name="home", url=http_target.url + "/", method="HEAD"))
        assert http_target.requests[-1].method == "HEAD"

    async def test_body_pattern(self, prober: Prober, http_target: HttpTarget) -> None:
        """A body not matching the pattern is http_body_mismatch; a matching one is ok."""
        check = HttpCheck(name="home", url=http_target.url + "/", body_pattern=r"Welcome to \w+")
        http_target.set("body", body="Sorry, we are down for maintenance")
        assert (await probe(prober, check)).outcome is Outcome.http_body_mismatch
        http_target.set("body", body="<h1>Welcome to Messenger</h1>")
        assert (await probe(prober, check)).outcome is Outcome.ok

    async def test_large_body_is_read_up_to_the_limit(
        self, prober: Prober, probe_server: ProbeServer
    ) -> None:
        """A body pattern is matched against the first MiB of a larger body."""
        check = HttpCheck(name="big", url=probe_server.url + "/huge", body_pattern=r"^\{ +$")
        assert (await probe(prober, check)).outcome is Outcome.ok

    @pytest.mark.slow
    async def test_slow(self, prober: Prober, http_target: HttpTarget) -> None:
        """A response slower than slow_after_s is http_slow."""
        http_target.set("slow", delay=0.3)
        check = HttpCheck(name="home", url=http_target.url + "/", slow_after_s=0.1)
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.http_slow
        assert observation.phases["first_byte"] >= 0.3

    @pytest.mark.slow
    async def test_timeout(self, prober: Prober, http_target: HttpTarget) -> None:
        """A silent target is http_timeout, returned at the deadline."""
        http_target.set("silent")
        check = HttpCheck(name="home", url=http_target.url + "/", timeout_s=SHORT)
        started = time.monotonic()
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.http_timeout
        assert time.monotonic() - started < SHORT + MARGIN

    async def test_reset(self, prober: Prober, http_target: HttpTarget) -> None:
        """A connection reset instead of an answer is http_error "reset"."""
        http_target.set("reset")
        observation = await probe(prober, HttpCheck(name="home", url=http_target.url + "/"))
        assert observation.outcome is Outcome.http_error
        assert observation.detail == "reset"

    async def test_refused(self, prober: Prober, closed_port: int) -> None:
        """Nobody listening is http_error "refused"."""
        observation = await probe(prober, HttpCheck(name="home", url=f"http://127.0.0.1:{closed_port}/"))
        assert observation.outcome is Outcome.http_error
        assert observation.detail == "refused"

    async def test_protocol_error(self, prober: Prober, garbage_port: int) -> None:
        """A peer that does not speak HTTP is http_error "protocol"."""
        observation = await probe(prober, HttpCheck(name="home", url=f"http://127.0.0.1:{garbage_port}/"))
        assert observation.outcome is Outcome.http_error
        assert observation.detail.startswith("protocol")

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("expired", Outcome.tls_expired),
            ("wrong_host", Outcome.tls_invalid),
            ("untrusted", Outcome.tls_invalid),
        ],
    )
    async def test_certificate_faults(
        self, prober: Prober, https_target: HttpTarget, ca_file: str, kind: str, expected: Outcome
    ) -> None:
        """Certificate faults over HTTPS are the TLS outcomes."""
        https_target.set_certificate(kind)  # type: ignore[arg-type]
        check = HttpCheck(name="home", url=https_target.url + "/", ca_file=ca_file)
        assert (await probe(prober, check)).outcome is expected

    async def test_redirects_within_the_limit(self, prober: Prober, probe_server: ProbeServer) -> None:
        """Redirects are followed up to max_redirects, each on a fresh connection."""
        check = HttpCheck(
            name="home", url=probe_server.url + "/hop/3", max_redirects=3, body_pattern="landed"
        )
        assert (await probe(prober, check)).outcome is Outcome.ok
        assert [request.path for request in probe_server.received] == ["/hop/3", "/hop/2", "/hop/1", "/hop/0"]
        assert len(set(probe_server.connections)) == 4

    async def test_too_many_redirects(self, prober: Prober, probe_server: ProbeServer) -> None:
        """One redirect beyond the limit is http_error."""
        check = HttpCheck(name="home", url=probe_server.url + "/hop/3", max_redirects=2)
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.http_error
        assert "more than 2 redirects" in observation.detail
        assert len(probe_server.received) == 3

    @pytest.mark.parametrize(
        ("cause", "expected", "detail"),
        [
            (
                socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
                Outcome.dns_nxdomain,
                "resolving",
            ),
            (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), Outcome.dns_servfail, "resolving"),
            (OSError(errno.EHOSTUNREACH, "No route to host"), Outcome.http_error, "connect"),
        ],
    )
    def test_resolution_failures_map_to_dns_outcomes(
        self, cause: OSError, expected: Outcome, detail: str
    ) -> None:
        """A host name that does not resolve is the DNS outcome (the kit cannot feed getaddrinfo)."""
        outcome, text = outcome_for_http_error(connect_error(cause))
        assert outcome is expected
        assert text.startswith(detail)

    def test_other_ssl_errors_are_http_errors(self) -> None:
        """A TLS failure other than verification is an http_error naming TLS."""
        cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
        outcome, text = outcome_for_http_error(connect_error(cause))
        assert outcome is Outcome.http_error
        assert text.startswith("tls")

    async def test_invalid_url(self, prober: Prober) -> None:
        """A URL httpx cannot use is an http_error, not an exception."""
        observation = await probe(prober, HttpCheck(name="home", url="ftp://127.0.0.1/"))
        assert observation.outcome is Outcome.http_error


class TestStatusSources:
    """Status sources fetched over HTTP with the shared client, then read by the parsers."""

    @pytest.mark.parametrize(
        ("fixture", "expected"),
        [
            ("statuspage_none.json", Outcome.ok),
            ("statuspage_minor.json", Outcome.status_minor),
            ("statuspage_critical.json", Outcome.status_major),
        ],
    )
    async def test_statuspage_over_http(
        self, prober: Prober, http_target: HttpTarget, fixture: str, expected: Outcome
    ) -> None:
        """A Statuspage summary served by the kit is read."""
        http_target.route("/api/v2/summary.json", body=(FIXTURES / fixture).read_bytes())
        check = StatusCheck(
            name="status", url=http_target.url + "/api/v2/summary.json", format=StatusFormat.statuspage
        )
        observation = await probe(prober, check)
        assert observation.outcome is expected
        assert observation.role is CheckRole.status

    async def test_feed_over_https(self, prober: Prober, https_target: HttpTarget, ca_file: str) -> None:
        """A feed is fetched over HTTPS with the check's CA."""
        https_target.route(
            "/history.atom",
            body=(FIXTURES / "feed_atom_open.xml").read_bytes(),
            content_type="application/atom+xml",
        )
        check = StatusCheck(
            name="feed", url=https_target.url + "/history.atom", format=StatusFormat.feed, ca_file=ca_file
        )
        # The fixture's open incident dates from 2021, far outside the feed window: ok.
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.ok

    async def test_meta_html_shell_is_a_parse_error(self, prober: Prober, http_target: HttpTarget) -> None:
        """Meta's 200 HTML shell on a wrong path is a parse_error, never "all fine"."""
        http_target.route(
            "/data/orgs.json", body=(FIXTURES / "meta_html_shell.html").read_bytes(), content_type="text/html"
        )
        check = StatusCheck(name="meta", url=http_target.url + "/data/orgs.json", format=StatusFormat.meta)
        assert (await probe(prober, check)).outcome is Outcome.parse_error

    async def test_meta_over_http(self, prober: Prober, http_target: HttpTarget) -> None:
        """Meta's orgs.json, watched by organisation, is read."""
        http_target.route("/data/orgs.json", body=(FIXTURES / "meta_orgs_disrupted.json").read_bytes())
        check = StatusCheck(
            name="meta",
            url=http_target.url + "/data/orgs.json",
            format=StatusFormat.meta,
            components=("whatsapp-business-api",),
        )
        assert (await probe(prober, check)).outcome is Outcome.status_major

    async def test_oversized_source_is_a_parse_error(self, prober: Prober, probe_server: ProbeServer) -> None:
        """A source larger than the status size limit is not read to the end."""
        check = StatusCheck(name="status", url=probe_server.url + "/huge", format=StatusFormat.statuspage)
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.parse_error
        assert "body over" in observation.detail

    async def test_unreachable_source(self, prober: Prober, closed_port: int) -> None:
        """A source that cannot be reached is status_unreachable."""
        check = StatusCheck(
            name="status",
            url=f"http://127.0.0.1:{closed_port}/api/v2/summary.json",
            format=StatusFormat.statuspage,
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.status_unreachable
        assert observation.detail == "refused"

    async def test_error_status_is_unreachable(self, prober: Prober, http_target: HttpTarget) -> None:
        """A non-2xx answer is status_unreachable."""
        http_target.set("status", status=502)
        check = StatusCheck(
            name="status", url=http_target.url + "/api/v2/summary.json", format=StatusFormat.statuspage
        )
        observation = await probe(prober, check)
        assert observation.outcome is Outcome.status_unreachable
        assert "502" in observation.detail

    @pytest.mark.slow
    async def test_silent_source_is_unreachable(self, prober: Prober, http_target: HttpTarget) -> None:
        """A source that never answers is status_unreachable at the deadline."""
        http_target.set("silent")
        check = StatusCheck(
            name="status",
            url=http_target.url + "/api/v2/summary.json",
            format=StatusFormat.statuspage,
            timeout_s=SHORT,
        )
        assert (await probe(prober, check)).outcome is Outcome.status_unreachable


@pytest.mark.slow
class TestRounds:
    """A round probes every check of every platform concurrently, under the bound."""

    async def test_one_silent_platform_does_not_delay_the_others(
        self,
        prober: Prober,
        http_target: HttpTarget,
        probe_server: ProbeServer,
        dns_server: DnsServer,
        listening_port: int,
    ) -> None:
        """The silent platform times out while the others complete promptly, in config order."""
        http_target.set("silent")
        dns_server.set("messenger.test", "noerror")
        deadline = 1.5
        platforms = [
            Platform(
                name="facebook",
                display_name="Facebook",
                family="meta",
                checks=(HttpCheck(name="home", url=http_target.url + "/", timeout_s=deadline),),
            ),
            Platform(
                name="messenger",
                display_name="Messenger",
                family="meta",
                checks=(
                    HttpCheck(name="home", url=probe_server.url + "/"),
                    DnsCheck(
                        name="dns",
                        qname="messenger.test",
                        via=DnsVia.resolvers,
                        servers=(dns_server.endpoint,),
                    ),
                ),
            ),
            Platform(
                name="canary",
                display_name="Canary",
                family=CONTROL_FAMILY,
                checks=(TcpCheck(name="tcp", host="127.0.0.1", port=listening_port),),
            ),
            Platform(
                name="off",
                display_name="Disabled",
                family=None,
                enabled=False,
                checks=(TcpCheck(name="tcp", host="127.0.0.1", port=1),),
            ),
        ]
        observations = await prober.probe_platforms(platforms)
        assert [(o.target, o.check) for o in observations] == [
            ("facebook", "home"),
            ("messenger", "home"),
            ("messenger", "dns"),
            ("canary", "tcp"),
        ]
        silent, *others = observations
        assert silent.outcome is Outcome.http_timeout
        assert all(o.outcome is Outcome.ok for o in others)
        assert all(o.latency_s is not None and o.latency_s < deadline for o in others)
        assert [o.is_control for o in observations] == [False, False, False, True]

    async def test_concurrency_bound(self, probe_server: ProbeServer) -> None:
        """No more probes run at once than the bound allows."""
        check = HttpCheck(name="wait", url=probe_server.url + "/wait")
        platforms = [
            Platform(name=f"p{i}", display_name=f"P{i}", family=None, checks=(check,)) for i in range(6)
        ]
        async with Prober(user_agent=USER_AGENT, clock=utc_now, concurrency=2) as bounded:
            observations = await bounded.probe_platforms(platforms)
        assert all(o.outcome is Outcome.ok for o in observations)
        assert probe_server.max_in_flight == 2

    async def test_injected_clock(self, http_target: HttpTarget) -> None:
        """Observation.at comes from the injected clock."""
        fixed = utc_now().replace(year=2030)
        async with Prober(user_agent=USER_AGENT, clock=lambda: fixed) as fixed_prober:
            observation = await probe(fixed_prober, HttpCheck(name="home", url=http_target.url + "/"))
        assert observation.at == fixed
