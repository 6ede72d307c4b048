"""Rows derived from records the store already forgot are deleted; their learners are re-decided.

Before 0008, forgetting a course enrolment, unit enrolment or checklist deleted its snapshot
only: its enrolment decision, stage history, flags, outbox row and dead letters stayed, and
showed in exports and reports. This scrubs what earlier deletes left behind.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

_records = sa.table("records", sa.column("entity"), sa.column("id"))
_SUBJECTS = {  # flag and stage-history subjects, by the entity their ids belong to
    "course_enrolment": "CourseEnrolment",
    "unit_enrolment": "UnitEnrolment",
    "credential": "Credential",
    "checklist": "Checklist",
    "learner": "Learner",
}


def _stored(entity: str) -> sa.Select[tuple[int]]:
    return sa.select(_records.c.id).where(_records.c.entity == entity)


def upgrade() -> None:
    """Mark the learners of forgotten enrolments dirty, then delete the orphaned rows."""
    enrolments = _stored("CourseEnrolment")
    learners = _stored("Learner")
    state = sa.table("enrolment_state", sa.column("course_enrolment_id"), sa.column("learner_id"))
    dirty = sa.table("dirty_learners", sa.column("learner_id"))
    op.execute(
        sa.insert(dirty).from_select(
            ["learner_id"],
            sa.select(state.c.learner_id)
            .distinct()
            .where(
                state.c.course_enrolment_id.not_in(enrolments),
                state.c.learner_id.in_(learners),
                state.c.learner_id.not_in(sa.select(dirty.c.learner_id)),
            ),
        )
    )
    for name in ("enrolment_state", "outbox", "dead_letters"):
        table = sa.table(name, sa.column("course_enrolment_id"))
        op.execute(sa.delete(table).where(table.c.course_enrolment_id.not_in(enrolments)))
    for name in ("flags", "stage_history"):
        table = sa.table(name, sa.column("subject"), sa.column("subject_id"))
        for subject, entity in _SUBJECTS.items():
            op.execute(
                sa.delete(table).where(
                    table.c.subject == subject, table.c.subject_id.not_in(_stored(entity))
                )
            )


def downgrade() -> None:
    """Nothing to restore: the rows deleted described records Wisenet no longer has."""
