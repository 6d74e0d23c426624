"""Four eyes on manual messages: an incident's ``approval`` (``awaiting``, ``approved``,
``rejected``; NULL when none was asked for), and ``approved`` and ``rejected`` in the
journal of actions.

Notices of an incident awaiting approval are never claimed: the column is on the
incident, so that approving or rejecting it is one row's change, and the outbox's
notices keep their states.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# spelled out rather than imported from the package, as in 0001: a migration is history
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BEFORE = ("triggered", "updated", "resolved", "cancelled", "note", "silenced", "attached")
_AFTER = (*_BEFORE, "approved", "rejected")
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
    # a nullable column without a default: no table rewrite on either backend
    op.add_column("incidents", sa.Column("approval", sa.String(16), nullable=True))
    _set_kinds(_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM incident_actions WHERE kind IN ('approved', 'rejected')"))
    _set_kinds(_BEFORE)
    # in place on both backends (SQLite 3.35 and later): copying ``incidents`` as batch
    # mode does would trip the foreign keys of the tables that refer to it
    op.execute(sa.text("ALTER TABLE incidents DROP COLUMN approval"))
