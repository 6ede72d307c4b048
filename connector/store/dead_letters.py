"""Dead letters: writes Wisenet refused for a reason retrying will not fix, kept with the reason.

They are listed for an operator, replayed (the learners are decided again from the store, so
the write that is queued is the one wanted now, not the stale one) or discarded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from connector.store.database import Database
from connector.store.entities import ENROLMENT
from connector.store.schema import dead_letters, records
from connector.store.sql import aware


@dataclass(frozen=True)
class DeadLetter:
    """One refused write: which enrolment, why, after how many attempts, what it wanted."""

    id: int
    course_enrolment_id: int
    learner_id: int | None
    reason: str
    attempts: int
    add: list[str]
    remove: list[str]
    created_at: datetime


class DeadLetters:
    """The `dead_letters` table (a write moves there through `Outbox.dead_letter`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self, ids: Iterable[int] | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first (only `ids` when given)."""
        query = select(dead_letters).order_by(dead_letters.c.id)
        if ids is not None:
            query = query.where(dead_letters.c.id.in_(list(ids)))
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
            known = {
                row.id: row.learner_id
                for row in await conn.execute(
                    select(records.c.id, records.c.learner_id).where(
                        records.c.entity == ENROLMENT,
                        records.c.id.in_([r.course_enrolment_id for r in rows]),
                    )
                )
            }
        return [
            DeadLetter(
                row.id,
                row.course_enrolment_id,
                row.payload.get("learner_id") or known.get(row.course_enrolment_id),
                row.reason,
                row.attempts,
                list(row.payload.get("add", [])),
                list(row.payload.get("remove", [])),
                aware(row.created_at),
            )
            for row in rows
        ]

    async def remove(self, ids: Iterable[int]) -> int:
        """Delete dead letters; return how many there were."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                delete(dead_letters).where(dead_letters.c.id.in_(list(ids)))
            )
            return int(result.rowcount or 0)
