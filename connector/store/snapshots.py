"""Snapshots: what the store keeps of each Wisenet record, and the learners marked for a decision.

A page of snapshots commits with its cursor; unchanged content (the same hash) is skipped; a
record stored before its course enrolment (deliveries out of order) gets the enrolment's
learner when the enrolment arrives. Learners whose bundle changed are marked dirty in the same
transaction, so a crash loses no decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store import entities
from connector.store.codec import content_hash, encode
from connector.store.cursors import Progress, advance
from connector.store.database import Database
from connector.store.entities import ENROLMENT, LEARNER
from connector.store.forgetting import forget as forget_records
from connector.store.schema import dirty_learners, records
from connector.store.sql import aware, upsert_many


@dataclass(frozen=True)
class Snapshot:
    """What the store keeps of one Wisenet record."""

    entity: str
    id: int
    record: Any
    modified: str | None = None
    learner_id: int | None = None
    parent_id: int | None = None
    tag_ids: tuple[int, ...] | None = None


class Snapshots:
    """The `records` table and the learners marked for a decision (`dirty_learners`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(
        self,
        snapshots: Sequence[Snapshot],
        *,
        entity: str,
        high_water: datetime | None,
        resume: Progress | None = None,
        changed_records: set[int] | None = None,
    ) -> set[int]:
        """Store a page of snapshots and advance the entity's cursor (or progress), together.

        Unchanged content (same hash) is skipped. Returns the learners whose bundle changed,
        marked for a decision; the ids of the records that changed are added to
        `changed_records` when it is given.
        """
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            changed, written = await put(conn, snapshots, now)
            if changed_records is not None:
                changed_records.update(written)
            await mark_dirty(conn, changed)
            await advance(conn, entity, high_water, resume, now)
        return changed

    async def forget(self, entity: str, ids: Iterable[int]) -> set[int]:
        """Delete records and all that derives from them; mark their learners for a decision.

        One transaction (see `forgetting`). Returns the learners who keep other records: their
        stages, flags and tags are decided again from what is left.
        """
        async with self._db.transaction() as conn:
            touched = await forget_records(conn, entity, ids)
            await mark_dirty(conn, touched)
        return touched

    async def dirty_learners(self, among: Iterable[int] | None = None) -> set[int]:
        """Learners whose records changed since their last decision (survives a crash).

        With `among`, only those of these learners.
        """
        query = select(dirty_learners.c.learner_id)
        if among is not None:
            query = query.where(dirty_learners.c.learner_id.in_(sorted(set(among))))
        async with self._db.connect() as conn:
            return {row[0] for row in await conn.execute(query)}

    async def record_ids(self, entity: str) -> list[int]:
        """Every stored id of `entity`, ascending."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(records.c.id).where(records.c.entity == entity).order_by(records.c.id)
            )
            return [row[0] for row in rows]

    async def parents(self, entity: str, ids: Collection[int]) -> dict[int, int]:
        """The stored parent id (a unit's or credential's enrolment) of each of these records."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(records.c.id, records.c.parent_id).where(
                    records.c.entity == entity,
                    records.c.id.in_(sorted(ids)),
                    records.c.parent_id.is_not(None),
                )
            )
            return {row.id: row.parent_id for row in rows}

    async def count_children(self, entity: str, parents: Collection[int]) -> dict[int, int]:
        """How many stored records of `entity` each of these parents has."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(records.c.parent_id, func.count())
                .where(records.c.entity == entity, records.c.parent_id.in_(sorted(parents)))
                .group_by(records.c.parent_id)
            )
            return {row[0]: int(row[1]) for row in rows}

    async def count(self, entity: str) -> int:
        """How many records of `entity` the store holds."""
        async with self._db.connect() as conn:
            query = select(func.count()).select_from(records).where(records.c.entity == entity)
            return int((await conn.execute(query)).scalar_one())

    async def count_modified_since(self, entity: str, stamp: str) -> int:
        """How many stored records of `entity` Wisenet stamped at or after `stamp` (its format)."""
        async with self._db.connect() as conn:
            query = (
                select(func.count())
                .select_from(records)
                .where(records.c.entity == entity, records.c.modified >= stamp)
            )
            return int((await conn.execute(query)).scalar_one())

    async def learner_ids(self) -> list[int]:
        """Every stored learner, ascending."""
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(records.c.id).where(records.c.entity == LEARNER).order_by(records.c.id)
            )
            return [row[0] for row in rows]

    async def enrolment_tags(self, ce_id: int) -> tuple[tuple[int, ...], datetime] | None:
        """A course enrolment's stored tag ids and when they were fetched."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(
                    select(records.c.tag_ids, records.c.fetched_at).where(
                        records.c.entity == ENROLMENT, records.c.id == ce_id
                    )
                )
            ).first()
        if found is None:
            return None
        return tuple(found[0] or ()), aware(found[1])

    async def learner_is_active(self, learner_id: int) -> bool:
        """Whether the learner's own snapshot says they are active."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(
                    select(records.c.fields).where(
                        records.c.entity == LEARNER, records.c.id == learner_id
                    )
                )
            ).first()
        return found is not None and found[0].get("is_active") is True


async def put(
    conn: AsyncConnection, snapshots: Sequence[Snapshot], now: datetime
) -> tuple[set[int], list[int]]:
    """Upsert the snapshots whose content changed; their learners and their record ids."""
    changed: set[int] = set()
    known = await _hashes(conn, snapshots)
    parents = await _parent_learners(conn, snapshots)
    rows = []
    written: list[int] = []
    for snapshot in snapshots:
        fields = encode(snapshot.record)
        tag_ids = list(snapshot.tag_ids) if snapshot.tag_ids is not None else None
        digest = content_hash(fields, tag_ids)
        if known.get((snapshot.entity, snapshot.id)) == digest:
            continue
        learner_id = snapshot.learner_id
        if learner_id is None and snapshot.parent_id is not None:
            learner_id = parents.get(snapshot.parent_id)
        rows.append(
            {
                "entity": snapshot.entity,
                "id": snapshot.id,
                "learner_id": learner_id,
                "parent_id": snapshot.parent_id,
                "modified": snapshot.modified,
                "content_hash": digest,
                "fields": fields,
                "tag_ids": tag_ids,
                "fetched_at": now,
            }
        )
        written.append(snapshot.id)
        if learner_id is not None:
            changed.add(learner_id)
    if rows:
        await upsert_many(conn, records, rows, ("entity", "id"))
    enrolments = {
        s.id: s.learner_id for s in snapshots if s.entity == ENROLMENT and s.learner_id is not None
    }
    changed |= await _adopt_orphans(conn, enrolments)
    return changed, written


async def mark_dirty(conn: AsyncConnection, learner_ids: Iterable[int]) -> None:
    """Mark learners for a decision, in `conn`'s transaction."""
    rows = [{"learner_id": learner_id} for learner_id in sorted(learner_ids)]
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(dirty_learners).on_conflict_do_nothing(), rows)


