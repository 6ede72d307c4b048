"""Compiling conditions into `Node`s, one compiler per construct (`CONDITION_COMPILERS`).

`test` and `why_not` of a node are built from the same leaf functions, so an explanation never
disagrees with a decision. Facts are compiled once and cached per evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from mappings.calendar import BusinessCalendar
from mappings.catalogue import CATALOGUE, COLLECTIONS, FieldKind, FieldSpec, Subject, normalise
from mappings.condition_schema import (
    AllOf,
    AnyOf,
    Count,
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
from mappings.date_compiler import DateCompiler
from mappings.evaluation_context import Context, Node, Record, shown_value
from mappings.schema import MappingSpec
from mappings.schema_values import Strict


def _present(spec: FieldSpec, value: Any) -> bool:
    if value is None:
        return False
    if spec.kind is FieldKind.TEXT:
        return bool(str(value).strip())
    return True


class ConditionCompiler(DateCompiler):
    """Compiles the conditions of one checked mapping; facts are compiled on first use."""

    def __init__(self, spec: MappingSpec, calendar: BusinessCalendar) -> None:
        super().__init__(spec, calendar)
        self.sets = {
            name: frozenset(normalise(v) for v in values) for name, values in spec.sets.items()
        }
        self._facts: dict[tuple[Subject, str], Node] = {}

    def condition(self, spec: Any, subject: Subject) -> Node:
        """Compile one condition evaluated on records of `subject`."""
        return CONDITION_COMPILERS[type(spec)](self, spec, subject)

    def all_of(self, spec: AllOf, subject: Subject) -> Node:
        """Every part holds."""
        return self._all([self.condition(part, subject) for part in spec.all])

    def any_of(self, spec: AnyOf, subject: Subject) -> Node:
        """At least one part holds."""
        return self._any([self.condition(part, subject) for part in spec.any])

    def negation(self, spec: Not, subject: Subject) -> Node:
        """The inner condition does not hold."""
        return self._not(self.condition(spec.not_, subject))

    def fact_ref(self, spec: FactRef, subject: Subject) -> Node:
        """A named fact holds."""
        return self.fact(subject, spec.fact)

    def learner_scope(self, spec: LearnerScope, _subject: Subject) -> Node:
        """The inner condition holds for the subject's learner."""
        return self._switch(
            self.condition(spec.learner, Subject.LEARNER),
            "learner",
            lambda ctx, _: ctx.bundle.learner,
        )

    def enrolment_scope(self, spec: EnrolmentScope, _subject: Subject) -> Node:
        """The inner condition holds for the subject's course enrolment."""
        return self._switch(
            self.condition(spec.enrolment, Subject.COURSE_ENROLMENT),
            "enrolment",
            lambda ctx, record: ctx.enrolment_of(record),
        )

    def stage_is(self, spec: StageIs, subject: Subject) -> Node:
        """The subject's stage (the learner's, for a learner) is one of these."""
        stages = frozenset(spec.stage)
        listed = ", ".join(sorted(stages))
        if subject is Subject.LEARNER:
            return Node(
                lambda ctx, _record: ctx.learner_stage in stages,
                lambda ctx, _record: (
                    f"learner stage is {ctx.learner_stage}; expected one of {listed}"
                ),
            )
        return Node(
            lambda ctx, record: ctx.stages.get(record.id) in stages,
            lambda ctx, record: f"stage is {ctx.stages.get(record.id)}; expected one of {listed}",
        )

    def flag_ref(self, spec: FlagRef, subject: Subject) -> Node:
        """The subject carries this flag."""
        flag = spec.flag
        kind = subject.value
        return Node(
            lambda ctx, record: (flag, kind, record.id) in ctx.flags,
            lambda _ctx, _record: f"no {flag} flag",
        )

    def fact(self, subject: Subject, name: str) -> Node:
        """A named fact, compiled once and cached per evaluation."""
        key = (subject, name)
        if key not in self._facts:
            inner = self.condition(self.spec.facts.of(subject)[name], subject)
            tag = ("fact", subject.value, name)

            def test(ctx: Context, record: Record) -> bool:
                slot = (*tag, record.id)
                if slot not in ctx.cache:
                    ctx.cache[slot] = inner.test(ctx, record)
                held: bool = ctx.cache[slot]
                return held

            self._facts[key] = Node(
                test, lambda ctx, record: f"fact {name} does not hold: {inner.why_not(ctx, record)}"
            )
        return self._facts[key]

    @staticmethod
    def _all(parts: list[Node]) -> Node:
        tests = tuple(part.test for part in parts)

        def test(ctx: Context, record: Record) -> bool:
            for part_test in tests:  # noqa: SIM110 - a loop is faster than all()/any() here
                if not part_test(ctx, record):
                    return False
            return True

        def why_not(ctx: Context, record: Record) -> str:
            failing = next(part for part in parts if not part.test(ctx, record))
            return failing.why_not(ctx, record)

        return Node(test, why_not)

    @staticmethod
    def _any(parts: list[Node]) -> Node:
        tests = tuple(part.test for part in parts)

        def test(ctx: Context, record: Record) -> bool:
            for part_test in tests:  # noqa: SIM110 - a loop is faster than all()/any() here
                if part_test(ctx, record):
                    return True
            return False

        def why_not(ctx: Context, record: Record) -> str:
            return "none of: " + "; ".join(part.why_not(ctx, record) for part in parts)

        return Node(test, why_not)

    @staticmethod
    def _not(inner: Node) -> Node:
        inner_test = inner.test
        return Node(
            lambda ctx, record: not inner_test(ctx, record),
            lambda _ctx, _record: "the negated condition holds",
        )

    def field_test(self, spec: FieldTest, subject: Subject) -> Node:
        """A catalogue field passes one test."""
        field_spec = CATALOGUE[subject][spec.field]
        getter = field_spec.get
        check, expected = self._operator(spec.operator, spec.operand, field_spec, subject)

        def test(ctx: Context, record: Record) -> bool:
            return check(ctx, record, getter(record))

        def why_not(ctx: Context, record: Record) -> str:
            value = getter(record)
            shown = "set" if field_spec.personal and value is not None else shown_value(value)
            return f"{spec.field} is {shown}; expected {expected(ctx, record)}"

        return Node(test, why_not)

    def _operator(
        self, operator: str, operand: Any, spec: FieldSpec, subject: Subject
    ) -> tuple[Callable[[Context, Record, Any], bool], Callable[[Context, Record], str]]:
        if operator == "exists":
            want = bool(operand)
            return (
                lambda _c, _r, v: _present(spec, v) == want,
                lambda _c, _r: "present" if want else "missing",
            )
        if operator == "is":
            return (lambda _c, _r, v: v is operand, lambda _c, _r: f"{operand}".lower())
        if operator in ("equals", "one_of", "in_set"):
            return self._membership(operator, operand, spec)
        if operator == "matches":
            pattern = re.compile(operand, re.IGNORECASE)
            return (
                lambda _c, _r, v: isinstance(v, str) and pattern.fullmatch(v.strip()) is not None,
                lambda _c, _r: f"to match {operand}",
            )
        point = self.date_point(operand, subject)
        compare = _COMPARISONS[operator]
        return (
            lambda c, r, v: v is not None and (p := point(c, r)) is not None and compare(v, p),
            lambda c, r: f"{operator.replace('_', ' ')} {shown_value(point(c, r))}",
        )

    def _membership(
        self, operator: str, operand: Any, spec: FieldSpec
    ) -> tuple[Callable[[Context, Record, Any], bool], Callable[[Context, Record], str]]:
        if operator == "in_set":
            allowed = self.sets[operand]
            shown = f"one of set {operand}"
        else:
            values = operand if operator == "one_of" else [operand]
            allowed = frozenset(normalise(v) if isinstance(v, str) else v for v in values)
            shown = (
                ("one of " + ", ".join(map(str, values))) if operator == "one_of" else f"{operand}"
            )
        if spec.kind is FieldKind.TEXT:
            return (
                lambda _c, _r, v: isinstance(v, str) and normalise(v) in allowed,
                lambda _c, _r: shown,
            )
        return (lambda _c, _r, v: v in allowed, lambda _c, _r: shown)

    def date_test(self, spec: DateTest, subject: Subject) -> Node:
        """A named date passes one test."""
        getter = self.named_date(subject, spec.date)
        if spec.operator == "exists":
            want = bool(spec.exists)
            return Node(
                lambda ctx, record: (getter(ctx, record) is not None) == want,
                lambda ctx, record: (
                    f"{spec.date} is {shown_value(getter(ctx, record))}; expected "
                    + ("a known date" if want else "no known date")
                ),
            )
        point = self.date_point(spec.operand, subject)
        compare = _COMPARISONS[spec.operator]

        def test(ctx: Context, record: Record) -> bool:
            value = getter(ctx, record)
            if value is None:
                return False
            limit = point(ctx, record)
            return limit is not None and compare(value, limit)

        def why_not(ctx: Context, record: Record) -> str:
            return (
                f"{spec.date} is {shown_value(getter(ctx, record))}; expected "
                f"{spec.operator.replace('_', ' ')} {shown_value(point(ctx, record))}"
            )

        return Node(test, why_not)

    def missing_any(self, spec: MissingAny, subject: Subject) -> Node:
        """At least one listed field is empty (kept in `ctx.missing` for the reason)."""
        fields = [(name, CATALOGUE[subject][name]) for name in spec.missing_any]

        def missing(record: Record) -> list[str]:
            return [name for name, f in fields if not _present(f, f.get(record))]

        def test(ctx: Context, record: Record) -> bool:
            found = missing(record)
            if found:
                ctx.missing = found
            return bool(found)

        return Node(test, lambda _ctx, _record: "every listed field is present")

    def quantified(self, spec: Quantifier, subject: Subject) -> Node:
        """Some, every, none or a count of a child collection (matching `where`)."""
        collection = spec.collection
        children = COLLECTIONS[subject][collection].read
        child_subject = COLLECTIONS[subject][collection].kind
        where = None if spec.where is None else self.condition(spec.where, child_subject).test

        def matching(ctx: Context, record: Record) -> int:
            items = children(ctx, record)
            if where is None:
                return len(items)
            return sum(1 for child in items if where(ctx, child))

        if isinstance(spec, Some):

            def test(ctx: Context, record: Record) -> bool:
                items = children(ctx, record)
                return any(where(ctx, c) for c in items) if where else bool(items)

            verdict = f"at least one of {collection}"
        elif isinstance(spec, Every):
            assert where is not None  # noqa: S101 - required by the schema
            every_where = where

            def test(ctx: Context, record: Record) -> bool:
                return all(every_where(ctx, c) for c in children(ctx, record))

            verdict = f"every one of {collection}"
        elif isinstance(spec, NoneOf):

            def test(ctx: Context, record: Record) -> bool:
                items = children(ctx, record)
                return not any(where(ctx, c) for c in items) if where else not items

            verdict = f"none of {collection}"
        else:
            assert isinstance(spec, Count)  # noqa: S101 - the quantifiers are closed
            low = spec.at_least if spec.at_least is not None else 0
            high = spec.at_most

            def test(ctx: Context, record: Record) -> bool:
                n = matching(ctx, record)
                return n >= low and (high is None or n <= high)

            verdict = (
                f"between {low} and {high if high is not None else 'any number of'} {collection}"
            )

        def why_not(ctx: Context, record: Record) -> str:
            return (
                f"{matching(ctx, record)} of {len(children(ctx, record))} {collection} "
                f"match; expected {verdict} to match"
            )

        return Node(test, why_not)

    @staticmethod
    def _switch(inner: Node, name: str, to: Callable[[Context, Record], Record | None]) -> Node:
        inner_test = inner.test

        def test(ctx: Context, record: Record) -> bool:
            other = to(ctx, record)
            return other is not None and inner_test(ctx, other)

        def why_not(ctx: Context, record: Record) -> str:
            other = to(ctx, record)
            if other is None:
                return f"there is no {name}"
            return f"{name}: {inner.why_not(ctx, other)}"

        return Node(test, why_not)


_COMPARISONS: dict[str, Callable[[date, date], bool]] = {
    "before": lambda value, limit: value < limit,
    "on_or_before": lambda value, limit: value <= limit,
    "after": lambda value, limit: value > limit,
    "on_or_after": lambda value, limit: value >= limit,
}


# One compiler per condition construct (`mappings.condition_schema.Condition`).
CONDITION_COMPILERS: dict[type[Strict], Callable[[ConditionCompiler, Any, Subject], Node]] = {
    AllOf: ConditionCompiler.all_of,
    AnyOf: ConditionCompiler.any_of,
    Not: ConditionCompiler.negation,
    FactRef: ConditionCompiler.fact_ref,
    FieldTest: ConditionCompiler.field_test,
    DateTest: ConditionCompiler.date_test,
    MissingAny: ConditionCompiler.missing_any,
    Some: ConditionCompiler.quantified,
    Every: ConditionCompiler.quantified,
    NoneOf: ConditionCompiler.quantified,
    Count: ConditionCompiler.quantified,
    LearnerScope: ConditionCompiler.learner_scope,
    EnrolmentScope: ConditionCompiler.enrolment_scope,
    StageIs: ConditionCompiler.stage_is,
    FlagRef: ConditionCompiler.flag_ref,
}
