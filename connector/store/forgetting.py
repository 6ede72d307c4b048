"""Forgetting: a record Wisenet no longer has leaves the store with everything derived from it.

What derives from a record is keyed by it: the flags about it and, for a course enrolment, its
decision (`enrolment_state`), stage history, outbox row and dead letters. A course enrolment's
children go with it: its unit enrolments, credentials and checklists cannot exist in Wisenet
without it (the sandbox deletes them together; Wisenet's audit log may not list each one). A
learner takes everything of theirs. All of it runs in the caller's transaction, so no reader
ever sees a decision, flag or write for a record the store no longer has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.entities import CHILDREN, ENROLMENT, LEARNER, SUBJECTS
from connector.store.schema import (
    dead_letters,
    dirty_learners,
    enrolment_state,
    flags,
    learner_state,
    outbox,
    records,
    stage_history,
)

CHUNK = 500  # ids per statement, well inside every driver's parameter limit


async def forget(conn: AsyncConnection, entity: str, ids: Iterable[int]) -> set[int]:
    """Delete the stored records of `entity` among `ids` and all that derives from them.

    Returns the learners who keep the rest of their records (their decision is now stale);
    a forgotten learner is not among them. Ids the store does not hold are ignored.
    """
    wanted = sorted(set(ids))
    owners = await _owners(conn, entity, wanted)
    if entity == LEARNER:
        for learner_id in sorted(owners):
            await purge_learner(conn, learner_id)
        return set()
    gone: dict[str, set[int]] = {entity: set(wanted)}  # derived rows may outlive a record
    touched = set(owners.values())
    if entity == ENROLMENT:
        touched |= set((await _deciders(conn, [i for i in wanted if i not in owners])).values())
        for kind, ident, owner in await _children(conn, wanted):
            gone.setdefault(kind, set()).add(ident)
            touched.add(owner)
    for kind, kind_ids in gone.items():
        await _drop(conn, kind, sorted(kind_ids))
    return {learner_id for learner_id in touched if learner_id is not None}


async def purge_learner(conn: AsyncConnection, learner_id: int) -> None:
    """Delete a learner, their records and everything derived from them."""
    enrolments = [
        row[0]
        for row in await conn.execute(
            select(records.c.id).where(
                records.c.entity == ENROLMENT, records.c.learner_id == learner_id
            )
        )
    ]
    for kind, ident, _ in await _children(conn, enrolments):  # children stored before their parent
        await _drop(conn, kind, [ident])
    await _drop(conn, ENROLMENT, enrolments)
    for table in (
        records,
        learner_state,
        enrolment_state,
        flags,
        stage_history,
        outbox,
        dirty_learners,
    ):
        await conn.execute(delete(table).where(table.c.learner_id == learner_id))
    await conn.execute(
        delete(records).where(records.c.entity == LEARNER, records.c.id == learner_id)
    )


async def _owners(conn: AsyncConnection, entity: str, ids: Sequence[int]) -> dict[int, int | None]:
    """The stored records among `ids`, each with its learner."""
    found: dict[int, int | None] = {}
    for part in _chunks(ids):
        rows = await conn.execute(
            select(records.c.id, records.c.learner_id).where(
                records.c.entity == entity, records.c.id.in_(part)
            )
        )
        found.update({row[0]: row[1] for row in rows})
    return found


async def _deciders(conn: AsyncConnection, enrolment_ids: Sequence[int]) -> dict[int, int | None]:
    """The learner whose decision holds each of these course enrolments."""
    found: dict[int, int | None] = {}
    for part in _chunks(enrolment_ids):
        rows = await conn.execute(
            select(enrolment_state.c.course_enrolment_id, enrolment_state.c.learner_id).where(
                enrolment_state.c.course_enrolment_id.in_(part)
            )
        )
        found.update({row[0]: row[1] for row in rows})
    return found


async def _children(
    conn: AsyncConnection, enrolment_ids: Sequence[int]
) -> list[tuple[str, int, int | None]]:
    """The stored unit enrolments, credentials and checklists of these course enrolments."""
    found: list[tuple[str, int, int | None]] = []
    for part in _chunks(enrolment_ids):
        rows = await conn.execute(
            select(records.c.entity, records.c.id, records.c.learner_id).where(
                records.c.entity.in_(CHILDREN), records.c.parent_id.in_(part)
            )
        )
        found += [(row[0], row[1], row[2]) for row in rows]
    return found


async def _drop(conn: AsyncConnection, entity: str, ids: Sequence[int]) -> None:
    """Delete records of one entity and the rows keyed by them."""
    subject = SUBJECTS[entity]
    for part in _chunks(ids):
        await conn.execute(
            delete(records).where(records.c.entity == entity, records.c.id.in_(part))
        )
        await conn.execute(
            delete(flags).where(flags.c.subject == subject, flags.c.subject_id.in_(part))
        )
        if entity != ENROLMENT:
            continue
        await conn.execute(
            delete(stage_history).where(
                stage_history.c.subject == subject, stage_history.c.subject_id.in_(part)
            )
        )
        for table in (enrolment_state, outbox, dead_letters):
            await conn.execute(delete(table).where(table.c.course_enrolment_id.in_(part)))


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