async def _hashes(
    conn: AsyncConnection, snapshots: Sequence[Snapshot]
) -> dict[tuple[str, int], str]:
    """The stored content hash of each snapshot's record, in one query per entity."""
    found: dict[tuple[str, int], str] = {}
    for entity in {snapshot.entity for snapshot in snapshots}:
        ids = [s.id for s in snapshots if s.entity == entity]
        rows = await conn.execute(
            select(records.c.id, records.c.content_hash).where(
                records.c.entity == entity, records.c.id.in_(ids)
            )
        )
        found.update({(entity, ident): digest for ident, digest in rows})
    return found


async def _parent_learners(
    conn: AsyncConnection, snapshots: Sequence[Snapshot]
) -> dict[int, int | None]:
    """The learner of each parent course enrolment named: from this batch, else stored."""
    batch = {s.id: s.learner_id for s in snapshots if s.entity == ENROLMENT}
    parents = {s.parent_id for s in snapshots if s.learner_id is None and s.parent_id}
    missing = parents - set(batch)
    if missing:
        rows = await conn.execute(
            select(records.c.id, records.c.learner_id).where(
                records.c.entity == ENROLMENT, records.c.id.in_(missing)
            )
        )
        batch.update({row[0]: row[1] for row in rows})
    return batch


async def _adopt_orphans(conn: AsyncConnection, enrolments: dict[int, int]) -> set[int]:
    """Give records stored before their course enrolment (deliveries out of order) its learner.

    A unit, credential or checklist read before its enrolment was stored has no learner, so no
    bundle holds it. `enrolments` maps the enrolments being stored (changed or not: a store
    holding such records from before is repaired by the next read of their enrolment) to their
    learners; returns the learners who gained records. One indexed query when there is none.
    """
    if not enrolments:
        return set()
    orphans = (
        await conn.execute(
            select(records.c.parent_id)
            .where(
                records.c.entity.in_(entities.CHILDREN),
                records.c.parent_id.in_(sorted(enrolments)),
                records.c.learner_id.is_(None),
            )
            .distinct()
        )
    ).all()
    parents = {row.parent_id for row in orphans}
    for parent in sorted(parents):
        await conn.execute(
            update(records)
            .where(
                records.c.entity.in_(entities.CHILDREN),
                records.c.parent_id == parent,
                records.c.learner_id.is_(None),
            )
            .values(learner_id=enrolments[parent])
        )
    return {enrolments[parent] for parent in parents}
