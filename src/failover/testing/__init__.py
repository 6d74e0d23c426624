"""The fake world on 127.0.0.1: real protocol servers that ``failover demo`` and the tests share.

As ``structlog.testing`` ships with structlog, these ship with failover: a DNS server whose
names are switched between answers and the ways DNS fails (:class:`DnsServer`), HTTP(S)
targets with switchable faults (:class:`HttpTarget`, built on :class:`HttpServer`), an SMTP
sink that keeps what it receives (:class:`SmtpSink`, aiosmtpd), and the loopback plumbing
under them. Every server binds an ephemeral loopback port, serves from a thread with its own
event loop (so sync code, async code and subprocesses can all use it), and is a context
manager. Nothing here sends a packet off the machine.

Only ``failover.demo`` and the tests import this package; the daemon never does. TLS
(``tls=``) takes a ``trustme.CA``, a development dependency, from a caller that has it.
"""

from failover.testing._dns import DnsMode, DnsServer
from failover.testing._http import (
    CertificateKind,
    Fault,
    Headers,
    HttpServer,
    HttpTarget,
    Mode,
    Request,
    Response,
)
from failover.testing._net import (
    LOOPBACK,
    Blackhole,
    LoopThread,
    Served,
    StreamServer,
    bind_tcp_and_udp,
    closed_port_socket,
    free_port,
    write_ca_file,
)
from failover.testing._smtp import ReceivedMessage, SmtpSink

__all__ = [
    "LOOPBACK",
    "Blackhole",
    "CertificateKind",
    "DnsMode",
    "DnsServer",
    "Fault",
    "Headers",
    "HttpServer",
    "HttpTarget",
    "LoopThread",
    "Mode",
    "ReceivedMessage",
    "Request",
    "Response",
    "Served",
    "SmtpSink",
    "StreamServer",
    "bind_tcp_and_udp",
    "closed_port_socket",
    "free_port",
    "write_ca_file",
]
