"""Cursors: each entity's high-water modification time, and where an unfinished listing stopped.

A page of snapshots advances its entity's cursor (or progress) in its own transaction
(`Snapshots.save` calls `advance`), so a crash never leaves a cursor ahead of what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.database import Database
from connector.store.schema import cursors
from connector.store.sql import aware, upsert, utc


@dataclass(frozen=True)
class Progress:
    """An unfinished listing: the filter it used, the next skip, the newest stamp seen so far."""

    skip: int
    since: datetime | None
    high: datetime | None


async def advance(
    conn: AsyncConnection,
    entity: str,
    high_water: datetime | None,
    resume: Progress | None,
    now: datetime,
) -> None:
    """Set the entity's cursor (dropping its progress), or else its progress, in `conn`."""
    if high_water is not None:
        await upsert(
            conn,
            cursors,
            {
                "entity": entity,
                "high_water": high_water.astimezone(UTC),
                "updated_at": now,
                "resume_skip": None,
                "resume_since": None,
                "resume_high": None,
            },
            ("entity",),
        )
    elif resume is not None:
        await upsert(
            conn,
            cursors,
            {
                "entity": entity,
                "updated_at": now,
                "resume_skip": resume.skip,
                "resume_since": utc(resume.since),
                "resume_high": utc(resume.high),
            },
            ("entity",),
        )


class Cursors:
    """The `cursors` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def finish_listing(self, entity: str, high_water: datetime | None) -> None:
        """A listing completed: set its cursor (when anything was seen) and drop its progress."""
        values: dict[str, Any] = {
            "entity": entity,
            "updated_at": self._db.clock.now(),
            "resume_skip": None,
            "resume_since": None,
            "resume_high": None,
        }
        if high_water is not None:
            values["high_water"] = high_water.astimezone(UTC)
        async with self._db.transaction() as conn:
            await upsert(conn, cursors, values, ("entity",))

    async def reset(self) -> None:
        """Forget every cursor and listing progress, so the next poll reads everything."""
        async with self._db.transaction() as conn:
            await conn.execute(delete(cursors))

    async def progress(self, entity: str) -> Progress | None:
        """Where an unfinished listing of `entity` stopped, if one did."""
        async with self._db.connect() as conn:
            row = (await conn.execute(select(cursors).where(cursors.c.entity == entity))).first()
        if row is None or row.resume_skip is None:
            return None
        return Progress(
            row.resume_skip,
            aware(row.resume_since) if row.resume_since else None,
            aware(row.resume_high) if row.resume_high else None,
        )

    async def high_water(self, entity: str) -> datetime | None:
        """The entity's high-water modification time (None before the first poll)."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(select(cursors.c.high_water).where(cursors.c.entity == entity))
            ).first()
        if found is None or found[0] is None:
            return None
        return aware(found[0])
