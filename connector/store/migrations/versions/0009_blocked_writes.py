"""Outbox rows can be blocked by a tag the connector refuses to write, with the reason.

A same-named staff tag the mapping does not adopt, or an archived owned tag, refuses every
write that needs it. Such writes stay queued as blocked (not one dead letter each) until the
mapping or Wisenet is fixed; `status` counts them apart from writes waiting for the budget.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    """Add the blocking tag and its reason to the outbox."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("blocked_tag", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("blocked_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Drop the block columns (blocked writes become due again)."""
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("blocked_reason")
        batch.drop_column("blocked_tag")
