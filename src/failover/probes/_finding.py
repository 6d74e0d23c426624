"""The result a kind of probe hands back to the round runner, before it becomes an Observation."""

from __future__ import annotations

from dataclasses import dataclass, field

from failover.domain import Outcome

__all__ = ["Finding", "Progress"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """What one probe saw; the runner adds target, check, time and latency."""

    outcome: Outcome
    detail: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    cert_days_left: float | None = None


@dataclass(kw_only=True, slots=True)
class Progress:
    """How far a probe got, so a hard deadline can name the phase that hung.

    ``timeout_outcome`` is what the deadline reports; probes move it forward as they pass
    phases (a TLS check stuck in TCP connect is a tcp_timeout, in the handshake a tls_timeout).
    ``detail`` is whatever the probe learnt before the deadline (e.g. per-server results).
    """

    timeout_outcome: Outcome
    detail: str = ""
