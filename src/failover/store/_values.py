"""What the store hands out and takes in beyond the domain types: frozen values, never rows."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from failover.domain import ConnectivityEvent, Incident, IncidentEvent, NoticeState, Outcome

__all__ = [
    "ActionKind",
    "Claims",
    "ConnectivityRecord",
    "DeliveryOutcome",
    "HourlyRollup",
    "IncidentAction",
    "JournalEntry",
    "Notice",
    "NoticeDraft",
    "PruneReport",
    "Silence",
]


class ActionKind(enum.StrEnum):
    """What someone did about an incident, as the journal of actions records it."""

    triggered = "triggered"
    updated = "updated"
    resolved = "resolved"
    cancelled = "cancelled"
    note = "note"
    silenced = "silenced"
    attached = "attached"
    #: a second operator let a manual message awaiting approval go out
    approved = "approved"
    #: a second operator withdrew a manual message awaiting approval (``text``: why)
    rejected = "rejected"
    #: an operator retracted the incident's notices as a mistake (``text``: why)
    retracted = "retracted"


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentAction:
    """One entry of an incident's journal of actions: who (``actor``: an operator's user
    name, ``api``, ``alertmanager``), did what (``kind``, ``text``), when. The actor is for
    the journal only: no notice and no public text ever carries it."""

    at: datetime
    actor: str
    kind: ActionKind
    text: str = ""


class DeliveryOutcome(enum.StrEnum):
    """What one delivery attempt through one channel came to."""

    sent = "sent"
    failed = "failed"
    skipped = "skipped"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectivityRecord:
    """Our own network stopped (or started again) working, as the journal keeps it."""

    kind: ConnectivityEvent
    at: datetime
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class NoticeDraft:
    """A notice to queue: one message for one contact about one incident event.

    ``event_key`` names the occurrence of the event; it defaults to ``<incident key>/<event>``
    and must be given for events that repeat (a reminder: ``<incident key>/reminder/3``).
    With the contact it forms the idempotency key, so a replayed decision queues nothing twice.
    ``channel_ref`` is a stable, secret-free reference (``contacts[2].channels[0]``), never a URL.
    ``not_before`` holds the notice back (the window in which a manual failover can be cancelled).
    ``silenced_by`` records the notice as ``silenced`` (never sent), with that reason.
    ``message`` is an operator's text for this notice (a manual failover), shown in place of
    the incident's own message.
    """

    incident_key: str
    event: IncidentEvent
    contact_ref: str
    template: str
    language: str = "en"
    channel_ref: str | None = None
    not_before: datetime | None = None
    event_key: str | None = None
    silenced_by: str | None = None
    message: str | None = None

    @property
    def idempotency_key(self) -> str:
        event_key = self.event_key or f"{self.incident_key}/{self.event}"
        return f"{event_key}/{self.contact_ref}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """A notice in the outbox."""

    id: int
    incident_id: int
    incident_key: str
    event: IncidentEvent
    event_key: str
    contact_ref: str
    channel_ref: str | None
    template: str
    language: str
    state: NoticeState
    attempts: int
    created_at: datetime
    not_before: datetime | None
    next_attempt_at: datetime
    claimed_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    idempotency_key: str
    message: str | None = None
    #: the dispatcher holding the claim (``sending``), or the last one that did
    claimed_by: str | None = None
    #: when the claim runs out unless renewed
    lease_until: datetime | None = None
    #: where delivery stands: the channel reached (its reference) and the tries made on it
    cursor_ref: str | None = None
    cursor_tries: int = 0
    #: what the channel named the post a sent notice made (a Mastodon status's id)
    public_ref: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Claims:
    """The notices one dispatcher holds in ``sending``: how many, and how many of them
    have a lease that ran out (``holder`` None: claimed before claims had holders)."""

    holder: str | None
    notices: int
    expired: int


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalEntry:
    """One incident as the journal shows it, with what became of its notices."""

    incident: Incident
    notices_sent: int = 0
    notices_failed: int = 0
    notices_skipped: int = 0
    notices_pending: int = 0
    #: what was done about it, by whom and when, oldest first
    actions: tuple[IncidentAction, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class HourlyRollup:
    """One check of one target over one complete hour. Percentiles interpolate linearly
    between the closest ranks; they are ``None`` when no observation carried a latency."""

    hour: datetime
    target: str
    check: str
    is_control: bool
    count: int
    failures: int
    latency_p50: float | None
    latency_p95: float | None
    latency_max: float | None
    outcomes: Mapping[Outcome, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class PruneReport:
    """What one ``prune`` did."""

    cutoff: datetime
    rollups_written: int
    observations_deleted: int
    #: SQLite pages handed back to the file system; 0 on PostgreSQL (autovacuum's job)
    pages_freed: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Silence:
    """Notices about ``name`` (a platform, family or ``*``) are held back until ``until``."""

    id: int
    name: str
    created_at: datetime
    until: datetime
    reason: str
    #: who set it (an operator's user name, ``api``); None for silences set before this was kept
    created_by: str | None = None
