"""The daily digests: one a day, what it counted (flags by id) and how its sending went.

Counts only: the change since the previous digest is computed from them; `status` shows the
last outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, select, update

from connector.store.database import Database
from connector.store.schema import digests
from connector.store.sql import aware

SENDING, SENT, FAILED, PARTLY_SENT = "sending", "sent", "failed", "partly sent"
# A later result of the same day never hides a better one (a retry ending after a manual send).
_RANK = {SENDING: 0, FAILED: 1, PARTLY_SENT: 2, SENT: 3}


@dataclass(frozen=True)
class DigestRecord:
    """One day's digest as the store keeps it."""

    day: date
    made_at: datetime
    counts: dict[str, int]
    outcome: str
    attempts: int
    detail: str | None
    finished_at: datetime | None


class Digests:
    """The `digests` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def of(self, day: date) -> DigestRecord | None:
        """The digest made for `day`, if any."""
        async with self._db.connect() as conn:
            row = (await conn.execute(select(digests).where(digests.c.day == day))).first()
        return None if row is None else _record(row)

    async def last(
        self, *, before: date | None = None, delivered: bool = False
    ) -> DigestRecord | None:
        """The latest digest (before `day`, if given; only one that reached someone, if asked)."""
        query = select(digests).order_by(digests.c.day.desc()).limit(1)
        if before is not None:
            query = query.where(digests.c.day < before)
        if delivered:
            query = query.where(digests.c.outcome.in_([SENT, PARTLY_SENT]))
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def start(self, day: date, counts: dict[str, int]) -> None:
        """Record that `day`'s digest is being sent (the counts of a second one replace the first).

        A send already finished that day keeps its outcome until this one does better.
        """
        async with self._db.transaction() as conn:
            updated = await conn.execute(
                update(digests)
                .where(digests.c.day == day)
                .values(made_at=self._db.clock.now(), counts=counts)
            )
            if updated.rowcount:
                return
            await conn.execute(
                digests.insert().values(
                    day=day,
                    made_at=self._db.clock.now(),
                    counts=counts,
                    outcome=SENDING,
                    attempts=0,
                )
            )

    async def finish(self, day: date, outcome: str, attempts: int, detail: str | None) -> None:
        """Record how sending `day`'s digest ended, unless a send of that day already did better."""
        worse = [name for name, rank in _RANK.items() if rank <= _RANK.get(outcome, 0)]
        async with self._db.transaction() as conn:
            await conn.execute(
                update(digests)
                .where(digests.c.day == day, digests.c.outcome.in_(worse))
                .values(
                    outcome=outcome,
                    attempts=attempts,
                    detail=None if detail is None else detail[:300],
                    finished_at=self._db.clock.now(),
                )
            )


def _record(row: Row[Any]) -> DigestRecord:
    values = row._mapping
    return DigestRecord(
        day=values["day"],
        made_at=aware(values["made_at"]),
        counts={str(k): int(v) for k, v in (values["counts"] or {}).items()},
        outcome=values["outcome"],
        attempts=int(values["attempts"]),
        detail=values["detail"],
        finished_at=None if values["finished_at"] is None else aware(values["finished_at"]),
    )
