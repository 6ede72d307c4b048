"""For the worklist and the digest: flags' kind, due date, enrolment; course offers; digests.

The digest also counts the tag writes of each day (`daily_writes`).

Flags stored before this revision have no kind or due date: every decided learner is marked for
a decision, so the next sync (or inbox drain) stores them again with both, without a read.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    """Add the flag columns, the course-offer table and the digest table."""
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("course_enrolment_id", sa.Integer(), nullable=True))
    op.create_table(
        "course_offers",
        sa.Column("course_offer_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(length=100), nullable=True),
        sa.Column("course_code", sa.String(length=100), nullable=True),
        sa.Column("modified", sa.String(length=40), nullable=True),
    )
    op.create_table(
        "daily_writes",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("writes", sa.Integer(), nullable=False),
    )
    op.create_table(
        "digests",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(
        "INSERT INTO dirty_learners (learner_id) SELECT learner_id FROM learner_state "
        "WHERE learner_id NOT IN (SELECT learner_id FROM dirty_learners)"
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("digests")
    op.drop_table("daily_writes")
    op.drop_table("course_offers")
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("course_enrolment_id")
        batch.drop_column("due")
        batch.drop_column("kind")
