"""A real recursive resolver (Debian's ``unbound``) on loopback, in front of a kit ``DnsServer``.

The probes resolve names through a recursive resolver, and what a resolver does when the
authority behind it goes silent (4 October 2021) is not what a silent authority does: it
keeps working on the query, answers nothing for a while, then SERVFAIL. ``Unbound`` runs the
real thing so that the end-to-end tests see real resolver behaviour, not a model of it.

Safety first: every query goes to the kit server only. The configuration forwards the root
(``forward-zone: "."``) to ``upstream``, which must be a loopback address; outgoing queries
are sent from 127.0.0.1 (``outgoing-interface``), over IPv4 only; there is no trust anchor
and no validator (``module-config: "iterator"``), so unbound never primes the root or
fetches keys; remote control is off; it listens on 127.0.0.1 only.

Caching models a cache that has already expired: a real resolver's cache hides an outage
until the TTL runs out (public resolvers showed SERVFAIL within ~11 minutes on 4 Oct 2021),
here ``cache-max-ttl`` and ``cache-max-negative-ttl`` are 1 s, so a change of the kit's
answers shows through within about 2 s (unbound counts TTLs in whole seconds). The host
cache is short (``infra-host-ttl: 10``) and unbound keeps probing a server it believes down
(``infra-keep-probing: yes``), so that a healed upstream is noticed within seconds; every
query timeout and retry schedule is unbound's own (stock), which is the point.

Measured here (unbound 1.17.1, Debian bookworm, this configuration; a dnspython client
asking once a second with a 1 s timeout):

* one name silent, the others answered: the first query gets no reply at all. unbound
  retries the upstream (0, 0.2, 0.4, 0.9, 1.3, 2.2, 3.0, 4.8, 6.5, 9.9 s ...) and drops the
  client's query once it has waited ``discard-timeout`` (1.9 s, stock): a stub sees a
  timeout, not an answer. The first SERVFAIL came 3.6 s in; then SERVFAIL at once for ~6 s
  (unbound's failure cache), ~5 s of timeouts, and so on: over 60 s, 28 timeouts, 32
  SERVFAIL, no answer. The names the upstream still answers resolved every time (60/60);
* every name silent: first SERVFAIL 10.3 s after the first query, then cycles of ~17 s of
  timeouts and ~6 s of SERVFAIL (150 s: 108 timeouts, 42 SERVFAIL);
* after the heal: answers again 4.0 s later (one name, 60 s of silence) and 0.5 s later
  (every name, 150 s of silence);
* with the stock host cache instead (``infra-host-ttl: 900``, no keep-probing), after 150 s
  of total silence the retries had backed off to 46, 80 and 141 s, and 110 s after the heal
  unbound still timed out or answered SERVFAIL: hence the two settings above;
* through the daemon (``tests/e2e/test_outage_2021.py``, 1.5 s lookups), the probes saw
  both outcomes: ``dns_timeout`` and ``dns_servfail`` (SERVFAIL after ~1.1 s when several
  silent names were asked at once).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from failover.domain import Endpoint
from failover.testing import LOOPBACK, Served, bind_tcp_and_udp

__all__ = ["Unbound"]

#: Where Debian installs the daemon.
UNBOUND_BINARY = "/usr/sbin/unbound"
#: A name nobody sets on the kit's DnsServer: it answers NXDOMAIN, which shows that the
#: whole path (client → unbound → upstream) works.
READY_NAME = "unbound-ready.kit.test."

_CONFIG = """\
server:
    username: ""
    chroot: ""
    directory: "{directory}"
    pidfile: "{directory}/unbound.pid"
    use-syslog: no
    logfile: "{directory}/unbound.log"
    log-time-ascii: yes
    verbosity: 1
    num-threads: 1
    interface: {host}@{port}
    outgoing-interface: {host}
    do-ip4: yes
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    # the kit serves names under .test, which unbound answers itself (RFC 6761) by default
    local-zone: "test." nodefault
    # a cache that has already expired: the outage shows through within ~2 s
    cache-max-ttl: 1
    cache-max-negative-ttl: 1
    # notice a healed upstream within seconds instead of the stock 15 minutes
    infra-host-ttl: 10
    infra-keep-probing: yes

remote-control:
    control-enable: no

forward-zone:
    name: "."
    forward-addr: {upstream_host}@{upstream_port}
