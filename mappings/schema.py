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

The conditions and date points are in `mappings.condition_schema`, date expressions in
`mappings.date_schema`; this module holds the document: definitions, rules and tags.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, model_validator

from mappings.catalogue import Subject
from mappings.condition_schema import Condition, DateOffset
from mappings.date_schema import DateExpression
from mappings.schema_values import NAME, RULE_ID, Strict, ThresholdValue

CLOSED, UNMAPPED = "closed", "unmapped"
V = TypeVar("V")


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


_MODELS: tuple[type[BaseModel], ...] = (
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
