"""An authoritative-style DNS server over UDP and TCP on one loopback port, built on dnspython.

Each name is switched at run time between a proper answer and the ways DNS fails in the
wild (NXDOMAIN, SERVFAIL, REFUSED, an empty answer, silence), the failures the probes map
to outcomes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast, get_args

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from failover.domain import Endpoint
from failover.testing._net import LOOPBACK, LoopThread, Served, StreamServer, bind_tcp_and_udp

__all__ = ["DnsMode", "DnsServer"]

DnsMode = Literal["noerror", "nxdomain", "servfail", "refused", "nodata", "silent", "truncated"]

_TTL = 60
_LENGTH = struct.Struct("!H")
_RCODES = {
    "nxdomain": dns.rcode.NXDOMAIN,
    "servfail": dns.rcode.SERVFAIL,
    "refused": dns.rcode.REFUSED,
}


@dataclass(frozen=True, slots=True)
class _Zone:
    mode: DnsMode
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


def _soa(name: dns.name.Name) -> dns.rrset.RRset:
    return dns.rrset.from_text(
        name, _TTL, "IN", "SOA", f"ns1.{name} hostmaster.{name} 1 3600 600 86400 {_TTL}"
    )


def _records(name: dns.name.Name, rdtype: dns.rdatatype.RdataType, zone: _Zone) -> dns.rrset.RRset | None:
    if rdtype == dns.rdatatype.A and zone.ipv4:
        return dns.rrset.from_text_list(name, _TTL, "IN", "A", list(zone.ipv4))
    if rdtype == dns.rdatatype.AAAA and zone.ipv6:
        return dns.rrset.from_text_list(name, _TTL, "IN", "AAAA", list(zone.ipv6))
    if rdtype == dns.rdatatype.SOA:
        return _soa(name)
    if rdtype == dns.rdatatype.NS:
        return dns.rrset.from_text(name, _TTL, "IN", "NS", f"ns1.{name}")
    return None


class DnsServer(Served):
    """Answers queries on 127.0.0.1, UDP and TCP on the same ephemeral port.

    ``set(name, mode)`` decides the answer for one name; names never set get NXDOMAIN.
    Every query is recorded in ``queries`` as ``(name, type)``, e.g. ``("facebook.com", "A")``
    (lower case, no trailing dot), silent ones included.
    """

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.queries: list[tuple[str, str]] = []
        #: the transport of each query, in the order of ``queries``
        self.transports: list[Literal["udp", "tcp"]] = []
        self._zones: dict[dns.name.Name, _Zone] = {}
        self._lock = threading.Lock()
        self._loop = LoopThread("DnsServer-loop")
        self._tcp = StreamServer(self._serve_tcp)
        self._udp: asyncio.DatagramTransport | None = None

    @property
    def endpoint(self) -> Endpoint:
        """The server as failover configures a DNS server."""
        return Endpoint(host=self.host, port=self.port)

    def set(self, name: str, mode: DnsMode, *, addresses: Iterable[str] = ("127.0.0.1",)) -> None:
        """Decide how ``name`` (any case, trailing dot or not) is answered from now on.

        ``noerror`` answers A with the IPv4 ``addresses``, AAAA with the IPv6 ones (``::1``
        when none is given), and SOA and NS for the name; other types get an empty answer.
        ``truncated`` answers over UDP with the TC flag and nothing else (as a server does
        when the answer does not fit a datagram) and over TCP as ``noerror`` does.
        """
        if mode not in get_args(DnsMode):
            raise ValueError(f"unknown DNS mode {mode!r}; expected one of {get_args(DnsMode)}")
        parsed = [ipaddress.ip_address(address) for address in addresses]
        ipv4 = tuple(str(a) for a in parsed if a.version == 4)
        ipv6 = tuple(str(a) for a in parsed if a.version == 6) or ("::1",)
        with self._lock:
            self._zones[dns.name.from_text(name)] = _Zone(mode, ipv4, ipv6)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind UDP and TCP on one port and serve in the background."""
        tcp, udp = bind_tcp_and_udp()
        self.port = tcp.getsockname()[1]
        self._loop.start()
        try:
            self._loop.run(self._listen(tcp, udp))
        except BaseException:
            tcp.close()
            udp.close()
            self.stop()
            raise

    async def _listen(self, tcp: socket.socket, udp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp)
        await self._tcp.start(tcp)

    def stop(self) -> None:
        """Close both sockets and every TCP connection, then end the thread."""
        if self._udp is not None:
            self._loop.run(self._close())
        self._loop.stop()

    async def _close(self) -> None:
        assert self._udp is not None
        self._udp.close()
        self._udp = None
        await self._tcp.close()

    # --- answering ---------------------------------------------------------------------------

    def answer(self, wire: bytes, *, tcp: bool = False) -> bytes | None:
        """Return the response to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not DNS: a real server would drop it too
        if not query.question:
            return None
        question = query.question[0]
        qname, rdtype = question.name, dns.rdatatype.RdataType(question.rdtype)
        self.queries.append((qname.to_text(omit_final_dot=True).lower(), dns.rdatatype.to_text(rdtype)))
        self.transports.append("tcp" if tcp else "udp")
        with self._lock:
            zone = self._zones.get(qname, _Zone("nxdomain", (), ()))
        if zone.mode == "silent":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if zone.mode == "truncated" and not tcp:
            response.flags |= dns.flags.TC
            return response.to_wire()
        if zone.mode in _RCODES:
            response.set_rcode(_RCODES[zone.mode])
            if zone.mode == "nxdomain":
                response.authority.append(_soa(qname))
            return response.to_wire()
        records = _records(qname, rdtype, zone) if zone.mode in ("noerror", "truncated") else None
        if records is None:
            # NODATA: the name exists but has no record of this type; the SOA in the
            # authority section is what a real server sends for negative caching.
            response.authority.append(_soa(qname))
        else:
            response.answer.append(records)
        return response.to_wire()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                    wire = await reader.readexactly(length)
                except asyncio.IncompleteReadError:
                    return  # the client is done
                reply = self.answer(wire, tcp=True)
                if reply is None:
                    # Silent over TCP: answer nothing until the client hangs up or stop().
                    await reader.read()
                    return
                writer.write(_LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except OSError:
            writer.transport.abort()
        finally:
            if not writer.transport.is_closing():
                writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        reply = self._server.answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)