"""


def _is_loopback(host: str) -> bool:
    """An IPv4 loopback address (unbound runs IPv4 only)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


class Unbound(Served):
    """``unbound -d`` as a child process, listening on 127.0.0.1 (UDP and TCP, one port),
    forwarding every query to ``upstream`` (a kit ``DnsServer`` on loopback).

    A context manager; ``start`` returns once unbound answers through the upstream
    (``ready_timeout`` at most). ``log_text()`` returns unbound's own log.
    """

    def __init__(
        self,
        upstream: Endpoint,
        *,
        binary: str = UNBOUND_BINARY,
        ready_name: str = READY_NAME,
        ready_timeout: float = 30.0,
    ) -> None:
        if not _is_loopback(upstream.host):
            raise ValueError(f"the upstream must be an address in 127.0.0.0/8, not {upstream.host!r}")
        self.upstream = upstream
        self.binary = binary
        self.host = LOOPBACK
        self.port = 0
        self._ready_name = ready_name
        self._ready_timeout = ready_timeout
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: Path | None = None

    @property
    def endpoint(self) -> Endpoint:
        """The resolver as failover configures a DNS server."""
        return Endpoint(host=self.host, port=self.port)

    @property
    def pid(self) -> int | None:
        """The unbound process's id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def directory(self) -> Path:
        """The temporary directory holding the configuration, the pid file and the log."""
        if self._tempdir is None:
            raise RuntimeError("Unbound: not started")
        return Path(self._tempdir.name)

    @staticmethod
    def available(binary: str = UNBOUND_BINARY) -> bool:
        """Whether the unbound binary is installed and executable."""
        return os.access(binary, os.X_OK) or shutil.which(binary) is not None

    @staticmethod
    def require(binary: str = UNBOUND_BINARY) -> None:
        """Fail the calling test if unbound is missing under CI (``CI=true``), skip it otherwise."""
        if Unbound.available(binary):
            return
        import pytest  # the kit's servers need no pytest; only this test-facing policy does

        message = f"{binary} is not installed (Debian package 'unbound'; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    def config_text(self) -> str:
        """The configuration file unbound runs on (valid once ``start`` picked a port)."""
        return _CONFIG.format(
            directory=self.directory,
            host=self.host,
            port=self.port,
            upstream_host=self.upstream.host,
            upstream_port=self.upstream.port,
        )

    def log_text(self) -> str:
        """unbound's log file and whatever it wrote to stdout/stderr."""
        if self._tempdir is None:
            return ""
        parts = []
        for path in (self.directory / "unbound.log", self.directory / "output.log"):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, *, attempts: int = 3) -> None:
        """Write the configuration, run unbound in the foreground, wait until it answers.

        A port taken between picking and binding (another process won the race) is retried
        on a fresh port, ``attempts`` times in all.
        """
        if self._process is not None:
            raise RuntimeError("Unbound: already started")
        self._tempdir = tempfile.TemporaryDirectory(prefix="failover-unbound-")
        try:
            started = any(self._launch() for _ in range(attempts))
        except BaseException:
            self.stop()
            raise
        if not started:
            log = self.log_text()[-3000:]
            self.stop()
            raise RuntimeError(f"unbound did not start after {attempts} attempts:\n{log}")

    def _launch(self) -> bool:
        """One try: True once it answers, False if it exited (e.g. the port was taken)."""
        tcp, udp = bind_tcp_and_udp()
        self.port = tcp.getsockname()[1]
        tcp.close()
        udp.close()
        config = self.directory / "unbound.conf"
        config.write_text(self.config_text())
        self._output = self.directory / "output.log"
        with self._output.open("ab") as output:
            self._process = subprocess.Popen(
                [self.binary, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        raise RuntimeError(
            f"unbound did not answer within {self._ready_timeout:g} s:\n{self.log_text()[-3000:]}"
        )

    def _answers(self) -> bool:
        """Whether a query for the ready name gets the upstream's answer through unbound."""
        query = dns.message.make_query(self._ready_name, "A")
        try:
            response = dns.query.udp(query, self.host, port=self.port, timeout=0.5)
        except (dns.exception.DNSException, OSError):
            return False
        return response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)

    def stop(self) -> None:
        """Stop unbound (SIGTERM, then SIGKILL after 10 s) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
