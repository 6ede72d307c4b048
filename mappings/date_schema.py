"""Date expressions: how `dates:` defines a named date of a subject.

A date expression is a date field, another named date, the latest or earliest of a date field
over children (matching `where`, if given), or the first known of several expressions.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from mappings.condition_schema import Condition
from mappings.schema_values import NAME, Strict, construct_key, tagged_models


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


def date_kind(value: Any) -> str | None:
    """Which date construct a value is, by its key."""
    return construct_key(value, DATE_MODELS)


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

DATE_MODELS = tagged_models(DateExpression)
DATE_KEYS = tuple(DATE_MODELS)

for _model in DATE_MODELS.values():
    _model.model_rebuild()
