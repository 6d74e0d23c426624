"""An operator's text on a notice (a manual failover's message, per notice).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column without a default: no table rewrite on either backend
    op.add_column("notices", sa.Column("message", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does that
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("message")
