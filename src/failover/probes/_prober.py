"""The round runner: one hard deadline per check, a bound on concurrency, shared clients."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType

import httpx

from failover.domain import (
    Check,
    CheckKind,
    DnsCheck,
    Endpoint,
    HttpCheck,
    Observation,
    Outcome,
    Platform,
    StatusCheck,
    TcpCheck,
    TlsCheck,
)
from failover.probes._dns import SystemResolver, probe_dns
from failover.probes._finding import Finding, Progress
from failover.probes._http import fetch_status, new_client, probe_http
from failover.probes._lookup import DEFAULT_LOOKUP_TIMEOUT_S, NameLookup
from failover.probes._tcp import probe_tcp
from failover.probes._tls import probe_tls

__all__ = ["Prober"]

_TIMEOUT_OUTCOME = {
    CheckKind.dns: Outcome.dns_timeout,
    CheckKind.tcp: Outcome.tcp_timeout,
    CheckKind.tls: Outcome.tls_timeout,
    CheckKind.http: Outcome.http_timeout,
    CheckKind.statuspage: Outcome.status_unreachable,
}


class Prober:
    """Runs checks and returns observations; a target being down is an observation, never an error.

    One instance per process: it owns the HTTP clients (one per distinct ``ca_file``, each
    opening a fresh connection per request) and the TLS contexts, and closes them in
    :meth:`aclose`. ``clock`` stamps ``Observation.at`` (tz-aware UTC); ``monotonic``
    measures latencies. ``system_nameservers`` replaces the host's resolver configuration
    for ``via = "system"`` checks and for resolving server names (tests, or hosts without a
    usable ``/etc/resolv.conf``).
    """

    def __init__(
        self,
        *,
        user_agent: str,
        concurrency: int = 32,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.perf_counter,
        system_nameservers: Sequence[Endpoint] | None = None,
        lookup_timeout_s: float = DEFAULT_LOOKUP_TIMEOUT_S,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._user_agent = user_agent
        self._semaphore = asyncio.Semaphore(concurrency)
        # the controls judge whether our own network works: a dark platform's checks, however
        # many hang, must never hold the slots a control waits for
        self._control_semaphore = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._monotonic = monotonic
        self._system = SystemResolver(system_nameservers)
        self._lookup = NameLookup(self._system, timeout_s=lookup_timeout_s)
        self._contexts: dict[str | None, ssl.SSLContext] = {}
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._closed = False

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client; the prober cannot be used afterwards."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _context(self, ca_file: str | None) -> ssl.SSLContext:
        # Loading the trust store costs milliseconds; build each context once.
        context = self._contexts.get(ca_file)
        if context is None:
            context = ssl.create_default_context(cafile=ca_file)
            self._contexts[ca_file] = context
        return context

    def _client(self, ca_file: str | None) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("the prober is closed")
        client = self._clients.get(ca_file)
        if client is None:
            client = new_client(
                user_agent=self._user_agent, context=self._context(ca_file), lookup=self._lookup
            )
            self._clients[ca_file] = client
        return client

    async def _run(self, check: Check, progress: Progress, now: datetime) -> Finding:
        if isinstance(check, HttpCheck):
            return await probe_http(check, progress, self._monotonic, self._client(check.ca_file), now)
        if isinstance(check, DnsCheck):
            return await probe_dns(check, progress, self._monotonic, self._system)
        if isinstance(check, TcpCheck):
            return await probe_tcp(check, progress, self._monotonic, self._lookup)
        if isinstance(check, TlsCheck):
            context = self._context(check.ca_file)
            return await probe_tls(check, progress, self._monotonic, context, now=now, lookup=self._lookup)
        if isinstance(check, StatusCheck):
            return await fetch_status(check, progress, self._monotonic, self._client(check.ca_file), now)
        raise TypeError(f"unknown check type {type(check).__name__}")

    async def probe(
        self, *, target: str, check: Check, is_control: bool = False, timeout_cap_s: float | None = None
    ) -> Observation:
        """Run one check under its hard deadline (``check.timeout_s``, or ``timeout_cap_s``
        when that is shorter) and the concurrency bound (the controls have their own)."""
        timeout_s = check.timeout_s if timeout_cap_s is None else min(check.timeout_s, timeout_cap_s)
        if timeout_s != check.timeout_s:
            check = replace(check, timeout_s=timeout_s)
        async with self._control_semaphore if is_control else self._semaphore:
            at = self._clock()
            progress = Progress(timeout_outcome=_TIMEOUT_OUTCOME[check.kind])
            started = self._monotonic()
            try:
                async with asyncio.timeout(timeout_s):
                    finding = await self._run(check, progress, at)
            except TimeoutError:
                detail = f"no result within {timeout_s:g}s"
                finding = Finding(
                    outcome=progress.timeout_outcome,
                    detail=f"{detail}; {progress.detail}" if progress.detail else detail,
                )
            latency = self._monotonic() - started
        return Observation(
            target=target,
            check=check.name,
            kind=check.kind,
            role=check.role,
            outcome=finding.outcome,
            at=at,
            latency_s=latency,
            detail=finding.detail,
            phases=finding.phases,
            cert_days_left=finding.cert_days_left,
            is_control=is_control,
            secure=check.url.lower().startswith("https:") if isinstance(check, HttpCheck) else None,
        )

    async def probe_platforms(
        self, platforms: Sequence[Platform], *, timeout_cap_s: float | None = None
    ) -> list[Observation]:
        """Every check of every enabled platform, concurrently; results in configuration order."""
        return list(
            await asyncio.gather(
                *(
                    self.probe(
                        target=platform.name,
                        check=check,
                        is_control=platform.is_control,
                        timeout_cap_s=timeout_cap_s,
                    )
                    for platform in platforms
                    if platform.enabled
                    for check in platform.checks
                )
            )
        )
