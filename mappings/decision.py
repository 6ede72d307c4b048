"""What evaluating a learner decides: stages, flags and the owned tags each enrolment should carry.

Stages are spelled `Sales`, `Progression`, `Completion`, `Reconnect` (or whatever the mapping
declares), `closed` and `unmapped`; a learner whose enrolments are all closed or unmapped has no
stage (`None`). Every item carries the id of the rule that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mappings.catalogue import Subject


@dataclass(frozen=True, slots=True)
class Flag:
    """A raised flag: which, on what, by which rule, and why in one line.

    `kind` is the rule's (`missing_data`, `overdue`, `other`); `due` the day the flagged work
    became due, where the rule says; `course_enrolment_id` the enrolment the subject is or belongs
    to (None for a learner or a learner's checklist); `owner_id` who owes the work: that
    enrolment's coordinator, else its trainer (a staff id; None when it has neither).
    """

    flag: str
    subject: Subject
    subject_id: int
    rule: str
    reason: str
    kind: str = "other"
    due: date | None = None
    course_enrolment_id: int | None = None
    owner_id: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(flag, subject kind, subject id): what identifies a flag between evaluations."""
        return (self.flag, self.subject.value, self.subject_id)


@dataclass(frozen=True, slots=True)
class EnrolmentDecision:
    """One course enrolment's stage and desired owned tags."""

    id: int
    stage: str
    stage_rule: str | None
    desired_tags: frozenset[str]
    tag_rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything decided for one learner."""

    learner_id: int
    learner_stage: str | None
    learner_stage_from: int | None
    course_enrolments: tuple[EnrolmentDecision, ...]
    flags: tuple[Flag, ...]

    def enrolment(self, course_enrolment_id: int) -> EnrolmentDecision:
        """The decision for one enrolment."""
        return next(ce for ce in self.course_enrolments if ce.id == course_enrolment_id)

    def flag_keys(self) -> frozenset[tuple[str, str, int]]:
        """Every raised flag's key."""
        return frozenset(flag.key for flag in self.flags)
