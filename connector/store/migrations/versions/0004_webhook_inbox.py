"""The webhook inbox: verified deliveries, committed before they are acknowledged.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create the inbox table and its indexes."""
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=256), nullable=True),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("record_guid", sa.String(length=100), nullable=True),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_webhook_inbox_delivery_id")),
    )
    op.create_index("ix_webhook_inbox_pending", "webhook_inbox", ["processed_at", "id"])
    op.create_index(
        "ix_webhook_inbox_record", "webhook_inbox", ["entity", "record_id", "received_at"]
    )


def downgrade() -> None:
    """Drop the inbox."""
    op.drop_index("ix_webhook_inbox_record", table_name="webhook_inbox")
    op.drop_index("ix_webhook_inbox_pending", table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
