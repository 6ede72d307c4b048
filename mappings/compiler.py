"""Compiling a checked mapping into plain callables.

Each condition becomes a `Node`: `test(ctx, record)` answers it fast, and `why_not(ctx, record)`
says, for `explain`, which part failed and with what value. Both are built from the same leaf
functions, so an explanation never disagrees with a decision. Facts and named dates are compiled
once and cached per evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from string import Formatter
from typing import Any

from mappings.audiences import code_matcher
from mappings.bundle import (
    Checklist,
    CourseEnrolment,
    Credential,
    LearnerBundle,
    UnitEnrolment,
)
from mappings.calendar import BusinessCalendar, Duration, Unit
from mappings.catalogue import CATALOGUE, CHILDREN, FieldKind, FieldSpec, Subject
from mappings.references import enrolment_flag_driven_tags
from mappings.schema import (
    AllOf,
    AnyOf,
    Count,
    DateExpression,
    DateOfField,
    DateOffset,
    DateOfName,
    DatePoint,
    DateTest,
    Earliest,
    EnrolmentScope,
    Every,
    FactRef,
    FieldTest,
    FirstOf,
    FlagRef,
    Latest,
    LearnerScope,
    MappingSpec,
    MissingAny,
    NoneOf,
    Not,
    Some,
    StageIs,
    TagSelect,
    is_threshold_name,
)

Record = Any
Test = Callable[["Context", Record], bool]
DateOf = Callable[["Context", Record], date | None]


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """The form names are compared in: whitespace folded, case ignored (few distinct values)."""
    return " ".join(text.split()).casefold()


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


def _children(subject: Subject, name: str) -> Callable[[Context, Record], Sequence[Any]]:
    """The getter of a child collection, e.g. a course enrolment's units."""
    getters: dict[tuple[Subject, str], Callable[[Context, Record], Sequence[Any]]] = {
        (Subject.LEARNER, "enrolments"): lambda ctx, _: ctx.bundle.course_enrolments,
        (Subject.LEARNER, "units"): lambda ctx, _: ctx.bundle.unit_enrolments,
        (Subject.LEARNER, "credentials"): lambda ctx, _: ctx.bundle.credentials,
        (Subject.LEARNER, "checklists"): lambda ctx, _: ctx.bundle.checklists,
        (Subject.COURSE_ENROLMENT, "units"): lambda ctx, ce: ctx.units_by_enrolment.get(ce.id, ()),
        (Subject.COURSE_ENROLMENT, "credentials"): (
            lambda ctx, ce: ctx.credentials_by_enrolment.get(ce.id, ())
        ),
        (Subject.COURSE_ENROLMENT, "checklists"): (
            lambda ctx, ce: ctx.checklists_by_enrolment.get(ce.id, ())
        ),
        (Subject.COURSE_ENROLMENT, "other_enrolments"): (
            lambda ctx, ce: [other for other in ctx.bundle.course_enrolments if other.id != ce.id]
        ),
    }
    return getters[(subject, name)]


def _present(spec: FieldSpec, value: Any) -> bool:
    if value is None:
        return False
    if spec.kind is FieldKind.TEXT:
        return bool(str(value).strip())
    return True


