"""Fixtures shared by the whole suite: the test kit's loopback servers, one per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from hypothesis import settings

from tests.kit import (
    Blackhole,
    DnsServer,
    FakeMastodon,
    FakeSignal,
    HttpTarget,
    SmtpSink,
    World,
    closed_port_socket,
    healthy,
    write_ca_file,
)

#: Property tests in CI draw their examples from the test itself and keep nothing between
#: runs: a failure there is the same failure on the next run and on a laptop, and a bound
#: that holds "in all but 0.3 % of runs" cannot fail by chance. Elsewhere they explore.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _template_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled templates kept in a directory of the session's, never in the home of whoever
    runs the tests (commands and daemons started by tests inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("CACHE_DIRECTORY", raising=False)
        yield


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The certificate authority that issues every test certificate."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the session CA's certificate PEM, for clients to trust."""
    return write_ca_file(ca, tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    """A plain HTTP target in mode "ok"."""
    with HttpTarget() as target:
        yield target


@pytest.fixture
def https_target(ca: trustme.CA) -> Iterator[HttpTarget]:
    """An HTTPS target with a valid certificate for localhost from the session CA."""
    with HttpTarget(tls=ca) as target:
        yield target


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A DNS server (UDP and TCP) that answers NXDOMAIN until names are set."""
    with DnsServer() as server:
        yield server


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A plain SMTP server that accepts and keeps every message."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def fake_signal() -> Iterator[FakeSignal]:
    """A fake signal-cli-rest-api answering 201 to every valid send."""
    with FakeSignal() as fake:
        yield fake


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    """A fake Mastodon instance accepting any token."""
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback TCP port where connect() is refused, reserved for the test's duration."""
    with closed_port_socket() as sock:
        yield sock.getsockname()[1]


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback TCP port where connect() times out (see ``Blackhole``)."""
    with Blackhole() as blackhole:
        yield blackhole.port


@pytest.fixture
def world(
    tmp_path: Path, dns_server: DnsServer, http_target: HttpTarget, smtp_sink: SmtpSink
) -> Iterator[World]:
    """A daemon's world on 127.0.0.1, healthy: whatsapp, three controls, DNS and SMTP."""
    healthy(dns_server)
    with HttpTarget() as control:
        yield World(
            dns=dns_server, front_door=http_target, control=control, smtp=smtp_sink, tmp_path=tmp_path
        )
