"""The tables, as the store queries them. The migrations create exactly these (a test
compares the two), so a change here needs a new migration."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from failover.store._types import Id, Json, UTCDateTime

__all__ = [
    "DETAIL_MAX",
    "ERROR_MAX",
    "connectivity_events",
    "contacts",
    "daemon_lock",
    "declare_postgresql_options",
    "deliveries",
    "incident_actions",
    "incidents",
    "judge_state",
    "metadata",
    "notices",
    "observations",
    "platforms",
    "rollups",
    "silences",
    "transitions",
]

#: bounds of free-text columns; longer values are cut, never refused
DETAIL_MAX = 300
ERROR_MAX = 300

#: notices a dispatcher still has to look at (the partial index covers only these)
_UNFINISHED = "state IN ('pending', 'sending')"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

platforms = Table(
    "platforms",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("family", String(100), nullable=True),
    Column("display_name", String(200), nullable=False),
    Column("first_seen", UTCDateTime(), nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("target", String(100), nullable=False),
    Column("check_name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("latency_s", Float(), nullable=True),
    Column("detail", String(DETAIL_MAX), nullable=False),
    Column("is_control", Boolean(), nullable=False),
    Index(None, "at"),
    Index(None, "target", "at"),
)

rollups = Table(
    "rollups",
    metadata,
    Column("hour", UTCDateTime(), primary_key=True),
    Column("target", String(100), primary_key=True),
    Column("check_name", String(100), primary_key=True),
    Column("is_control", Boolean(), nullable=False),
    Column("count", Integer(), nullable=False),
    Column("failures", Integer(), nullable=False),
    Column("latency_p50", Float(), nullable=True),
    Column("latency_p95", Float(), nullable=True),
    Column("latency_max", Float(), nullable=True),
    Column("outcomes", Json, nullable=False),
    Index(None, "target", "hour"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(100), nullable=False),
    Column("previous", String(16), nullable=False),
    Column("current", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("flapping", Boolean(), nullable=False),
    # a replayed decision writes each transition once
    UniqueConstraint("platform", "at", "current"),
    Index(None, "at"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("platforms", Json, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("evidence", Json, nullable=False),
    Column("cause", Text(), nullable=False),
    Column("message", Text(), nullable=False),
    # the operator's texts written for one language each, {"fr": "...", "en": "..."}
    # (migration 0004); NULL when there are none
    Column("messages", Json, nullable=True),
    # a manual incident's need of a second operator's approval: awaiting, approved,
    # rejected (migration 0006); NULL when none was asked for. The notices of an incident
    # awaiting approval are never claimed.
    Column("approval", String(16), nullable=True),
    # when an operator retracted the incident (its notices were a mistake: corrections
    # went to whoever was told); NULL when never (migration 0007)
    Column("retracted_at", UTCDateTime(), nullable=True),
    Index(None, "opened_at"),
)

judge_state = Table(
    "judge_state",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("snapshot", Json, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

connectivity_events = Table(
    "connectivity_events",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("event", String(16), nullable=False),
    Column("detail", String(DETAIL_MAX), nullable=False),
    UniqueConstraint("at", "event"),
    CheckConstraint("event IN ('lost', 'restored')", name="event"),
)

#: the dispatcher's hot path: only unfinished notices are indexed, so the index stays tiny
#: (its PostgreSQL predicate is added by :func:`declare_postgresql_options`)
_unfinished_notices = Index("ix_notices_unfinished", "next_attempt_at", sqlite_where=text(_UNFINISHED))

notices = Table(
    "notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Integer(), ForeignKey("incidents.id"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("event_key", String(300), nullable=False),
    Column("contact_ref", String(200), nullable=False),
    Column("channel_ref", String(200), nullable=True),
    Column("template", String(100), nullable=False),
    Column("language", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_error", String(ERROR_MAX), nullable=True),
    Column("idempotency_key", String(520), nullable=False, unique=True),
    # an operator's text for a manual notice (migration 0002); never a URL or an address of ours
    Column("message", Text(), nullable=True),
    # who holds the claim of a notice in ``sending`` (``host:pid:token``) and until when;
    # a claim whose lease ran out, or whose holder died, is taken back (migration 0003)
    Column("claimed_by", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    # where delivery stands between two tries: the channel reached and the tries made on it
    Column("cursor_ref", String(200), nullable=True),
    Column("cursor_tries", Integer(), nullable=True),
    # what the channel named the post a sent notice made (a Mastodon status's id), so that
    # a retraction can delete it (migration 0007); NULL when the channel names none
    Column("public_ref", String(100), nullable=True),
    CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'silenced', 'cancelled')",
        name="state",
    ),
    Index(None, "incident_id"),
    _unfinished_notices,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("notice_id", Id, ForeignKey("notices.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("channel_ref", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", String(ERROR_MAX), nullable=True),
    Index(None, "notice_id"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("until", UTCDateTime(), nullable=False),
    Column("reason", String(500), nullable=False),
    # who set the silence: an operator's user name, "api" (migration 0005); NULL before
    Column("created_by", String(200), nullable=True),
    Index(None, "until"),
)

#: what was done about an incident, by whom and when (migration 0005): the journal of
#: actions. ``actor`` is an operator's user name, ``api``, ``alertmanager``; it is for the
#: journal only and never reaches a notice.
incident_actions = Table(
    "incident_actions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Integer(), ForeignKey("incidents.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text(), nullable=False),
    CheckConstraint(
        "kind IN ('triggered', 'updated', 'resolved', 'cancelled', 'note', 'silenced', 'attached', "
        "'approved', 'rejected', 'retracted')",
        name="kind",
    ),
    Index(None, "incident_id", "at"),
)

#: the imported address book (migration 0008): the one table that holds personal data
#: (names, addresses, numbers), read by id and streamed in ``seq`` order; the outbox and the
#: journal name contacts by ``id`` only. ``groups`` and ``channels`` are JSON text.
contacts = Table(
    "contacts",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False, unique=True),
    Column("name", Text(), nullable=False, unique=True),
    Column("language", String(16), nullable=False),
    Column("timezone", String(64), nullable=True),
    Column("groups", Text(), nullable=False),
    Column("channels", Text(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

daemon_lock = Table(
    "daemon_lock",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)


def declare_postgresql_options() -> None:
    """Give the tables their PostgreSQL-only options, when a PostgreSQL database is opened.

    Naming a dialect's option in a table's definition imports that dialect with all its
    drivers (about 2.5 MiB resident), so the options of the dialect a SQLite daemon never
    uses are added here instead. Migration 0001 creates them on PostgreSQL either way.
    """
    _unfinished_notices.dialect_options["postgresql"]["where"] = text(_UNFINISHED)
