"""When the spent quota was last probed (one request an hour until Wisenet answers again).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    """Add the probe time to the day's budget row."""
    with op.batch_alter_table("budget") as batch:
        batch.add_column(sa.Column("probed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the probe time."""
    with op.batch_alter_table("budget") as batch:
        batch.drop_column("probed_at")
