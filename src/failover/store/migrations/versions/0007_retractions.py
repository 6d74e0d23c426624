"""Retractions: an incident's ``retracted_at`` (an operator said its notices were a
mistake), ``retracted`` in the journal of actions, and a sent notice's ``public_ref`` (what
the channel named the post it made, a Mastodon status's id, so that it can be deleted).

Notices sent before this revision keep no ``public_ref``: a retraction says in the
journal that their posts must be deleted by hand.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# spelled out rather than imported from the package, as in 0001: a migration is history
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BEFORE = (
    "triggered",
    "updated",
    "resolved",
    "cancelled",
    "note",
    "silenced",
    "attached",
    "approved",
    "rejected",
)
_AFTER = (*_BEFORE, "retracted")
_CHECK = "ck_incident_actions_kind"


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _actions_table(kinds: Sequence[str]) -> sa.Table:
    """``incident_actions`` as 0005 created it, with the kinds given: what SQLite's copy of
    the table is made from (it cannot change a CHECK constraint in place)."""
    return sa.Table(
        "incident_actions",
        sa.MetaData(),
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
        sa.CheckConstraint(_kinds(kinds), name=_CHECK),
        sa.Index("ix_incident_actions_incident_id_at", "incident_id", "at"),
    )


def _set_kinds(kinds: Sequence[str]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("incident_actions", copy_from=_actions_table(kinds), recreate="always"):
            pass
        return
    op.drop_constraint(_CHECK, "incident_actions", type_="check")
    op.create_check_constraint(_CHECK, "incident_actions", _kinds(kinds))


def upgrade() -> None:
    # nullable columns without a default: no table rewrite on either backend
    op.add_column("incidents", sa.Column("retracted_at", Time, nullable=True))
    op.add_column("notices", sa.Column("public_ref", sa.String(100), nullable=True))
    _set_kinds(_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM incident_actions WHERE kind = 'retracted'"))
    _set_kinds(_BEFORE)
    # in place on both backends (SQLite 3.35 and later): copying ``incidents`` or
    # ``notices`` as batch mode does would trip the foreign keys of the tables that refer to them
    op.execute(sa.text("ALTER TABLE notices DROP COLUMN public_ref"))
    op.execute(sa.text("ALTER TABLE incidents DROP COLUMN retracted_at"))
