"""Claims with a holder and a lease, and the delivery cursor, on notices.

A notice in ``sending`` names the dispatcher that claimed it (``claimed_by``) and when
its claim runs out (``lease_until``): an expired claim, or one whose holder died, is
taken back, and no other claim is ever touched. ``cursor_ref`` and ``cursor_tries`` keep
where delivery stands between two tries (the channel reached and the tries made on it).
Notices left in ``sending`` by an older version have no lease: they are taken back at once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("claimed_by", "lease_until", "cursor_ref", "cursor_tries")
# spelled out rather than imported from the package, as in 0001: a migration is history
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    # nullable columns without a default: no table rewrite on either backend
    op.add_column("notices", sa.Column("claimed_by", sa.String(200), nullable=True))
    op.add_column("notices", sa.Column("lease_until", Time, nullable=True))
    op.add_column("notices", sa.Column("cursor_ref", sa.String(200), nullable=True))
    op.add_column("notices", sa.Column("cursor_tries", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does that
    with op.batch_alter_table("notices") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
