"""The outbox: writes planned for Wisenet, leased while sent, and what became of them.

A worker claims due rows with a lease (one UPDATE: two workers never claim the same row while a
lease lasts). A write sent is dropped with Wisenet's answer kept as the snapshot, in one
transaction; one that cannot succeed moves to the dead letters; one that needs a refused tag is
kept but blocked until the tag is fixed; one that failed for now is postponed. Writes Wisenet
answered are counted per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.codec import content_hash, encode
from connector.store.database import Database
from connector.store.schema import daily_writes, dead_letters, outbox, records
from connector.store.snapshots import Snapshot, mark_dirty, put
from connector.store.sql import aware

_URGENCY = (outbox.c.priority, outbox.c.created_at, outbox.c.course_enrolment_id)


@dataclass(frozen=True)
class PendingWrite:
    """An outbox row: the owned tag names to add and remove on one course enrolment."""

    course_enrolment_id: int
    learner_id: int
    add: frozenset[str]
    remove: frozenset[str]
    priority: int
    correlation_id: str
    attempts: int
    lease_owner: str | None = None  # set when claimed for sending


@dataclass(frozen=True)
class BlockedWrites:
    """Writes kept queued because they need a tag the connector refuses to write."""

    tag: str
    reason: str
    writes: int


@dataclass(frozen=True)
class HeldWrites:
    """Due writes a live owner other than the asker holds: how many, by whom, until when."""

    count: int
    owners: tuple[str, ...]
    until: datetime | None

    def message(self) -> str:
        """One line for a person: what was not sent, who holds it, when its lease ends."""
        until = "" if self.until is None else f", leased until {self.until:%Y-%m-%d %H:%M:%S %Z}"
        return (
            f"{self.count} writes are held by another running process "
            f"({', '.join(self.owners)}{until}); this run did not send them"
        )


class Outbox:
    """The `outbox` table, and the day's count of writes answered (`daily_writes`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def pending(self, limit: int | None = None) -> list[PendingWrite]:
        """Outbox rows due now, most urgent first, all unless limited (previews and dry runs)."""
        now = self._db.clock.now()
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(outbox)
                .where((outbox.c.not_before.is_(None)) | (outbox.c.not_before <= now))
                .where(outbox.c.blocked_tag.is_(None))
                .order_by(*_URGENCY)
                .limit(limit)
            )
            return [_pending_write(row) for row in rows]

    async def claim(self, owner: str, limit: int, lease: timedelta) -> list[PendingWrite]:
        """Lease up to `limit` due rows that no live lease holds, most urgent first.

        One UPDATE takes them (its subquery skips rows another replica has locked on
        PostgreSQL; SQLite runs the statement under its write lock), so two workers never
        claim the same row while a lease lasts.
        """
        now = self._db.clock.now().astimezone(UTC)
        free = and_(
            or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now),
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
            outbox.c.blocked_tag.is_(None),
        )
        due = (
            select(outbox.c.course_enrolment_id)
            .where(free)
            .order_by(*_URGENCY)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._db.transaction() as conn:
            rows = await conn.execute(
                update(outbox)
                .where(outbox.c.course_enrolment_id.in_(due.scalar_subquery()))
                .values(lease_owner=owner, lease_until=now + lease)
                .returning(*outbox.c)
            )
            claimed = sorted(
                rows, key=lambda r: (r.priority, aware(r.created_at), r.course_enrolment_id)
            )
        return [_pending_write(row) for row in claimed]

    async def release(self, owner: str) -> None:
        """Give back every row `owner` still leases (a batch cut short)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def block(self, write: PendingWrite, tag: str, reason: str) -> None:
        """Keep a write queued but out of the due list until its refused tag is fixed."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(_held(write))
                .values(
                    blocked_tag=tag, blocked_reason=reason[:300], lease_owner=None, lease_until=None
                )
            )

    async def blocked(self) -> list[BlockedWrites]:
        """The blocked writes, counted by tag and reason (most first)."""
        count = func.count().label("writes")
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.blocked_tag, outbox.c.blocked_reason, count)
                .where(outbox.c.blocked_tag.is_not(None))
                .group_by(outbox.c.blocked_tag, outbox.c.blocked_reason)
                .order_by(count.desc(), outbox.c.blocked_tag)
            )
            return [BlockedWrites(tag, reason or "", int(n)) for tag, reason, n in rows]

    async def blocked_rows(self) -> list[tuple[PendingWrite, str, str]]:
        """Each blocked write with its refused tag and the reason (a dry run's plan lists them)."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(outbox)
                .where(outbox.c.blocked_tag.is_not(None))
                .order_by(outbox.c.learner_id, outbox.c.course_enrolment_id)
            )
            return [
                (_pending_write(row), row.blocked_tag, row.blocked_reason or "") for row in rows
            ]

    async def release_blocked(self, tag: str) -> set[int]:
        """Make the writes blocked by `tag` due again; the learners they belong to."""
        async with self._db.transaction() as conn:
            rows = await conn.execute(
                update(outbox)
                .where(outbox.c.blocked_tag == tag)
                .values(blocked_tag=None, blocked_reason=None)
                .returning(outbox.c.learner_id)
            )
            return {learner_id for (learner_id,) in rows}

    async def size(self) -> int:
        """Writes waiting."""
        async with self._db.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def finish(
        self,
        write: PendingWrite,
        outcome: Snapshot | None = None,
        *,
        sent: Sequence[int] = (),
        day: date | None = None,
    ) -> bool:
        """Drop a done (or skipped) outbox row and keep what Wisenet answered, together.

        `outcome` is the PATCH response to sending the tag ids `sent`; it becomes the snapshot.
        It is compared with the stored snapshot the write was planned from: any difference but
        the tags sent (a staff edit that landed between our read and our PATCH) marks the
        learner for a decision. Returns whether it did. A record forgotten meanwhile (deleted in
        Wisenet while the PATCH was in flight) stays forgotten. A write answered counts towards
        `day`'s writes (the account's date), when given.
        """
        async with self._db.transaction() as conn:
            await conn.execute(delete(outbox).where(_held(write)))
            if outcome is None:
                return False
            if day is not None:
                await _count_write(conn, day)
            planned = (
                await conn.execute(
                    select(records.c.fields, records.c.learner_id).where(
                        records.c.entity == outcome.entity, records.c.id == outcome.id
                    )
                )
            ).first()
            if planned is None:
                return False  # forgotten while the PATCH was in flight: Wisenet deleted it
            await put(conn, [outcome], self._db.clock.now())
            answered = content_hash(encode(outcome.record), sorted(set(outcome.tag_ids or ())))
            if answered == content_hash(planned[0], sorted(set(sent))):
                return False
            learners = {outcome.learner_id, planned[1]}
            await mark_dirty(conn, {learner for learner in learners if learner is not None})
            return True

    async def dead_letter(self, write: PendingWrite, reason: str) -> None:
        """Move a write that cannot succeed to the dead letters, with its reason."""
        async with self._db.transaction() as conn:
            await conn.execute(
                dead_letters.insert().values(
                    course_enrolment_id=write.course_enrolment_id,
                    reason=reason[:300],
                    attempts=write.attempts + 1,
                    payload={
                        "add": sorted(write.add),
                        "remove": sorted(write.remove),
                        "learner_id": write.learner_id,
                    },
                    created_at=self._db.clock.now(),
                )
            )
            await conn.execute(delete(outbox).where(_held(write)))

    async def postpone(self, write: PendingWrite, until: datetime) -> None:
        """Try a write again later."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(outbox)
                .where(_held(write))
                .values(
                    not_before=until,
                    attempts=write.attempts + 1,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def held(self, owner: str) -> HeldWrites:
        """Due writes that a live lease of another owner holds now (after `owner`'s run)."""
        now = self._db.clock.now().astimezone(UTC)
        due = or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now)
        leased = (due, outbox.c.lease_until > now, outbox.c.lease_owner != owner)
        async with self._db.connect() as conn:
            count, until = (
                await conn.execute(
                    select(func.count(), func.max(outbox.c.lease_until)).where(*leased)
                )
            ).one()
            owners = (
                await conn.execute(
                    select(outbox.c.lease_owner)
                    .distinct()
                    .where(*leased)
                    .order_by(outbox.c.lease_owner)
                )
            ).scalars()
            ends = None if until is None else aware(until)
            return HeldWrites(int(count), tuple(str(o) for o in owners), ends)

    async def writes_on(self, day: date) -> int:
        """The tag writes Wisenet answered on `day` (the account's date)."""
        async with self._db.connect() as conn:
            found = await conn.execute(
                select(daily_writes.c.writes).where(daily_writes.c.day == day)
            )
            return int(found.scalar_one_or_none() or 0)


async def _count_write(conn: AsyncConnection, day: date) -> None:
    """One more write on `day`, safe beside other writers (one statement)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(daily_writes).values(day=day, writes=1)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["day"], set_={"writes": daily_writes.c.writes + 1}
        )
    )


def _pending_write(row: Any) -> PendingWrite:
    return PendingWrite(
        row.course_enrolment_id,
        row.learner_id,
        frozenset(row.add_tags),
        frozenset(row.remove_tags),
        row.priority,
        row.correlation_id,
        row.attempts,
        row.lease_owner,
    )


def _held(write: PendingWrite) -> ColumnElement[bool]:
    """The write's outbox row, if still the one claimed (a newer plan clears the lease)."""
    row = outbox.c.course_enrolment_id == write.course_enrolment_id
    return (
        row if write.lease_owner is None else and_(row, outbox.c.lease_owner == write.lease_owner)
    )
