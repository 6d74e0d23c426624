"""The operator's texts per language on an incident (a manual failover's message written
for each language of its readers, besides the one for every language).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# spelled out rather than imported from the package, as in 0001: a migration is history
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # a nullable column without a default: no table rewrite on either backend
    op.add_column("incidents", sa.Column("messages", Json, nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does that
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("messages")
