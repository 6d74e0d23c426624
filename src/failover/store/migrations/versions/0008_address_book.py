"""The imported address book: ``contacts``, one row per contact that ``contacts import``
wrote (hand-written contacts stay in the configuration).

Revision ID: 0008
Revises: 0007
Create Date: 2027-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# spelled out rather than imported from the package, as in 0001: a migration is history
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("seq", Id, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("channels", sa.Text(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_contacts"),
        sa.UniqueConstraint("id", name="uq_contacts_id"),
        sa.UniqueConstraint("name", name="uq_contacts_name"),
    )


def downgrade() -> None:
    op.drop_table("contacts")
