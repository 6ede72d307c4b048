"""The condition constructs of the mapping language, and the date points conditions compare with.

`Condition` is the one table of condition constructs: each is a model here with its line in the
union (tag = its operator key). A new construct is that entry, one branch in
`mappings.condition_checker.CONDITION_CHECKS` and one in `mappings.condition_compiler`'s
`CONDITION_COMPILERS`; the keys, positions and walks read this table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, get_type_hints

from pydantic import Discriminator, Field, Tag, model_validator

from mappings.catalogue import CHILDREN, Subject
from mappings.schema_values import (
    NAME,
    RULE_ID,
    DayCount,
    NameList,
    Scalar,
    Strict,
    construct_key,
    tagged_models,
)


class TodayOffset(Strict):
    """A day counted from today."""

    today_minus_days: DayCount | None = None
    today_plus_days: DayCount | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TodayOffset:
        if (self.today_minus_days is None) == (self.today_plus_days is None):
            raise ValueError("give exactly one of today_minus_days, today_plus_days")
        return self


class DateOffset(Strict):
    """A day counted from another date of the same subject."""

    date: str | None = Field(default=None, pattern=NAME)
    field: str | None = None
    plus_days: DayCount = 0
    minus_days: DayCount = 0

    @model_validator(mode="after")
    def _exactly_one(self) -> DateOffset:
        if (self.date is None) == (self.field is None):
            raise ValueError("give exactly one of date, field")
        return self


def point_kind(value: Any) -> str | None:
    """Which date point a value is: `today`, an offset from today, or one from another date."""
    if value == "today":
        return "today"
    if isinstance(value, dict):
        if "today_minus_days" in value or "today_plus_days" in value:
            return "today_offset"
        if "date" in value or "field" in value:
            return "date_offset"
        return None
    if isinstance(value, TodayOffset):
        return "today_offset"
    return "date_offset" if isinstance(value, DateOffset) else None


DatePoint = Annotated[
    Annotated[Literal["today"], Tag("today")]
    | Annotated[TodayOffset, Tag("today_offset")]
    | Annotated[DateOffset, Tag("date_offset")],
    Discriminator(
        point_kind,
        custom_error_type="unknown_date_point",
        custom_error_message="unknown date point",
    ),
]

FIELD_OPERATORS = (
    "equals",
    "one_of",
    "in_set",
    "is",
    "exists",
    "matches",
    "before",
    "on_or_before",
    "after",
    "on_or_after",
)
DATE_OPERATORS = ("exists", "before", "on_or_before", "after", "on_or_after")


class AllOf(Strict):
    """Every condition holds."""

    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    """At least one condition holds."""

    any: list[Condition] = Field(min_length=1)


class Not(Strict):
    """The condition does not hold."""

    not_: Condition = Field(alias="not")


class FactRef(Strict):
    """A named fact of the subject holds."""

    fact: str = Field(pattern=NAME)


class OneOperator(Strict):
    """A test that takes exactly one of its construct's operator keys."""

    operators: ClassVar[tuple[str, ...]] = ()
    construct_name: ClassVar[str] = ""

    @model_validator(mode="after")
    def _one_operator(self) -> Self:
        given = [op for op in self.operators if getattr(self, _attr(op)) is not None]
        if len(given) != 1:
            raise ValueError(
                f"{self.construct_name} takes exactly one operator ({', '.join(self.operators)}); "
                f"found {len(given)}" + (f": {', '.join(given)}" if given else "")
            )
        return self

    @property
    def operator(self) -> str:
        """The one operator given."""
        return next(op for op in self.operators if getattr(self, _attr(op)) is not None)

    @property
    def operand(self) -> Any:
        """The operator's value."""
        return getattr(self, _attr(self.operator))


class FieldTest(OneOperator):
    """A catalogue field of the subject passes one test."""

    operators: ClassVar[tuple[str, ...]] = FIELD_OPERATORS
    construct_name: ClassVar[str] = "a field test"

    field: str
    equals: Scalar | None = None
    one_of: list[Scalar] | None = Field(default=None, min_length=1)
    in_set: str | None = Field(default=None, pattern=NAME)
    is_: bool | None = Field(default=None, alias="is")
    exists: bool | None = None
    matches: str | None = Field(default=None, min_length=1, max_length=200)
    before: DatePoint | None = None
    on_or_before: DatePoint | None = None
    after: DatePoint | None = None
    on_or_after: DatePoint | None = None


class DateTest(OneOperator):
    """A named date of the subject passes one test."""

    operators: ClassVar[tuple[str, ...]] = DATE_OPERATORS
    construct_name: ClassVar[str] = "a date test"

    date: str = Field(pattern=NAME)
    exists: bool | None = None
    before: DatePoint | None = None
    on_or_before: DatePoint | None = None
    after: DatePoint | None = None
    on_or_after: DatePoint | None = None


