"""The test kit: real protocol servers on 127.0.0.1 for the whole test suite.

The servers ``failover demo`` runs too (DNS, HTTP, SMTP and their loopback plumbing) ship
with the product in :mod:`failover.testing` and are re-exported here; the kit adds what only
the tests need: fake notification APIs, Unbound, PostgreSQL schemas, configuration snippets.
Every server binds an ephemeral loopback port, serves from a thread with its own event loop
(so sync tests, async tests and subprocesses can all use it), and is a context manager.
The matching pytest fixtures live in ``tests/conftest.py``.
"""

from failover.testing import (
    LOOPBACK,
    Blackhole,
    CertificateKind,
    DnsMode,
    DnsServer,
    Fault,
    Headers,
    HttpServer,
    HttpTarget,
    LoopThread,
    Mode,
    ReceivedMessage,
    Request,
    Response,
    Served,
    SmtpSink,
    StreamServer,
    bind_tcp_and_udp,
    closed_port_socket,
    free_port,
    write_ca_file,
)
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
from tests.kit._fakes import FakeMastodon, FakeSignal
from tests.kit._postgres import PG_DATABASE, PG_HOST, PG_PORT, fresh_schema, postgres_user, schema_url
from tests.kit._unbound import Unbound
from tests.kit._world import API_TOKEN, World

__all__ = [
    "API_TOKEN",
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
    "Served",
    "SmtpSink",
    "StreamServer",
    "Unbound",
    "World",
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
