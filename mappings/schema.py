"""The mapping language (version 1): what admins write in `mapping.yaml`.

A closed set of declarative constructs, no expressions:

- `thresholds`: named durations (days, business days, weeks, months); `sets`: named lists;
- `audiences`: named groups of course enrolments (by course, offer or condition) a rule may be
  limited to with `audience: NAME`;
- `facts`: named conditions per subject (`certified`, `usi_present`, …);
- `dates`: named dates per subject, e.g. the completion date as a fallback chain;
- `course_enrolment_stages`: ordered rules, first match wins; `learner_stage`: the roll-up;
- `flags`: missing data and overdue work, each with a subject, scope, condition and reason;
- `tags`: the tags the connector owns, and which course enrolments carry them.

A condition is a mapping with exactly one operator key:

```
all: [C, …]            any: [C, …]            not: C
fact: NAME             stage: [STAGE, …]      flag: FLAG-ID
field: NAME + one of   equals | one_of | in_set | is | exists | matches
                       | before | on_or_before | after | on_or_after
date: NAME + one of    exists | before | on_or_before | after | on_or_after
missing_any: [FIELD, …]
some | every | none | count: CHILDREN (+ where: C; count takes at_least / at_most)
learner: C             enrolment: C
```

A date point (what a date is compared with) is `today`, `{today_minus_days: N}`,
`{today_plus_days: N}`, or `{date: NAME | field: NAME, plus_days: N, minus_days: N}`; N is a
number of days, a duration (`10 business days`, `2 weeks`, `1 month`) or a threshold's name.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from mappings.calendar import (
    DURATION_HINT,
    DURATION_PATTERN,
    MAX_DAYS,
    Duration,
    DurationError,
    DurationRangeError,
)
from mappings.catalogue import Subject
from mappings.problems import shown

RULE_ID = r"^[a-z][a-z0-9-]*$"
NAME = r"^[a-z][a-z0-9_]*$"
CLOSED, UNMAPPED = "closed", "unmapped"


class Strict(BaseModel):
    """Base of every construct: unknown keys are errors; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _counted(*, names: bool) -> WrapValidator:
    """One clear error for a day count, whichever form it was meant to take."""

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"Input should be greater than or equal to 0; found {value}")
            if value > MAX_DAYS:
                raise ValueError(f"Input should be less than or equal to {MAX_DAYS}; found {value}")
        elif isinstance(value, str) and names and re.fullmatch(NAME, value):
            pass
        elif isinstance(value, str):
            try:
                Duration.parse(value)
            except DurationRangeError as exc:
                raise ValueError(f"{exc}; found {shown(value)}") from exc
            except DurationError as exc:
                name = " or a threshold's name" if names else ""
                raise ValueError(f"expected {DURATION_HINT}{name}; found {shown(value)}") from exc
        else:
            raise ValueError(f"expected {DURATION_HINT}; found {shown(value)}")
        return handler(value)

    return WrapValidator(check)


DurationText = Annotated[str, Field(pattern=DURATION_PATTERN)]
DayCount = Annotated[
    Annotated[int, Field(ge=0, le=MAX_DAYS)] | Annotated[str, Field(pattern=NAME)] | DurationText,
    _counted(names=True),
]
ThresholdValue = Annotated[
    Annotated[int, Field(ge=0, le=MAX_DAYS)] | DurationText, _counted(names=False)
]
Scalar = str | int | bool
V = TypeVar("V")


def is_threshold_name(count: object) -> bool:
    """Whether a day count names a threshold (rather than giving a number or duration text)."""
    return isinstance(count, str) and " " not in count


def _as_list(value: Any) -> Any:
    """Let a single name stand for a one-element list."""
    return [value] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


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


class Some(Strict):
    """At least one child (matching `where`, if given) exists."""

    some: str
    where: Condition | None = None


class Every(Strict):
    """Every child matches `where` (true when there are none)."""

    every: str
    where: Condition


class NoneOf(Strict):
    """No child matches `where` (or there are no children, without `where`)."""

    none: str
    where: Condition | None = None


class Count(Strict):
    """The number of children matching `where` is within the bounds."""

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