def _show(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


class Compiler:
    """Compiles one checked mapping; facts and dates are compiled on first use."""

    def __init__(self, spec: MappingSpec, calendar: BusinessCalendar) -> None:
        self.spec = spec
        self.calendar = calendar
        self.sets = {
            name: frozenset(normalise(v) for v in values) for name, values in spec.sets.items()
        }
        self._facts: dict[tuple[Subject, str], Node] = {}
        self._dates: dict[tuple[Subject, str], DateOf] = {}
        self._audiences: dict[str, Node] = {}

    # --- numbers and dates ----------------------------------------------------------------

    def duration(self, count: int | str) -> Duration:
        """A duration: a number of days, duration text, or a threshold's name."""
        if is_threshold_name(count):
            return Duration.parse(self.spec.thresholds[str(count)])
        return Duration.parse(count)

    def date_point(self, point: DatePoint, subject: Subject) -> DateOf:
        """What a date is compared with."""
        if point == "today":
            return lambda ctx, _: ctx.today
        if not isinstance(point, DateOffset):
            if point.today_minus_days is not None:
                back = self.mover(self.duration(point.today_minus_days), -1)
                return lambda ctx, _: back(ctx.today)
            ahead = self.mover(self.duration(point.today_plus_days or 0), 1)
            return lambda ctx, _: ahead(ctx.today)
        plus = self.mover(self.duration(point.plus_days), 1)
        minus = self.mover(self.duration(point.minus_days), -1)
        base = (
            self.named_date(subject, point.date)
            if point.date is not None
            else self.date_of_field(subject, point.field or "")
        )

        def offset(ctx: Context, record: Record) -> date | None:
            found = base(ctx, record)
            return None if found is None else minus(plus(found))

        return offset

    def mover(self, duration: Duration, sign: int) -> Callable[[date], date]:
        """A function moving a date by `duration` (calendar arithmetic where it is enough)."""
        shift = self.calendar.shift
        if duration.unit in (Unit.DAYS, Unit.WEEKS):
            days = duration.count * (7 if duration.unit is Unit.WEEKS else 1) * sign
            step = timedelta(days=days)

            def plain(day: date) -> date:
                try:
                    return day + step
                except OverflowError:  # past 9999-12-31 or before year 1: the calendar's answer
                    return shift(day, duration, sign)

            return plain
        return lambda day: shift(day, duration, sign)

    def date_of_field(self, subject: Subject, name: str) -> DateOf:
        """A date field's getter."""
        getter = CATALOGUE[subject][name].get
        return lambda _ctx, record: getter(record)

    def named_date(self, subject: Subject, name: str) -> DateOf:
        """A named date of the mapping, cached per evaluation."""
        key = (subject, name)
        if key not in self._dates:
            compute = self.date_expression(self.spec.dates.of(subject)[name], subject)
            tag = ("date", subject.value, name)

            def cached(ctx: Context, record: Record) -> date | None:
                slot = (*tag, record.id)
                if slot not in ctx.cache:
                    ctx.cache[slot] = compute(ctx, record)
                found: date | None = ctx.cache[slot]
                return found

            self._dates[key] = cached
        return self._dates[key]

    def date_expression(self, expression: DateExpression, subject: Subject) -> DateOf:
        """A date expression's getter."""
        if isinstance(expression, DateOfField):
            return self.date_of_field(subject, expression.field)
        if isinstance(expression, DateOfName):
            return self.named_date(subject, expression.date)
        if isinstance(expression, FirstOf):
            options = [self.date_expression(option, subject) for option in expression.first_of]

            def first(ctx: Context, record: Record) -> date | None:
                for option in options:
                    found = option(ctx, record)
                    if found is not None:
                        return found
                return None

            return first
        return self._extreme(expression, subject)

    def _extreme(self, expression: Latest | Earliest, subject: Subject) -> DateOf:
        child_subject = _child_subject(subject, expression.of)
        children = _children(subject, expression.of)
        name = expression.latest if isinstance(expression, Latest) else expression.earliest
        getter = CATALOGUE[child_subject][name].get
        where = (
            None
            if expression.where is None
            else self.condition(expression.where, child_subject).test
        )
        pick = max if isinstance(expression, Latest) else min

        def extreme(ctx: Context, record: Record) -> date | None:
            found = [
                value
                for child in children(ctx, record)
                if (where is None or where(ctx, child)) and (value := getter(child)) is not None
            ]
            return pick(found) if found else None

        return extreme

    # --- conditions -----------------------------------------------------------------------

    def condition(self, spec: Any, subject: Subject) -> Node:  # noqa: PLR0911 - one branch a kind
        """Compile one condition evaluated on records of `subject`."""
        if isinstance(spec, AllOf):
            return self._all([self.condition(part, subject) for part in spec.all])
        if isinstance(spec, AnyOf):
            return self._any([self.condition(part, subject) for part in spec.any])
        if isinstance(spec, Not):
            return self._not(self.condition(spec.not_, subject))
        if isinstance(spec, FactRef):
            return self.fact(subject, spec.fact)
        if isinstance(spec, FieldTest):
            return self._field(spec, subject)
        if isinstance(spec, DateTest):
            return self._date_test(spec, subject)
        if isinstance(spec, MissingAny):
            return self._missing_any(spec, subject)
        if isinstance(spec, Some | Every | NoneOf | Count):
            return self._quantified(spec, subject)
        if isinstance(spec, LearnerScope):
            return self._switch(
                self.condition(spec.learner, Subject.LEARNER),
                "learner",
                lambda ctx, _: ctx.bundle.learner,
            )
        if isinstance(spec, EnrolmentScope):
            return self._switch(
                self.condition(spec.enrolment, Subject.COURSE_ENROLMENT),
                "enrolment",
                lambda ctx, record: ctx.enrolment_of(record),
            )
        if isinstance(spec, StageIs):
            return self._stage(frozenset(spec.stage), subject)
        assert isinstance(spec, FlagRef)  # noqa: S101 - the union is closed
        return self._flag(spec.flag, subject)

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

    def _field(self, spec: FieldTest, subject: Subject) -> Node:
        field_spec = CATALOGUE[subject][spec.field]
        getter = field_spec.get
        check, expected = self._operator(spec.operator, spec.operand, field_spec, subject)

        def test(ctx: Context, record: Record) -> bool:
            return check(ctx, record, getter(record))

        def why_not(ctx: Context, record: Record) -> str:
            value = getter(record)
            shown = "set" if field_spec.personal and value is not None else _show(value)
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
            lambda c, r: f"{operator.replace('_', ' ')} {_show(point(c, r))}",
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

    def _date_test(self, spec: DateTest, subject: Subject) -> Node:
        getter = self.named_date(subject, spec.date)
        if spec.operator == "exists":
            want = bool(spec.exists)
            return Node(
                lambda ctx, record: (getter(ctx, record) is not None) == want,
                lambda ctx, record: (
                    f"{spec.date} is {_show(getter(ctx, record))}; expected "
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
                f"{spec.date} is {_show(getter(ctx, record))}; expected "
                f"{spec.operator.replace('_', ' ')} {_show(point(ctx, record))}"
            )

        return Node(test, why_not)

    @staticmethod
    def _missing_any(spec: MissingAny, subject: Subject) -> Node:
        fields = [(name, CATALOGUE[subject][name]) for name in spec.missing_any]

        def missing(record: Record) -> list[str]:
            return [name for name, f in fields if not _present(f, f.get(record))]

        def test(ctx: Context, record: Record) -> bool:
            found = missing(record)
            if found:
                ctx.missing = found
            return bool(found)

        return Node(test, lambda _ctx, _record: "every listed field is present")

    def _quantified(self, spec: Some | Every | NoneOf | Count, subject: Subject) -> Node:
        collection = (
            spec.some
            if isinstance(spec, Some)
            else spec.every
            if isinstance(spec, Every)
            else spec.none
            if isinstance(spec, NoneOf)
            else spec.count
        )
        children = _children(subject, collection)
        child_subject = _child_subject(subject, collection)
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

    # --- audiences --------------------------------------------------------------------------

    def audience(self, name: str) -> Node:
        """Whether a course enrolment is in the named audience."""
        if name not in self._audiences:
            spec = self.spec.audiences[name]
            of_course, of_offer = code_matcher(spec.courses), code_matcher(spec.course_offers)
            when = (
                None if spec.when is None else self.condition(spec.when, Subject.COURSE_ENROLMENT)
            )

            def test(ctx: Context, ce: Record) -> bool:
                return (
                    of_course(ce.course_code)
                    or of_offer(ce.course_offer_code)
                    or (when is not None and when.test(ctx, ce))
                )

            def why_not(_ctx: Context, ce: Record) -> str:
                return (
                    f"not in audience {name} (course {ce.course_code or 'unknown'}, "
                    f"offer {ce.course_offer_code or 'unknown'})"
                )

            self._audiences[name] = Node(test, why_not)
        return self._audiences[name]

    def within(self, name: str | None, subject: Subject, inner: Node) -> Node:
        """`inner`, limited to subjects of enrolments in the audience (all without one).

        A unit, credential or enrolment checklist is in its enrolment's audience; a learner, or a
        learner's checklist, is in it when one of the learner's enrolments is.
        """
        if name is None:
            return inner
        audience = self.audience(name)
        if subject is Subject.COURSE_ENROLMENT:
            gate = audience
        else:

            def any_enrolment(ctx: Context, record: Record) -> bool:
                if subject is not Subject.LEARNER:
                    enrolment = ctx.enrolment_of(record)
                    if enrolment is not None:
                        return audience.test(ctx, enrolment)
                return any(audience.test(ctx, ce) for ce in ctx.bundle.course_enrolments)

            gate = Node(any_enrolment, lambda _ctx, _record: f"not in audience {name}")
        return self._all([gate, inner])

    @staticmethod
    def _stage(stages: frozenset[str], subject: Subject) -> Node:
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

    @staticmethod
    def _flag(flag: str, subject: Subject) -> Node:
        kind = subject.value
        return Node(
            lambda ctx, record: (flag, kind, record.id) in ctx.flags,
            lambda _ctx, _record: f"no {flag} flag",
        )


_COMPARISONS: dict[str, Callable[[date, date], bool]] = {
    "before": lambda value, limit: value < limit,
    "on_or_before": lambda value, limit: value <= limit,
    "after": lambda value, limit: value > limit,
    "on_or_after": lambda value, limit: value >= limit,
}


def _child_subject(subject: Subject, collection: str) -> Subject:
    return CHILDREN[subject][collection]


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledStageRule:
    """A stage rule, compiled."""

    id: str
    stage: str
    node: Node


@dataclass(frozen=True)
class Template:
    """A reason template: literal text and `{variable}` placeholders."""

    parts: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Split `text` into literals and placeholder names (checked by the loader)."""
        return cls(tuple((literal, name) for literal, name, _, _ in Formatter().parse(text)))

    @property
    def names(self) -> frozenset[str]:
        """The placeholders it uses."""
        return frozenset(name for _, name in self.parts if name is not None)

    def render(self, values: dict[str, Any]) -> str:
        """Fill the placeholders."""
        return "".join(
            literal + ("" if name is None else str(values.get(name, "")))
            for literal, name in self.parts
        )


@dataclass(frozen=True)
class CompiledFlag:
    """A flag rule, compiled; a `learner:` scope is the same for every subject of a learner."""

    id: str
    subject: Subject
    scope: Node | None
    when: Node
    reason: Template
    kind: str = "other"
    due: DateOf | None = None
    scope_is_per_learner: bool = False


@dataclass(frozen=True)
class CompiledTagRule:
    """A tag rule, compiled: either a condition per enrolment or a selection per learner."""

    id: str
    tag: str
    when: Node | None = None
    learner: Node | None = None
    among: Node | None = None
    latest: DateOf | None = None
    highest_id_wins: bool = True


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping ready to evaluate."""

    spec: MappingSpec
    compiler: Compiler
    stage_rules: tuple[CompiledStageRule, ...]
    precedence: dict[str, int]
    flags: tuple[CompiledFlag, ...]
    tag_rules: tuple[CompiledTagRule, ...]
    named_dates: dict[Subject, dict[str, DateOf]]
    flag_driven_tags: frozenset[str]  # tags an enrolment flag (raised by time) can bring


def compile_mapping(spec: MappingSpec, calendar: BusinessCalendar) -> CompiledMapping:
    """Compile a mapping that the loader has checked; business days count on `calendar`."""
    compiler = Compiler(spec, calendar)
    enrolment = Subject.COURSE_ENROLMENT
    stage_rules = tuple(
        CompiledStageRule(
            rule.id,
            rule.stage,
            compiler.within(rule.audience, enrolment, compiler.condition(rule.when, enrolment)),
        )
        for rule in spec.course_enrolment_stages
    )
    flags = tuple(
        CompiledFlag(
            id=rule.id,
            subject=rule.subject,
            scope=None if rule.scope is None else compiler.condition(rule.scope, rule.subject),
            when=compiler.within(
                rule.audience, rule.subject, compiler.condition(rule.when, rule.subject)
            ),
            reason=Template.parse(rule.reason),
            kind=rule.kind,
            due=None if rule.due is None else compiler.date_point(rule.due, rule.subject),
            scope_is_per_learner=isinstance(rule.scope, LearnerScope),
        )
        for rule in spec.flags
    )
    tag_rules = []
    for rule in spec.tags.rules:
        if isinstance(rule, TagSelect):
            select = rule.select
            tag_rules.append(
                CompiledTagRule(
                    id=rule.id,
                    tag=rule.tag,
                    learner=None
                    if select.learner is None
                    else compiler.condition(select.learner, Subject.LEARNER),
                    among=compiler.within(
                        rule.audience, enrolment, compiler.condition(select.among, enrolment)
                    ),
                    latest=compiler.named_date(Subject.COURSE_ENROLMENT, select.latest),
                    highest_id_wins=select.ties == "highest_id",
                )
            )
        else:
            tag_rules.append(
                CompiledTagRule(
                    id=rule.id,
                    tag=rule.tag,
                    when=compiler.within(
                        rule.audience, enrolment, compiler.condition(rule.when, enrolment)
                    ),
                )
            )
    named_dates = {
        subject: {name: compiler.named_date(subject, name) for name in spec.dates.of(subject)}
        for subject in Subject
    }
    return CompiledMapping(
        spec=spec,
        compiler=compiler,
        stage_rules=stage_rules,
        precedence={stage: rank for rank, stage in enumerate(spec.learner_stage.precedence)},
        flags=flags,
        tag_rules=tuple(tag_rules),
        named_dates=named_dates,
        flag_driven_tags=enrolment_flag_driven_tags(spec),
    )
