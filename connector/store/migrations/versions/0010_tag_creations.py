"""Tag definitions the connector is creating, recorded before the request that creates them.

A process killed between `POST /tags` and storing the answer left a tag that Wisenet has and the
store does not know as the connector's: the next read of the definitions took it for a
same-named staff tag and blocked every write that needs it. With the creation recorded first,
a tag of that name new to the store is known as the connector's own.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """Add the table of tag creations in progress."""
    op.create_table(
        "tag_creations",
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the table (a creation cut short is then taken for a staff tag again)."""
    op.drop_table("tag_creations")
