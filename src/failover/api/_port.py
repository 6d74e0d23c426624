"""The port: what the HTTP surface needs from the daemon (:class:`ApiBackend`), which the
service implements, and the readiness it reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from failover.api._models import AlertmanagerPayload, RetractRequest, TriggerRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadyReport:
    """Whether the daemon can do its job; ``reasons`` say why not (no secrets, no personal data)."""

    ready: bool
    reasons: tuple[str, ...] = ()


#: the operator name of ``daemon.api_token``, in the journal of actions
API_OPERATOR = "api"


class ApiBackend(Protocol):
    """What the HTTP surface needs from the daemon; the service implements it.

    Every dict returned must be JSON-ready (datetimes and enums are converted on the way out).
    Exceptions are answered with a generic 500 and logged.
    """

    async def alive(self) -> bool:
        """The event loop runs (it does if this is called) and the scheduler ticked recently."""
        ...

    async def ready(self) -> ReadyReport:
        """The database answers and the scheduler runs."""
        ...

    async def status(self) -> dict[str, Any]:
        """Every platform's health, open incidents, the outbox."""
        ...

    async def incidents(self, since: datetime | None, platform: str | None) -> list[dict[str, Any]]:
        """The journal, newest first: incidents opened at or after ``since``, touching ``platform``."""
        ...

    async def trigger(self, request: TriggerRequest, actor: str = API_OPERATOR) -> dict[str, Any]:
        """Open a manual incident, queue an update of the open incident covering the target,
        or attach the trigger to it (answering ``attached_to``); or preview which, for a dry
        run. ``actor`` is the token's operator. Refuses an unknown target with
        :class:`RequestRefused` (422)."""
        ...

    async def resolve(self, incident_id: int) -> dict[str, Any] | None:
        """Resolve an open incident; None if there is no incident ``incident_id``."""
        ...

    async def note(self, incident_id: int, text: str) -> dict[str, Any] | None:
        """Add a note to an incident's journal of actions; None if there is no incident
        ``incident_id``."""
        ...

    async def approve(self, incident_id: int, actor: str) -> dict[str, Any] | None:
        """``actor``'s approval of a manual incident awaiting it; None if there is no
        incident ``incident_id``. Refuses (:class:`RequestRefused`) the operator who
        triggered it (403) and an incident not awaiting approval (409)."""
        ...

    async def reject(self, incident_id: int, reason: str, actor: str) -> dict[str, Any] | None:
        """``actor``'s rejection of a manual incident awaiting approval, for ``reason``;
        None if there is no incident ``incident_id``; 409 when not awaiting approval."""
        ...

    async def retract(self, incident_id: int, request: RetractRequest, actor: str) -> dict[str, Any] | None:
        """``actor``'s retraction of an incident whose notices were a mistake; None if there
        is no incident ``incident_id``; 409 when it was retracted already, 422 naming the
        field of a text refused."""
        ...

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, Any]:
        """Firing alerts open manual incidents (keyed by fingerprint) or attach to the open
        incident covering their target, resolved ones resolve what they opened; alerts
        naming nothing configured are ignored."""
        ...