class MissingAny(Strict):
    """At least one of these presence, text or date fields is empty (the flag lists which)."""

    missing_any: list[str] = Field(min_length=1)


class Quantifier(Strict):
    """A test over one child collection of the subject, named under the quantifier's key."""

    quantifier: ClassVar[str] = ""
    if TYPE_CHECKING:
        where: Condition | None

    @property
    def collection(self) -> str:
        """The child collection quantified over (`units`, `credentials` …)."""
        found: str = getattr(self, self.quantifier)
        return found


class Some(Quantifier):
    """At least one child (matching `where`, if given) exists."""

    quantifier: ClassVar[str] = "some"

    some: str
    where: Condition | None = None


class Every(Quantifier):
    """Every child matches `where` (true when there are none)."""

    quantifier: ClassVar[str] = "every"

    every: str
    where: Condition


class NoneOf(Quantifier):
    """No child matches `where` (or there are no children, without `where`)."""

    quantifier: ClassVar[str] = "none"

    none: str
    where: Condition | None = None


class Count(Quantifier):
    """The number of children matching `where` is within the bounds."""

    quantifier: ClassVar[str] = "count"

    count: str
    where: Condition | None = None
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _a_bound(self) -> Count:
        if self.at_least is None and self.at_most is None:
            raise ValueError("count needs at_least, at_most or both")
        return self


class LearnerScope(Strict):
    """The condition holds for the subject's learner."""

    learner: Condition


class EnrolmentScope(Strict):
    """The condition holds for the subject's course enrolment."""

    enrolment: Condition


class StageIs(Strict):
    """The subject's stage (an enrolment's, or the learner's) is one of these."""

    stage: NameList


class FlagRef(Strict):
    """The subject carries this flag (tag rules only)."""

    flag: str = Field(pattern=RULE_ID)


def condition_kind(value: Any) -> str | None:
    """Which construct a condition is, by its operator key (None if it has none)."""
    return construct_key(value, CONDITION_MODELS)


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[FactRef, Tag("fact")]
    | Annotated[FieldTest, Tag("field")]
    | Annotated[DateTest, Tag("date")]
    | Annotated[MissingAny, Tag("missing_any")]
    | Annotated[Some, Tag("some")]
    | Annotated[Every, Tag("every")]
    | Annotated[NoneOf, Tag("none")]
    | Annotated[Count, Tag("count")]
    | Annotated[LearnerScope, Tag("learner")]
    | Annotated[EnrolmentScope, Tag("enrolment")]
    | Annotated[StageIs, Tag("stage")]
    | Annotated[FlagRef, Tag("flag")],
    Discriminator(
        condition_kind,
        custom_error_type="unknown_operator",
        custom_error_message="unknown operator",
    ),
]

CONDITION_MODELS = tagged_models(Condition)
CONDITION_KEYS = tuple(CONDITION_MODELS)


def inner_subject(condition: Strict, subject: Subject) -> Subject:
    """The subject a construct's inner conditions are about (a checked mapping's)."""
    if isinstance(condition, LearnerScope):
        return Subject.LEARNER
    if isinstance(condition, EnrolmentScope):
        return Subject.COURSE_ENROLMENT
    if isinstance(condition, Quantifier):
        return CHILDREN[subject][condition.collection]
    return subject


def inner_conditions(
    condition: Strict, subject: Subject
) -> list[tuple[tuple[str | int, ...], Strict, Subject]]:
    """The conditions a construct holds: path below it, condition, and what it is about."""
    found: list[tuple[tuple[str | int, ...], Strict, Subject]] = []
    for name, field in type(condition).model_fields.items():
        key, value = field.alias or name, getattr(condition, name)
        if type(value) in _CONSTRUCTS:
            found.append(((key,), value, inner_subject(condition, subject)))
        elif isinstance(value, list):
            found += [
                ((key, index), item, inner_subject(condition, subject))
                for index, item in enumerate(value)
                if type(item) in _CONSTRUCTS
            ]
    return found


_CONSTRUCTS = frozenset(CONDITION_MODELS.values())


def _keys_holding(*kinds: Any) -> frozenset[str]:
    """The keys of condition constructs whose value is of one of these types."""
    return frozenset(
        field.alias or name
        for model in CONDITION_MODELS.values()
        for name, field in model.model_fields.items()
        if get_type_hints(model, include_extras=True)[name] in kinds
    )


def _attr(operator: str) -> str:
    """The attribute an operator is stored under (`is` is a keyword)."""
    return "is_" if operator == "is" else operator


_MODELS: tuple[type[Strict], ...] = (TodayOffset, DateOffset, *CONDITION_MODELS.values())
for _model in _MODELS:
    _model.model_rebuild()

# Keys under which a construct holds one condition (`not`, `where` …), or a list (`all`, `any`).
KEYS_OF_ONE_CONDITION = _keys_holding(Condition, Condition | None)
KEYS_OF_CONDITION_LISTS = _keys_holding(list[Condition])
