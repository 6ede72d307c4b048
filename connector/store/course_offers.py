"""The account's course offers as the worklist names them: offer code and course code by id.

Kept apart from the learner snapshots: offers are reference data, read from the course-offer
listing only when a stored enrolment names an offer the store does not know.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from connector.store.database import Database
from connector.store.entities import ENROLMENT
from connector.store.schema import course_offers, records
from connector.store.sql import upsert_many

_CHUNK = 500


@dataclass(frozen=True)
class CourseOfferCodes:
    """One offer's codes (None where Wisenet gave none, or the listing did not have it)."""

    course_offer_id: int
    code: str | None
    course_code: str | None
    modified: str | None = None


class CourseOffers:
    """The `course_offers` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def unknown(self, learner_ids: Collection[int] | None = None) -> set[int]:
        """Offers named by stored enrolments that the store has no row for (listed or not found).

        Only the enrolments of `learner_ids` when given (the (entity, learner) index serves it);
        every stored enrolment otherwise.
        """
        if learner_ids is not None and not learner_ids:
            return set()
        named = records.c.fields["course_offer_id"].as_integer()
        used: set[int] = set()
        async with self._db.connect() as conn:
            if learner_ids is None:
                query = select(named).where(records.c.entity == ENROLMENT, named.is_not(None))
                used = {int(row[0]) for row in await conn.execute(query.distinct())}
            else:
                wanted = sorted(learner_ids)
                for start in range(0, len(wanted), _CHUNK):
                    query = select(named).where(
                        records.c.entity == ENROLMENT,
                        records.c.learner_id.in_(wanted[start : start + _CHUNK]),
                        named.is_not(None),
                    )
                    used |= {int(row[0]) for row in await conn.execute(query.distinct())}
            known: set[int] = set()
            ordered = sorted(used)
            for start in range(0, len(ordered), _CHUNK):
                rows = await conn.execute(
                    select(course_offers.c.course_offer_id).where(
                        course_offers.c.course_offer_id.in_(ordered[start : start + _CHUNK])
                    )
                )
                known |= {int(row[0]) for row in rows}
        return used - known

    async def newest_listed(self) -> str | None:
        """The latest modification time among the listed offers (where the next listing starts)."""
        async with self._db.connect() as conn:
            found = await conn.execute(
                select(course_offers.c.modified)
                .where(course_offers.c.modified.is_not(None))
                .order_by(course_offers.c.modified.desc())
                .limit(1)
            )
            row = found.first()
        return None if row is None else str(row[0])

    async def save(self, listed: Iterable[CourseOfferCodes], not_found: Iterable[int]) -> None:
        """Keep listed offers, and a row without codes for each named offer the listing lacked.

        The empty rows stop the same offer from costing a listing on every run; a later listing
        that has the offer fills them in.
        """
        rows = [
            {
                "course_offer_id": offer.course_offer_id,
                "code": offer.code,
                "course_code": offer.course_code,
                "modified": offer.modified,
            }
            for offer in listed
        ]
        rows += [
            {"course_offer_id": ident, "code": None, "course_code": None, "modified": None}
            for ident in sorted(set(not_found) - {row["course_offer_id"] for row in rows})
        ]
        if not rows:
            return
        async with self._db.transaction() as conn:
            await upsert_many(conn, course_offers, rows, ("course_offer_id",))

    async def codes(self, offer_ids: Iterable[int]) -> dict[int, CourseOfferCodes]:
        """The codes of these offers, by id (unknown ones left out)."""
        wanted = sorted(set(offer_ids))
        found: dict[int, CourseOfferCodes] = {}
        async with self._db.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = await conn.execute(
                    select(course_offers).where(
                        course_offers.c.course_offer_id.in_(wanted[start : start + 500])
                    )
                )
                for row in rows:
                    found[row.course_offer_id] = CourseOfferCodes(
                        row.course_offer_id, row.code, row.course_code, row.modified
                    )
        return found