CONDITION_KEYS = (
    "all",
    "any",
    "not",
    "fact",
    "field",
    "date",
    "missing_any",
    "some",
    "every",
    "none",
    "count",
    "learner",
    "enrolment",
    "stage",
    "flag",
)


def condition_kind(value: Any) -> str | None:
    """Which construct a condition is, by its operator key (None if it has none)."""
    if isinstance(value, dict):
        return next((key for key in CONDITION_KEYS if key in value), None)
    for key, model in _CONDITION_MODELS.items():
        if isinstance(value, model):
            return key
    return None


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

_CONDITION_MODELS: dict[str, type[Strict]] = {
    "all": AllOf,
    "any": AnyOf,
    "not": Not,
    "fact": FactRef,
    "field": FieldTest,
    "date": DateTest,
    "missing_any": MissingAny,
    "some": Some,
    "every": Every,
    "none": NoneOf,
    "count": Count,
    "learner": LearnerScope,
    "enrolment": EnrolmentScope,
    "stage": StageIs,
    "flag": FlagRef,
}


# --- date expressions -------------------------------------------------------------------------


class DateOfField(Strict):
    """A date field of the subject."""

    field: str


class DateOfName(Strict):
    """Another named date of the subject."""

    date: str = Field(pattern=NAME)


class Latest(Strict):
    """The latest of a date field over children (matching `where`, if given)."""

    latest: str
    of: str
    where: Condition | None = None


class Earliest(Strict):
    """The earliest of a date field over children (matching `where`, if given)."""

    earliest: str
    of: str
    where: Condition | None = None


class FirstOf(Strict):
    """The first of these dates that is known."""

    first_of: list[DateExpression] = Field(min_length=1)


DATE_KEYS = ("first_of", "latest", "earliest", "field", "date")


def date_kind(value: Any) -> str | None:
    """Which date construct a value is, by its key."""
    if isinstance(value, dict):
        return next((key for key in DATE_KEYS if key in value), None)
    for key, model in _DATE_MODELS.items():
        if isinstance(value, model):
            return key
    return None


DateExpression = Annotated[
    Annotated[FirstOf, Tag("first_of")]
    | Annotated[Latest, Tag("latest")]
    | Annotated[Earliest, Tag("earliest")]
    | Annotated[DateOfField, Tag("field")]
    | Annotated[DateOfName, Tag("date")],
    Discriminator(
        date_kind,
        custom_error_type="unknown_date_expression",
        custom_error_message="unknown date expression",
    ),
]

_DATE_MODELS: dict[str, type[Strict]] = {
    "first_of": FirstOf,
    "latest": Latest,
    "earliest": Earliest,
    "field": DateOfField,
    "date": DateOfName,
}


# --- rules ------------------------------------------------------------------------------------


class PerSubject(Strict, Generic[V]):
    """Named definitions for each subject kind."""

    learner: dict[Annotated[str, Field(pattern=NAME)], V] = Field(default_factory=dict)
    course_enrolment: dict[Annotated[str, Field(pattern=NAME)], V] = Field(default_factory=dict)
    unit_enrolment: dict[Annotated[str, Field(pattern=NAME)], V] = Field(default_factory=dict)
    credential: dict[Annotated[str, Field(pattern=NAME)], V] = Field(default_factory=dict)
    checklist: dict[Annotated[str, Field(pattern=NAME)], V] = Field(default_factory=dict)

    def of(self, subject: Subject) -> dict[str, V]:
        """The definitions for one subject."""
        found: dict[str, V] = getattr(self, subject.value)
        return found


CodePattern = Annotated[str, Field(min_length=1, max_length=100)]


class Audience(Strict):
    """Course enrolments of these courses or offers, or matching `when` (any of them).

    Codes compare trimmed and case-insensitively; `*` and `?` are wildcards (`HLTAID*`).
    """

    courses: list[CodePattern] | None = Field(default=None, min_length=1)
    course_offers: list[CodePattern] | None = Field(default=None, min_length=1)
    when: Condition | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Audience:
        if self.courses is None and self.course_offers is None and self.when is None:
            raise ValueError("an audience needs courses, course_offers or when")
        return self


AudienceName = Annotated[str, Field(pattern=NAME)]


