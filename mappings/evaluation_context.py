"""What compiled rules run on: one learner's bundle, indexed, and the compiled callables' shapes.

A compiled condition is a `Node`: `test(ctx, record)` answers it fast, and `why_not(ctx, record)`
says, for `explain`, which part failed and with what value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mappings.bundle import (
    Checklist,
    CourseEnrolment,
    Credential,
    LearnerBundle,
    UnitEnrolment,
)

Record = Any
Test = Callable[["Context", Record], bool]
DateOf = Callable[["Context", Record], date | None]


@dataclass
class Context:
    """One learner's bundle, indexed, plus what evaluation has decided so far."""

    today: date
    bundle: LearnerBundle
    enrolment_by_id: dict[int, CourseEnrolment]
    units_by_enrolment: dict[int, list[UnitEnrolment]]
    credentials_by_enrolment: dict[int, list[Credential]]
    checklists_by_enrolment: dict[int, list[Checklist]]
    stages: dict[int, str] = field(default_factory=dict)
    learner_stage: str | None = None
    flags: set[tuple[str, str, int]] = field(default_factory=set)
    cache: dict[tuple[str, str, str, int], Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, bundle: LearnerBundle, today: date) -> Context:
        """Index a bundle's children by their course enrolment."""
        units: dict[int, list[UnitEnrolment]] = {}
        for unit in bundle.unit_enrolments:
            units.setdefault(unit.course_enrolment_id, []).append(unit)
        credentials: dict[int, list[Credential]] = {}
        for credential in bundle.credentials:
            credentials.setdefault(credential.course_enrolment_id, []).append(credential)
        checklists: dict[int, list[Checklist]] = {}
        for checklist in bundle.checklists:
            if checklist.entity == "CourseEnrolment":
                checklists.setdefault(checklist.record_id, []).append(checklist)
        return cls(
            today=today,
            bundle=bundle,
            enrolment_by_id={ce.id: ce for ce in bundle.course_enrolments},
            units_by_enrolment=units,
            credentials_by_enrolment=credentials,
            checklists_by_enrolment=checklists,
        )

    def enrolment_of(self, record: Record) -> CourseEnrolment | None:
        """The course enrolment a unit, credential or enrolment checklist belongs to."""
        if isinstance(record, Checklist):
            if record.entity != "CourseEnrolment":
                return None
            return self.enrolment_by_id.get(record.record_id)
        return self.enrolment_by_id.get(record.course_enrolment_id)


@dataclass(frozen=True)
class Node:
    """A compiled condition: a fast test and an explanation of a failure."""

    test: Test
    why_not: Callable[[Context, Record], str]


def shown_value(value: Any) -> str:
    """A value as an explanation shows it: `empty`, an ISO date, or its repr."""
    if value is None:
        return "empty"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)
