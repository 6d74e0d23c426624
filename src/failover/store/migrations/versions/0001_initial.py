"""The first tables: platforms, observations and rollups, transitions, incidents, judge
state, connectivity events, the notice outbox and its deliveries, silences, the daemon lock.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out rather than imported from the package: a migration is history
# and must not change when the code does.
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UNFINISHED = "state IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_table(
        "platforms",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("family", sa.String(100), nullable=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("first_seen", Time, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_platforms"),
    )
    op.create_table(
        "observations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("check_name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
    )
    op.create_index("ix_observations_at", "observations", ["at"])
    op.create_index("ix_observations_target_at", "observations", ["target", "at"])

    op.create_table(
        "rollups",
        sa.Column("hour", Time, nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("check_name", sa.String(100), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("latency_p50", sa.Float(), nullable=True),
        sa.Column("latency_p95", sa.Float(), nullable=True),
        sa.Column("latency_max", sa.Float(), nullable=True),
        sa.Column("outcomes", Json, nullable=False),
        sa.PrimaryKeyConstraint("hour", "target", "check_name", name="pk_rollups"),
    )
    op.create_index("ix_rollups_target_hour", "rollups", ["target", "hour"])

    op.create_table(
        "transitions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(100), nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("current", sa.String(16), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transitions"),
        sa.UniqueConstraint("platform", "at", "current", name="uq_transitions_platform_at_current"),
    )
    op.create_index("ix_transitions_at", "transitions", ["at"])

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("platforms", Json, nullable=False),
        sa.Column("opened_at", Time, nullable=False),
        sa.Column("confirmed_at", Time, nullable=True),
        sa.Column("resolved_at", Time, nullable=True),
        sa.Column("evidence", Json, nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("key", name="uq_incidents_key"),
    )
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])

    op.create_table(
        "judge_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("snapshot", Json, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judge_state"),
        sa.CheckConstraint("id = 1", name="ck_judge_state_single_row"),
    )

    op.create_table(
        "connectivity_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connectivity_events"),
        sa.UniqueConstraint("at", "event", name="uq_connectivity_events_at_event"),
        sa.CheckConstraint("event IN ('lost', 'restored')", name="ck_connectivity_events_event"),
    )

    op.create_table(
        "notices",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("contact_ref", sa.String(200), nullable=False),
        sa.Column("channel_ref", sa.String(200), nullable=True),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("not_before", Time, nullable=True),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("claimed_at", Time, nullable=True),
        sa.Column("sent_at", Time, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("idempotency_key", sa.String(520), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_notices_incident_id_incidents"),
        sa.UniqueConstraint("idempotency_key", name="uq_notices_idempotency_key"),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'silenced', 'cancelled')",
            name="ck_notices_state",
        ),
    )
    op.create_index("ix_notices_incident_id", "notices", ["incident_id"])
    op.create_index(
        "ix_notices_unfinished",
        "notices",
        ["next_attempt_at"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )

    op.create_table(
        "deliveries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("notice_id", Id, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("channel_ref", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"], name="fk_deliveries_notice_id_notices"),
    )
    op.create_index("ix_deliveries_notice_id", "deliveries", ["notice_id"])

    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("until", Time, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_until", "silences", ["until"])

    op.create_table(
        "daemon_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", Time, nullable=False),
        sa.Column("heartbeat_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_daemon_lock"),
        sa.CheckConstraint("id = 1", name="ck_daemon_lock_single_row"),
    )


def downgrade() -> None:
    for table in (
        "daemon_lock",
        "silences",
        "deliveries",
        "notices",
        "connectivity_events",
        "judge_state",
        "incidents",
        "transitions",
        "rollups",
        "observations",
        "platforms",
    ):
        op.drop_table(table)
