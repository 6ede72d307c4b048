"""The one bundle builder: learners' bundles assembled from their stored snapshots.

One query reads every record of the learners asked for; enrolments get their course code (and
their offer code, where their item had none) from the listed course offers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.codec import decode
from connector.store.database import Database
from connector.store.entities import ENROLMENT, FIELDS, KINDS, LEARNER
from connector.store.schema import course_offers, records
from mappings.bundle import CourseEnrolment, Learner, LearnerBundle


class Bundles:
    """Bundles read from the `records` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def one(self, learner_id: int) -> LearnerBundle | None:
        """A learner's bundle, assembled from the stored snapshots."""
        found = await self.many([learner_id])
        return found[learner_id][0] if learner_id in found else None

    async def many(
        self, learner_ids: Sequence[int]
    ) -> dict[int, tuple[LearnerBundle, dict[int, tuple[int, ...]]]]:
        """Several learners' bundles, with each enrolment's stored tag ids, in one query."""
        async with self._db.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        records.c.entity,
                        records.c.id,
                        records.c.learner_id,
                        records.c.fields,
                        records.c.tag_ids,
                    )
                    # The entity too, so the (entity, learner_id) index serves the query:
                    # on learner_id alone both stores scan every record.
                    .where(
                        records.c.entity.in_(list(KINDS)),
                        records.c.learner_id.in_(learner_ids),
                    )
                    .order_by(records.c.learner_id, records.c.entity, records.c.id)
                )
            ).all()
            offer_codes = await _offer_codes(conn, rows)
        grouped: dict[int, dict[str, list[Any]]] = {}
        tag_ids: dict[int, dict[int, tuple[int, ...]]] = {}
        own: dict[int, Learner] = {}
        for entity, ident, learner_id, fields, stored_tags in rows:
            if entity == LEARNER and ident == learner_id:
                own[learner_id] = decode(Learner, fields)
                continue
            if entity in FIELDS:
                value: Any = decode(KINDS[entity], fields)
                if entity == ENROLMENT:
                    value = _with_offer_codes(value, offer_codes)
                grouped.setdefault(learner_id, {}).setdefault(entity, []).append(value)
            if entity == ENROLMENT:
                tag_ids.setdefault(learner_id, {})[ident] = tuple(stored_tags or ())
        found = {}
        for learner_id, learner in own.items():
            kinds = grouped.get(learner_id, {})
            children = {FIELDS[entity]: tuple(values) for entity, values in kinds.items()}
            found[learner_id] = (
                LearnerBundle(learner=learner, **children),
                tag_ids.get(learner_id, {}),
            )
        return found


async def _offer_codes(
    conn: AsyncConnection, rows: Sequence[Any]
) -> dict[int, tuple[str | None, str | None]]:
    """The listed offer code and course code of each offer these enrolment rows name."""
    wanted = sorted(
        {
            int(row.fields["course_offer_id"])
            for row in rows
            if row.entity == ENROLMENT and isinstance(row.fields.get("course_offer_id"), int)
        }
    )
    found: dict[int, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 500):
        listed = await conn.execute(
            select(
                course_offers.c.course_offer_id, course_offers.c.code, course_offers.c.course_code
            ).where(course_offers.c.course_offer_id.in_(wanted[start : start + 500]))
        )
        found.update({row[0]: (row[1], row[2]) for row in listed})
    return found


def _with_offer_codes(
    enrolment: CourseEnrolment, codes: dict[int, tuple[str | None, str | None]]
) -> CourseEnrolment:
    """An enrolment with its course code (and, where its item had none, its offer code)."""
    if enrolment.course_offer_id not in codes:
        return enrolment
    code, course_code = codes[enrolment.course_offer_id]
    return dataclasses.replace(
        enrolment,
        course_offer_code=enrolment.course_offer_code or code,
        course_code=course_code,
    )
