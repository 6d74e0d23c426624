"""DNS probes through the system resolver, listed resolvers, or straight to authoritative servers."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Sequence

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver

from failover.domain import DnsCheck, DnsVia, Endpoint, Outcome
from failover.probes._finding import Finding, Progress

__all__ = ["SystemResolver", "outcome_for_no_nameservers", "outcome_for_rcode", "probe_dns"]

# When several answers disagree and none is ok, the most telling one is reported.
_PRECEDENCE = (
    Outcome.dns_servfail,
    Outcome.dns_nxdomain,
    Outcome.dns_refused,
    Outcome.dns_no_answer,
    Outcome.dns_timeout,
)
# Inner timeouts end a little before the hard deadline so that per-server results survive.
_INNER_SHARE = 0.9


def outcome_for_rcode(rcode: int, *, has_answer: bool) -> Outcome:
    """Map a response code (and whether the answer section held the asked type)."""
    if rcode == dns.rcode.NOERROR:
        return Outcome.ok if has_answer else Outcome.dns_no_answer
    if rcode == dns.rcode.NXDOMAIN:
        return Outcome.dns_nxdomain
    if rcode == dns.rcode.REFUSED:
        return Outcome.dns_refused
    return Outcome.dns_servfail


def _most_telling(outcomes: Sequence[Outcome]) -> Outcome:
    if Outcome.ok in outcomes:
        return Outcome.ok
    return min(outcomes, key=_PRECEDENCE.index, default=Outcome.dns_timeout)


class SystemResolver:
    """The resolver configuration of the host (``/etc/resolv.conf``), read once and lazily.

    ``nameservers`` overrides it (tests, or hosts without a usable resolv.conf).
    """

    def __init__(self, nameservers: Sequence[Endpoint] | None = None) -> None:
        self._override = tuple(nameservers) if nameservers is not None else None
        self._resolver: dns.asyncresolver.Resolver | None = None

    def get(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            if self._override is None:
                self._resolver = dns.asyncresolver.Resolver()
            else:
                self._resolver = dns.asyncresolver.Resolver(configure=False)
                self._resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(server.host, server.port) for server in self._override
                ]
        return self._resolver


def outcome_for_no_nameservers(exc: dns.resolver.NoNameservers) -> Outcome:
    codes = []
    for error in exc.kwargs.get("errors", []):
        response = error[4] if len(error) > 4 else None
        if isinstance(response, dns.message.Message):
            codes.append(outcome_for_rcode(response.rcode(), has_answer=False))
    return _most_telling(codes) if codes else Outcome.dns_servfail


async def _resolve(
    resolver: dns.asyncresolver.Resolver, qname: str, rdtype: str, lifetime: float
) -> tuple[Outcome, str]:
    try:
        answer = await resolver.resolve(qname, rdtype, lifetime=lifetime)
    except dns.resolver.NXDOMAIN:
        return Outcome.dns_nxdomain, f"{rdtype}: NXDOMAIN"
    except dns.resolver.NoAnswer:
        return Outcome.dns_no_answer, f"{rdtype}: no answer"
    except dns.resolver.NoNameservers as exc:
        outcome = outcome_for_no_nameservers(exc)
        return outcome, f"{rdtype}: {outcome.value.removeprefix('dns_').upper()}"
    except dns.exception.Timeout:
        return Outcome.dns_timeout, f"{rdtype}: timeout"
    except dns.exception.DNSException as exc:
        return Outcome.dns_servfail, f"{rdtype}: {type(exc).__name__}"
    records = ",".join(sorted(rdata.to_text() for rdata in answer))
    return Outcome.ok, f"{rdtype}: {records[:120]}"


async def _via_resolver(check: DnsCheck, resolver: dns.asyncresolver.Resolver, lifetime: float) -> Finding:
    results = await asyncio.gather(
        *(_resolve(resolver, check.qname, t, lifetime) for t in check.record_types)
    )
    return Finding(
        outcome=_most_telling([outcome for outcome, _ in results]),
        detail="; ".join(text for _, text in results),
    )


async def _addresses(server: Endpoint, system: SystemResolver, lifetime: float) -> list[str]:
    """The IP addresses of a server given by address or by name (resolved via the system)."""
    try:
        ipaddress.ip_address(server.host)
    except ValueError:
        answer = await system.get().resolve(server.host, "A", lifetime=lifetime)
        return [rdata.to_text() for rdata in answer]
    return [server.host]


async def _ask_authority(address: str, port: int, qname: str, rdtype: str, wait_s: float) -> Outcome:
    query = dns.message.make_query(qname, rdtype)
    query.flags &= ~dns.flags.RD  # an authoritative server answers from its own zone
    response, _ = await dns.asyncquery.udp_with_fallback(query, address, timeout=wait_s, port=port)
    if response.rcode() == dns.rcode.NOERROR and not response.flags & dns.flags.AA:
        return Outcome.dns_refused  # a lame server: it answers, but not for this zone
    wanted = dns.rdatatype.from_text(rdtype)
    has_answer = any(rrset.rdtype == wanted for rrset in response.answer)
    return outcome_for_rcode(response.rcode(), has_answer=has_answer)


async def _server_result(
    server: Endpoint, check: DnsCheck, system: SystemResolver, deadline: float, clock: Callable[[], float]
) -> tuple[Outcome, str]:
    try:
        addresses = await _addresses(server, system, max(deadline - clock(), 0.001))
    except dns.exception.Timeout:
        return Outcome.dns_timeout, f"{server}: timeout resolving its name"
    except dns.resolver.NXDOMAIN:
        return Outcome.dns_nxdomain, f"{server}: its name does not exist"
    except dns.exception.DNSException as exc:
        return Outcome.dns_servfail, f"{server}: cannot resolve its name ({type(exc).__name__})"
    outcomes: list[Outcome] = []
    for rdtype in check.record_types:
        for address in addresses:
            try:
                outcome = await _ask_authority(
                    address, server.port, check.qname, rdtype, max(deadline - clock(), 0.001)
                )
            except dns.exception.Timeout:
                outcome = Outcome.dns_timeout
            except ConnectionRefusedError:  # nothing listens there (ICMP port unreachable)
                outcome = Outcome.dns_refused
            except (dns.exception.DNSException, OSError):
                outcome = Outcome.dns_servfail
            outcomes.append(outcome)
            if outcome is Outcome.ok:
                break
    outcome = _most_telling(outcomes)
    return outcome, f"{server}: {outcome.value}"


async def _via_authority(
    check: DnsCheck, system: SystemResolver, deadline: float, clock: Callable[[], float], progress: Progress
) -> Finding:
    if not check.servers:
        return Finding(outcome=Outcome.dns_servfail, detail="no authoritative servers configured")
    done: dict[Endpoint, tuple[Outcome, str]] = {}

    async def ask(server: Endpoint) -> None:
        done[server] = await _server_result(server, check, system, deadline, clock)
        progress.detail = "; ".join(text for _, text in done.values())

    await asyncio.gather(*(ask(server) for server in check.servers))
    results = [done[server] for server in check.servers]
    return Finding(
        outcome=_most_telling([outcome for outcome, _ in results]),
        detail="; ".join(text for _, text in results),
    )


async def probe_dns(
    check: DnsCheck, progress: Progress, monotonic: Callable[[], float], system: SystemResolver
) -> Finding:
    """Resolve or query as ``check.via`` says; every failure is an outcome."""
    progress.timeout_outcome = Outcome.dns_timeout
    budget = check.timeout_s * _INNER_SHARE
    if check.via is DnsVia.system:
        try:
            resolver = system.get()
        except dns.exception.DNSException as exc:  # e.g. no usable /etc/resolv.conf
            return Finding(outcome=Outcome.dns_servfail, detail=f"system resolver: {type(exc).__name__}")
        return await _via_resolver(check, resolver, budget)
    deadline = monotonic() + budget
    if check.via is DnsVia.resolvers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        nameservers: list[str | dns.nameserver.Nameserver] = []
        for server in check.servers:
            try:
                addresses = await _addresses(server, system, max(deadline - monotonic(), 0.001))
            except dns.exception.DNSException as exc:
                progress.detail = f"{server}: cannot resolve its name ({type(exc).__name__})"
                continue
            nameservers.extend(dns.nameserver.Do53Nameserver(address, server.port) for address in addresses)
        if not nameservers:
            return Finding(outcome=Outcome.dns_servfail, detail=progress.detail or "no resolvers configured")
        resolver.nameservers = nameservers
        return await _via_resolver(check, resolver, max(deadline - monotonic(), 0.001))
    return await _via_authority(check, system, deadline, monotonic, progress)