class StageRule(Strict):
    """Course enrolments matching `when` are in `stage` (the first matching rule wins)."""

    id: str = Field(pattern=RULE_ID)
    stage: str
    audience: AudienceName | None = None  # only enrolments in this audience
    when: Condition
    description: str | None = None


class LearnerStage(Strict):
    """The learner's stage is the highest-precedence stage among their enrolments."""

    precedence: list[str] = Field(min_length=1)


class FlagRule(Strict):
    """Raise flag `id` on every `subject` that is in `scope` and matches `when`."""

    id: str = Field(pattern=RULE_ID)
    subject: Subject
    kind: Literal["missing_data", "overdue", "other"] = "other"  # how reports group it
    audience: AudienceName | None = None  # only subjects of enrolments in this audience
    scope: Condition | None = None
    when: Condition
    reason: str = Field(min_length=1, max_length=300)
    due: DateOffset | None = None  # when the flagged work became due (the worklist's lateness)
    description: str | None = None


class Selection(Strict):
    """Pick one course enrolment per learner: among those matching `among`, the latest date."""

    learner: Condition | None = None
    among: Condition
    latest: str = Field(pattern=NAME)
    ties: Literal["highest_id", "lowest_id"] = "highest_id"


class TagWhen(Strict):
    """Tag every course enrolment matching `when`."""

    id: str = Field(pattern=RULE_ID)
    tag: str = Field(min_length=1, max_length=100)
    audience: AudienceName | None = None  # only enrolments in this audience
    when: Condition
    description: str | None = None


class TagSelect(Strict):
    """Tag the one course enrolment per learner that `select` picks."""

    id: str = Field(pattern=RULE_ID)
    tag: str = Field(min_length=1, max_length=100)
    audience: AudienceName | None = None  # only enrolments in this audience
    select: Selection
    description: str | None = None


def tag_rule_kind(value: Any) -> str | None:
    """`when` or `select`."""
    if isinstance(value, dict):
        return next((key for key in ("when", "select") if key in value), None)
    return "select" if isinstance(value, TagSelect) else "when"


TagRule = Annotated[
    Annotated[TagWhen, Tag("when")] | Annotated[TagSelect, Tag("select")],
    Discriminator(
        tag_rule_kind,
        custom_error_type="tag_rule_kind",
        custom_error_message="a tag rule needs `when` (a condition) or `select` (a selection)",
    ),
]


class OwnedTag(Strict):
    """A tag the connector owns; `adopt_existing` lets it take over a tag staff already made."""

    name: str = Field(min_length=1, max_length=100)
    adopt_existing: bool = False


def _owned(value: Any) -> Any:
    """Let a bare name stand for `{name: …}`."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class Tags(Strict):
    """The tags the connector owns, retired ones it only removes, and the tag rules."""

    owned: Annotated[list[OwnedTag], BeforeValidator(_owned)] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    rules: list[TagRule] = Field(default_factory=list)


class MappingSpec(Strict):
    """A whole mapping file."""

    version: Literal[1]
    name: str | None = None
    stages: list[str] = Field(min_length=1)
    thresholds: dict[Annotated[str, Field(pattern=NAME)], ThresholdValue] = Field(
        default_factory=dict
    )
    sets: dict[Annotated[str, Field(pattern=NAME)], list[str]] = Field(default_factory=dict)
    audiences: dict[AudienceName, Audience] = Field(default_factory=dict)
    facts: PerSubject[Condition] = Field(default_factory=PerSubject[Condition])
    dates: PerSubject[DateExpression] = Field(default_factory=PerSubject[DateExpression])
    course_enrolment_stages: list[StageRule] = Field(min_length=1)
    learner_stage: LearnerStage
    flags: list[FlagRule] = Field(default_factory=list)
    tags: Tags = Field(default_factory=Tags)


def _attr(operator: str) -> str:
    """The attribute an operator is stored under (`is` is a keyword)."""
    return "is_" if operator == "is" else operator


_MODELS: tuple[type[BaseModel], ...] = (
    *_CONDITION_MODELS.values(),
    *_DATE_MODELS.values(),
    Selection,
    Audience,
    StageRule,
    FlagRule,
    TagWhen,
    TagSelect,
    MappingSpec,
)
for _model in _MODELS:
    _model.model_rebuild()
