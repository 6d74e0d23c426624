"""The journal of actions: who did what about an incident, and when (triggered, updated,
resolved, cancelled, a note, a silence, an alert attached), and who set each silence.

Notes written before this revision (``note: …`` lines of an incident's evidence) stay
where they are: they carry no author and no time of their own, so they are not turned
into actions; the journal keeps showing them with the evidence.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# spelled out rather than imported from the package, as in 0001: a migration is history
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KINDS = "kind IN ('triggered', 'updated', 'resolved', 'cancelled', 'note', 'silenced', 'attached')"


def upgrade() -> None:
    op.create_table(
        "incident_actions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_actions"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_incident_actions_incident_id_incidents"
        ),
        sa.CheckConstraint(KINDS, name="ck_incident_actions_kind"),
    )
    op.create_index("ix_incident_actions_incident_id_at", "incident_actions", ["incident_id", "at"])
    # a nullable column without a default: no table rewrite on either backend
    op.add_column("silences", sa.Column("created_by", sa.String(200), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does that
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("created_by")
    op.drop_index("ix_incident_actions_incident_id_at", table_name="incident_actions")
    op.drop_table("incident_actions")
