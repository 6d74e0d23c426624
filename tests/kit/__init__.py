"""The test kit: real protocol servers on 127.0.0.1 for the whole test suite.

Every server binds an ephemeral loopback port, serves from a thread with its own event loop
(so sync tests, async tests and subprocesses can all use it), and is a context manager.
The matching pytest fixtures live in ``tests/conftest.py``.
"""

from tests.kit._config import (
    OCT_4_2021,
    FakeClock,
    come_back,
    go_dark,
    healthy,
    name_platform,
    tcp_controls,
    whatsapp_platform,
)
from tests.kit._dns import DnsMode, DnsServer
from tests.kit._fakes import FakeMastodon, FakeSignal
from tests.kit._http import (
    CertificateKind,
    Fault,
    Headers,
    HttpServer,
    HttpTarget,
    Mode,
    Request,
    Response,
)
from tests.kit._net import (
    LOOPBACK,
    Blackhole,
    LoopThread,
    StreamServer,
    bind_tcp_and_udp,
    closed_port_socket,
    free_port,
    write_ca_file,
)
from tests.kit._postgres import PG_DATABASE, PG_HOST, PG_PORT, fresh_schema, postgres_user, schema_url
from tests.kit._smtp import ReceivedMessage, SmtpSink
from tests.kit._unbound import Unbound

__all__ = [
    "LOOPBACK",
    "OCT_4_2021",
    "PG_DATABASE",
    "PG_HOST",
    "PG_PORT",
    "Blackhole",
    "CertificateKind",
    "DnsMode",
    "DnsServer",
    "FakeClock",
    "FakeMastodon",
    "FakeSignal",
    "Fault",
    "Headers",
    "HttpServer",
    "HttpTarget",
    "LoopThread",
    "Mode",
    "ReceivedMessage",
    "Request",
    "Response",
    "SmtpSink",
    "StreamServer",
    "Unbound",
    "bind_tcp_and_udp",
    "closed_port_socket",
    "come_back",
    "free_port",
    "fresh_schema",
    "go_dark",
    "healthy",
    "name_platform",
    "postgres_user",
    "schema_url",
    "tcp_controls",
    "whatsapp_platform",
    "write_ca_file",
]
