"""Resuming after a crash or a spent budget: listing progress, and learners awaiting a decision.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Add the progress columns to cursors and the table of learners awaiting a decision."""
    with op.batch_alter_table("cursors") as batch:
        batch.alter_column("high_water", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.add_column(sa.Column("resume_skip", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resume_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resume_high", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "dirty_learners",
        sa.Column("learner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("learner_id", name=op.f("pk_dirty_learners")),
    )


def downgrade() -> None:
    """Drop the progress columns and the awaiting learners."""
    op.drop_table("dirty_learners")
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("resume_high")
        batch.drop_column("resume_since")
        batch.drop_column("resume_skip")
