"""TCP connect probes, and the mapping of connect errors to outcomes shared by TLS and HTTP."""

from __future__ import annotations

import asyncio
import errno
import re
import socket
from collections.abc import Callable

from failover.domain import Outcome, TcpCheck
from failover.probes._finding import Finding, Progress
from failover.probes._lookup import NameLookup, NameLookupError

__all__ = [
    "close_quietly",
    "connect",
    "dns_outcome_for_gaierror",
    "outcome_for_connect_error",
    "probe_tcp",
]

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_REFUSED = {errno.ECONNREFUSED}
_TIMED_OUT = {errno.ETIMEDOUT}
# asyncio (3.11) folds the failures of several addresses into one OSError without errno.
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")

_NAME_NOT_FOUND = {
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, name)
}


def dns_outcome_for_gaierror(exc: socket.gaierror) -> Outcome:
    """Map a getaddrinfo failure: the name does not exist, or resolution failed.

    glibc reports both SERVFAIL and resolver timeouts as EAI_AGAIN ("temporary failure in
    name resolution"); we call that dns_servfail, the signature of an unreachable zone.
    """
    if exc.errno in _NAME_NOT_FOUND:
        return Outcome.dns_nxdomain
    return Outcome.dns_servfail


def _errnos(exc: OSError) -> set[int]:
    if exc.errno is not None:
        return {exc.errno}
    return {int(found) for found in _ERRNO_IN_TEXT.findall(str(exc))}


def outcome_for_connect_error(exc: OSError) -> Outcome:
    """Map the OSError of a failed TCP connect to an outcome.

    Refused and timed out are what they say; host or network unreachable (and anything else
    that stopped the packets) is tcp_unreachable; a name that does not resolve is a DNS outcome.
    """
    if isinstance(exc, NameLookupError):
        return exc.outcome
    if isinstance(exc, socket.gaierror):
        return dns_outcome_for_gaierror(exc)
    if isinstance(exc, TimeoutError):
        return Outcome.tcp_timeout
    codes = _errnos(exc)
    if codes and codes <= _REFUSED:
        return Outcome.tcp_refused
    if codes and codes <= _TIMED_OUT:
        return Outcome.tcp_timeout
    if codes & _UNREACHABLE:
        return Outcome.tcp_unreachable
    if codes & _REFUSED:
        return Outcome.tcp_refused
    return Outcome.tcp_unreachable


def describe_os_error(exc: OSError) -> str:
    """A short, stable description: the errno name when there is one."""
    if isinstance(exc, NameLookupError):
        return exc.detail[:200]
    if exc.errno is not None and exc.errno in errno.errorcode:
        return f"{errno.errorcode[exc.errno]}: {exc.strerror or exc}"[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Drop a probe's connection at once: we have what we came for."""
    writer.transport.abort()


async def connect(
    lookup: NameLookup, host: str, port: int, progress: Progress
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve ``host`` (never through the loop's thread pool), then connect to its
    addresses in turn; the last connect error is raised, or a NameLookupError."""
    progress.timeout_outcome = Outcome.dns_timeout
    addresses = await lookup.addresses(host)
    progress.timeout_outcome = Outcome.tcp_timeout
    error: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(address, port)
        except OSError as exc:
            error = exc
    assert error is not None  # a lookup returns at least one address
    raise error


async def probe_tcp(
    check: TcpCheck, progress: Progress, monotonic: Callable[[], float], lookup: NameLookup
) -> Finding:
    """Connect to ``host:port`` and close again."""
    started = monotonic()
    try:
        _, writer = await connect(lookup, check.host, check.port, progress)
    except OSError as exc:
        return Finding(outcome=outcome_for_connect_error(exc), detail=describe_os_error(exc))
    connected = monotonic()
    close_quietly(writer)
    return Finding(outcome=Outcome.ok, phases={"connect": connected - started})
