"""Who owes each flagged piece of work: the enrolment's coordinator, else its trainer (an id).

Flags stored before this revision have no owner: every decided learner is marked for a decision,
so the next sync (or inbox drain) stores them again with one, without a read. Enrolment
snapshots taken before it carry no staff ids, course offer code, dates or study mode; they gain
them when the record is next read (a change, or the weekly reconcile).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    """Add the owner column and mark every decided learner for a decision."""
    with op.batch_alter_table("flags") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO dirty_learners (learner_id) SELECT learner_id FROM learner_state "
        "WHERE learner_id NOT IN (SELECT learner_id FROM dirty_learners)"
    )


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("flags") as batch:
        batch.drop_column("owner_id")
