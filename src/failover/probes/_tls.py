"""TLS handshake probes: SNI, certificate verification, days until expiry."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any

from failover.domain import Outcome, TlsCheck
from failover.probes._finding import Finding, Progress
from failover.probes._lookup import NameLookup
from failover.probes._tcp import close_quietly, connect, describe_os_error, outcome_for_connect_error

__all__ = ["cert_days_left", "outcome_for_verification", "probe_tls"]

# OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED.
_CERT_HAS_EXPIRED = 10


def outcome_for_verification(exc: ssl.SSLCertVerificationError) -> Outcome:
    """An expired certificate is tls_expired; any other verification failure tls_invalid."""
    if exc.verify_code == _CERT_HAS_EXPIRED:
        return Outcome.tls_expired
    return Outcome.tls_invalid


def describe_ssl_error(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate: {exc.verify_message}"[:200]
    return f"{getattr(exc, 'reason', None) or exc}"[:200]


def cert_days_left(ssl_object: Any, now: datetime) -> float | None:
    """Days until the verified peer certificate's notAfter, or None when unknown."""
    try:
        cert = ssl_object.getpeercert()
        not_after = cert["notAfter"]
        return (ssl.cert_time_to_seconds(not_after) - now.timestamp()) / 86400.0
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


async def probe_tls(
    check: TlsCheck,
    progress: Progress,
    monotonic: Callable[[], float],
    context: ssl.SSLContext,
    *,
    now: datetime,
    lookup: NameLookup,
) -> Finding:
    """Connect, then handshake with SNI and verification; report the certificate's days left."""
    started = monotonic()
    try:
        _, writer = await connect(lookup, check.host, check.port, progress)
    except OSError as exc:
        return Finding(outcome=outcome_for_connect_error(exc), detail=describe_os_error(exc))
    connected = monotonic()
    phases = {"connect": connected - started}
    progress.timeout_outcome = Outcome.tls_timeout
    try:
        await writer.start_tls(context, server_hostname=check.server_name or check.host)
        phases["tls"] = monotonic() - connected
        days = cert_days_left(writer.get_extra_info("ssl_object"), now)
    except ssl.SSLCertVerificationError as exc:
        return Finding(outcome=outcome_for_verification(exc), detail=describe_ssl_error(exc), phases=phases)
    except ssl.SSLError as exc:
        return Finding(outcome=Outcome.tls_error, detail=describe_ssl_error(exc), phases=phases)
    except OSError as exc:  # reset or closed during the handshake
        return Finding(outcome=Outcome.tls_error, detail=describe_os_error(exc), phases=phases)
    finally:
        close_quietly(writer)
    detail = "" if days is None else f"certificate valid for {days:.1f} more days"
    return Finding(outcome=Outcome.ok, detail=detail, phases=phases, cert_days_left=days)
