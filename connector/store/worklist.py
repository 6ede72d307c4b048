"""Every open flag as a work item, most urgent first, read from the store (no call to Wisenet).

Items carry ids and numbers only: the learner's id and `LearnerNumber`, the enrolment's id and
its course code, the owner's staff id (the enrolment's coordinator, else its trainer), never a
name. `days_overdue` counts whole days from `due` to `today` (negative:
due in that many days); it is None where the flag's rule gives no due date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from connector.store.course_offers import CourseOffers
from connector.store.database import Database
from connector.store.entities import ENROLMENT, LEARNER
from connector.store.schema import flags, records

KINDS = ("overdue", "missing_data", "other")  # also the order of urgency
_CHUNK = 500


@dataclass(frozen=True)
class WorkItem:
    """One open flag: what to do, for whom, how late."""

    flag: str
    kind: str
    subject: str
    id: int
    learner_id: int
    learner_number: str | None
    course_enrolment_id: int | None
    course_code: str | None
    owner_id: int | None
    due: date | None
    days_overdue: int | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        """The item with its date in ISO form."""
        values = asdict(self)
        values["due"] = None if self.due is None else self.due.isoformat()
        return values


def urgency(item: WorkItem) -> tuple[int, int, int, str, int, str, int]:
    """Overdue before missing data before the rest; the latest first; then by flag and ids."""
    rank = KINDS.index(item.kind) if item.kind in KINDS else len(KINDS)
    undated = item.days_overdue is None
    lateness = -(item.days_overdue or 0)
    return (rank, int(undated), lateness, item.flag, item.learner_id, item.subject, item.id)


def selected(
    items: Sequence[WorkItem],
    *,
    kind: str | None = None,
    flag_names: Iterable[str] = (),
    course: str | None = None,
    owner: int | None = None,
) -> list[WorkItem]:
    """The items of one kind, of these flags, of one course code (case-insensitive), one owner."""
    names = set(flag_names)
    wanted = None if course is None else course.strip().casefold()
    return [
        item
        for item in items
        if (kind is None or item.kind == kind)
        and (not names or item.flag in names)
        and (wanted is None or (item.course_code or "").casefold() == wanted)
        and (owner is None or item.owner_id == owner)
    ]


def by_owner(items: Sequence[WorkItem]) -> list[tuple[int | None, list[WorkItem]]]:
    """The items grouped by owner, in their order; owners with the most overdue first.

    Items without an owner (a learner's flags, enrolments with no coordinator or trainer) come
    last, as one group under None.
    """
    groups: dict[int | None, list[WorkItem]] = {}
    for item in items:
        groups.setdefault(item.owner_id, []).append(item)

    def weight(owner: int | None) -> tuple[int, int, int]:
        overdue = sum(1 for item in groups[owner] if item.kind == "overdue")
        return (owner is None, -overdue, owner or 0)

    return [(owner, groups[owner]) for owner in sorted(groups, key=weight)]


class Worklist:
    """Work items read from the `flags` and `records` tables."""

    def __init__(self, db: Database, offers: CourseOffers) -> None:
        self._db = db
        self._offers = offers

    async def items(self, today: date) -> list[WorkItem]:
        """Every raised flag as a work item, most urgent first."""
        async with self._db.connect() as conn:
            raised = (await conn.execute(select(flags))).all()
        learners = {row.learner_id for row in raised}
        enrolments = {row.course_enrolment_id for row in raised if row.course_enrolment_id}
        numbers = await self._fields(LEARNER, learners, "number")
        offers = await self._fields(ENROLMENT, enrolments, "course_offer_id")
        codes = await self._offers.codes(int(v) for v in offers.values() if v is not None)
        items = []
        for row in raised:
            offer = offers.get(row.course_enrolment_id) if row.course_enrolment_id else None
            known = codes.get(int(offer)) if offer is not None else None
            items.append(
                WorkItem(
                    flag=row.flag,
                    kind=row.kind or "other",
                    subject=row.subject,
                    id=row.subject_id,
                    learner_id=row.learner_id,
                    learner_number=_text(numbers.get(row.learner_id)),
                    course_enrolment_id=row.course_enrolment_id,
                    course_code=None if known is None else known.course_code,
                    owner_id=row.owner_id,
                    due=row.due,
                    days_overdue=None if row.due is None else (today - row.due).days,
                    reason=row.reason,
                )
            )
        return sorted(items, key=urgency)

    async def _fields(self, entity: str, ids: Iterable[int], name: str) -> dict[int, Any]:
        """One stored field of these records, by id."""
        wanted = sorted(ids)
        found: dict[int, Any] = {}
        async with self._db.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                rows = await conn.execute(
                    select(records.c.id, records.c.fields).where(
                        records.c.entity == entity, records.c.id.in_(wanted[start : start + _CHUNK])
                    )
                )
                for ident, fields in rows:
                    found[ident] = (fields or {}).get(name)
        return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
