"""Checking conditions, date points and named definitions: one check per construct.

`CONDITION_CHECKS` holds the check of each condition construct; a check records its problems and
answers whether the condition refers (maybe through facts or dates) to stages or flags, which
stage rules and audiences may not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mappings.catalogue import CATALOGUE, CHILDREN, HAS_ENROLMENT, FieldKind, Subject
from mappings.condition_schema import (
    AllOf,
    AnyOf,
    Count,
    DateOffset,
    DatePoint,
    DateTest,
    EnrolmentScope,
    Every,
    FactRef,
    FieldTest,
    FlagRef,
    LearnerScope,
    MissingAny,
    NoneOf,
    Not,
    Quantifier,
    Some,
    StageIs,
)
from mappings.date_schema import DateExpression, DateOfField, DateOfName, FirstOf, Latest
from mappings.positions import Loc, locate, rule_and_path
from mappings.problems import Problem
from mappings.schema import CLOSED, UNMAPPED, MappingSpec
from mappings.schema_values import Strict, is_threshold_name

_APPLICABLE: dict[FieldKind, frozenset[str]] = {
    FieldKind.TEXT: frozenset({"equals", "one_of", "in_set", "matches", "exists"}),
    FieldKind.DATE: frozenset({"before", "on_or_before", "after", "on_or_after", "exists"}),
    FieldKind.BOOL: frozenset({"is", "exists"}),
    FieldKind.INT: frozenset({"equals", "one_of", "exists"}),
    FieldKind.PRESENCE: frozenset({"exists"}),
}

# Conditions decided before any stage is known, and what to call them in a problem.
_NO_DECISIONS = {"stage": "stage rules", "audience": "audiences (stage rules use them)"}


@dataclass
class Scope:
    """Where a condition stands: the rule kind it belongs to and how to report it."""

    rule_kind: str  # "stage", "audience", "flag", "tag" or "definition"
    loc: Loc

    def below(self, *parts: str | int) -> Scope:
        """The same rule kind, at a place below this one."""
        return Scope(self.rule_kind, (*self.loc, *parts))


class ConditionChecker:
    """Checks conditions and the facts and dates they name, with a position for each problem."""

    def __init__(self, spec: MappingSpec, raw: Any, source: str) -> None:
        self.spec = spec
        self.raw = raw
        self.source = source
        self.problems: list[Problem] = []
        self.flag_subjects = {flag.id: flag.subject for flag in spec.flags}
        self.stage_names = set(spec.stages)
        # Facts and dates that refer (maybe indirectly) to stages or flags.
        self._uses_decisions: dict[tuple[str, Subject, str], bool] = {}
        self._visiting: set[tuple[str, Subject, str]] = set()

    def problem(self, loc: Loc, message: str) -> None:
        """Record one problem at a location."""
        line, column, real = locate(self.raw, loc, tagged=False)
        rule, path = rule_and_path(self.raw, real)
        self.problems.append(Problem(self.source, line, column, message, rule, path))

    def fact_uses_decisions(self, subject: Subject, name: str) -> bool:
        """Check a fact once; whether it refers (maybe indirectly) to stages or flags."""
        key = ("fact", subject, name)
        if key in self._uses_decisions:
            return self._uses_decisions[key]
        loc: Loc = ("facts", subject.value, name)
        if key in self._visiting:
            self.problem(loc, f"fact '{name}' refers to itself")
            return False
        self._visiting.add(key)
        uses = self.condition(self.spec.facts.of(subject)[name], subject, Scope("definition", loc))
        self._visiting.discard(key)
        self._uses_decisions[key] = uses
        return uses

    def date_uses_decisions(self, subject: Subject, name: str) -> bool:
        """Check a named date once; whether it refers (maybe indirectly) to stages or flags."""
        key = ("date", subject, name)
        if key in self._uses_decisions:
            return self._uses_decisions[key]
        loc: Loc = ("dates", subject.value, name)
        if key in self._visiting:
            self.problem(loc, f"date '{name}' refers to itself")
            return False
        self._visiting.add(key)
        uses = self.date_expression(
            self.spec.dates.of(subject)[name], subject, Scope("definition", loc)
        )
        self._visiting.discard(key)
        self._uses_decisions[key] = uses
        return uses

    def date_expression(self, expression: DateExpression, subject: Subject, at: Scope) -> bool:
        """Check a date expression; whether it uses stages or flags."""
        if isinstance(expression, DateOfField):
            self._date_field(expression.field, subject, (*at.loc, "field"))
            return False
        if isinstance(expression, DateOfName):
            return self._named_date(expression.date, subject, (*at.loc, "date"))
        if isinstance(expression, FirstOf):
            # Check every option, not just up to the first that uses stages or flags.
            option_uses = [
                self.date_expression(option, subject, at.below("first_of", i))
                for i, option in enumerate(expression.first_of)
            ]
            return any(option_uses)
        collection = expression.of
        child = self._child(subject, collection, (*at.loc, "of"))
        if child is None:
            return False
        name = expression.latest if isinstance(expression, Latest) else expression.earliest
        key = "latest" if isinstance(expression, Latest) else "earliest"
        self._date_field(name, child, (*at.loc, key))
        if expression.where is None:
            return False
        return self.condition(expression.where, child, at.below("where"))

    def _named_date(self, name: str, subject: Subject, loc: Loc) -> bool:
        if name not in self.spec.dates.of(subject):
            known = ", ".join(self.spec.dates.of(subject)) or "none defined"
            self.problem(loc, f"unknown date '{name}' for a {subject.value}; known: {known}")
            return False
        return self.date_uses_decisions(subject, name)

    def _date_field(self, name: str, subject: Subject, loc: Loc) -> None:
        spec = CATALOGUE[subject].get(name)
        if spec is None or spec.kind is not FieldKind.DATE:
            dates = [n for n, f in CATALOGUE[subject].items() if f.kind is FieldKind.DATE]
            self.problem(
                loc,
                f"'{name}' is not a date field of a {subject.value}; "
                f"expected one of {', '.join(dates) or 'none'}",
            )

    def _child(self, subject: Subject, collection: str, loc: Loc) -> Subject | None:
        children = CHILDREN[subject]
        if collection not in children:
            expected = ", ".join(children) or f"nothing (a {subject.value} has no children)"
            self.problem(loc, f"a {subject.value} has no '{collection}'; expected {expected}")
            return None
        return children[collection]

    def condition(self, spec: Any, subject: Subject, at: Scope) -> bool:
        """Check one condition on `subject`; whether it uses stages or flags."""
        return CONDITION_CHECKS[type(spec)](self, spec, subject, at)

    def all_of(self, spec: AllOf, subject: Subject, at: Scope) -> bool:
        """Check every part, not just up to the first that uses stages or flags."""
        part_uses = [self.condition(p, subject, at.below("all", i)) for i, p in enumerate(spec.all)]
        return any(part_uses)

    def any_of(self, spec: AnyOf, subject: Subject, at: Scope) -> bool:
        """Check every part, not just up to the first that uses stages or flags."""
        part_uses = [self.condition(p, subject, at.below("any", i)) for i, p in enumerate(spec.any)]
        return any(part_uses)

    def negation(self, spec: Not, subject: Subject, at: Scope) -> bool:
        """Check the negated condition."""
        return self.condition(spec.not_, subject, at.below("not"))

    def fact_ref(self, spec: FactRef, subject: Subject, at: Scope) -> bool:
        """The fact exists and, in a stage rule or audience, uses no stage or flag."""
        loc = (*at.loc, "fact")
        if spec.fact not in self.spec.facts.of(subject):
            known = ", ".join(self.spec.facts.of(subject)) or "none defined"
            self.problem(loc, f"unknown fact '{spec.fact}' for a {subject.value}; known: {known}")
            return False
        uses = self.fact_uses_decisions(subject, spec.fact)
        if uses and at.rule_kind in _NO_DECISIONS:
            self.problem(
                loc,
                f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages or flags; "
                f"fact '{spec.fact}' does",
            )
        return uses

    def date_test(self, spec: DateTest, subject: Subject, at: Scope) -> bool:
        """The date exists, its date point is sound, and it is allowed where it stands."""
        loc = at.loc
        uses = self._named_date(spec.date, subject, (*loc, "date"))
        if spec.operator != "exists":
            self._date_point(spec.operand, subject, (*loc, spec.operator))
        if uses and at.rule_kind in _NO_DECISIONS:
            self.problem(
                (*loc, "date"),
                f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages or flags; "
                f"date '{spec.date}' does",
            )
        return uses

    def missing_any(self, spec: MissingAny, subject: Subject, at: Scope) -> bool:
        """Every listed field exists."""
        for i, name in enumerate(spec.missing_any):
            if name not in CATALOGUE[subject]:
                self.problem((*at.loc, "missing_any", i), self._unknown_field(name, subject))
        return False

    def quantified(self, spec: Quantifier, subject: Subject, at: Scope) -> bool:
        """The collection exists; `where` is checked on its children."""
        key = spec.quantifier
        child = self._child(subject, spec.collection, (*at.loc, key))
        if child is None or spec.where is None:
            return False
        return self.condition(spec.where, child, at.below("where"))

    def learner_scope(self, spec: LearnerScope, _subject: Subject, at: Scope) -> bool:
        """Check the condition on the learner."""
        return self.condition(spec.learner, Subject.LEARNER, at.below("learner"))

    def enrolment_scope(self, spec: EnrolmentScope, subject: Subject, at: Scope) -> bool:
        """The subject has a course enrolment; check the condition on it."""
        if subject not in HAS_ENROLMENT:
            self.problem(
                (*at.loc, "enrolment"),
                f"a {subject.value} has no enrolment to refer to; `enrolment:` "
                "applies to unit enrolments, credentials and checklists",
            )
            return False
        return self.condition(spec.enrolment, Subject.COURSE_ENROLMENT, at.below("enrolment"))

    def stage_is(self, spec: StageIs, subject: Subject, at: Scope) -> bool:
        """The stages exist, and the subject has a stage; it is allowed where it stands."""
        loc = (*at.loc, "stage")
        if at.rule_kind in _NO_DECISIONS:
            self.problem(loc, f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages")
        if subject not in (Subject.LEARNER, Subject.COURSE_ENROLMENT):
            self.problem(loc, f"a {subject.value} has no stage; use `learner:` or `enrolment:`")
        for name in spec.stage:
            if name not in self.stage_names | {CLOSED, UNMAPPED}:
                self.problem(
                    loc,
                    f"unknown stage '{name}'; expected one of "
                    f"{', '.join([*self.spec.stages, CLOSED, UNMAPPED])}",
                )
        return True

    def flag_ref(self, spec: FlagRef, subject: Subject, at: Scope) -> bool:
        """The flag exists and is raised on the subject; only tag rules may test flags."""
        loc = (*at.loc, "flag")
        if at.rule_kind != "tag":
            self.problem(loc, "only tag rules may refer to flags")
        flag_subject = self.flag_subjects.get(spec.flag)
        if flag_subject is None:
            known = ", ".join(self.flag_subjects) or "none defined"
            self.problem(loc, f"unknown flag '{spec.flag}'; known: {known}")
        elif flag_subject is not subject:
            self.problem(
                loc,
                f"flag '{spec.flag}' is raised on a {flag_subject.value}, not on "
                f"a {subject.value}"
                + ("; wrap it in `learner:`" if flag_subject is Subject.LEARNER else ""),
            )
        return True

    def _unknown_field(self, name: str, subject: Subject) -> str:
        return (
            f"unknown field '{name}' for a {subject.value}; expected one of "
            f"{', '.join(CATALOGUE[subject])}"
        )

    def field_test(self, spec: FieldTest, subject: Subject, at: Scope) -> bool:
        """The field exists and the operator applies to it; its operand is sound."""
        loc = at.loc
        field = CATALOGUE[subject].get(spec.field)
        if field is None:
            self.problem((*loc, "field"), self._unknown_field(spec.field, subject))
            return False
        operator = spec.operator
        if operator not in _APPLICABLE[field.kind]:
            self.problem(
                (*loc, operator),
                f"operator '{operator}' does not apply to "
                f"{field.kind.value} field '{spec.field}'; expected one of "
                f"{', '.join(sorted(_APPLICABLE[field.kind]))}",
            )
            return False
        if operator == "in_set" and spec.in_set not in self.spec.sets:
            known = ", ".join(self.spec.sets) or "none defined"
            self.problem((*loc, "in_set"), f"unknown set '{spec.in_set}'; known: {known}")
        if operator == "matches":
            try:
                re.compile(str(spec.matches))
            except re.error as exc:
                self.problem((*loc, "matches"), f"not a valid pattern: {exc}")
        if operator in ("before", "on_or_before", "after", "on_or_after"):
            return self._date_point(spec.operand, subject, (*loc, operator))
        return False

    def _date_point(self, point: DatePoint, subject: Subject, loc: Loc) -> bool:
        if point == "today":
            return False
        counts: list[tuple[str, int | str]]
        if isinstance(point, DateOffset):
            counts = [("plus_days", point.plus_days), ("minus_days", point.minus_days)]
        else:
            counts = [
                (key, value)
                for key, value in (
                    ("today_minus_days", point.today_minus_days),
                    ("today_plus_days", point.today_plus_days),
                )
                if value is not None
            ]
        for key, count in counts:
            if is_threshold_name(count) and count not in self.spec.thresholds:
                known = ", ".join(self.spec.thresholds) or "none defined"
                self.problem((*loc, key), f"unknown threshold '{count}'; known: {known}")
        if isinstance(point, DateOffset):
            if point.date is not None:
                return self._named_date(point.date, subject, (*loc, "date"))
            self._date_field(point.field or "", subject, (*loc, "field"))
        return False


# One check per condition construct (`mappings.condition_schema.Condition`).
CONDITION_CHECKS: dict[type[Strict], Callable[[ConditionChecker, Any, Subject, Scope], bool]] = {
    AllOf: ConditionChecker.all_of,
    AnyOf: ConditionChecker.any_of,
    Not: ConditionChecker.negation,
    FactRef: ConditionChecker.fact_ref,
    FieldTest: ConditionChecker.field_test,
    DateTest: ConditionChecker.date_test,
    MissingAny: ConditionChecker.missing_any,
    Some: ConditionChecker.quantified,
    Every: ConditionChecker.quantified,
    NoneOf: ConditionChecker.quantified,
    Count: ConditionChecker.quantified,
    LearnerScope: ConditionChecker.learner_scope,
    EnrolmentScope: ConditionChecker.enrolment_scope,
    StageIs: ConditionChecker.stage_is,
    FlagRef: ConditionChecker.flag_ref,
}
