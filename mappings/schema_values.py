"""The values every construct of the mapping language shares.

The strict base of every construct, the spelling of names and rule ids, day counts (a number, a
duration, or a threshold's name) and the helper that reads a tagged union's constructs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from mappings.calendar import (
    DURATION_HINT,
    DURATION_PATTERN,
    MAX_DAYS,
    Duration,
    DurationError,
    DurationRangeError,
)
from mappings.problems import shown

RULE_ID = r"^[a-z][a-z0-9-]*$"
NAME = r"^[a-z][a-z0-9_]*$"


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


def is_threshold_name(count: object) -> bool:
    """Whether a day count names a threshold (rather than giving a number or duration text)."""
    return isinstance(count, str) and " " not in count


def _as_list(value: Any) -> Any:
    """Let a single name stand for a one-element list."""
    return [value] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]


def tagged_models(union: Any) -> dict[str, type[Strict]]:
    """The constructs of a tagged union, by tag, in the union's order."""
    members = get_args(get_args(union)[0])
    return {tag.tag: model for model, tag in (get_args(member) for member in members)}


def construct_key(value: Any, models: dict[str, type[Strict]]) -> str | None:
    """Which of `models` a value is: by its key when raw, by its type when parsed (None if none)."""
    if isinstance(value, dict):
        return next((key for key in models if key in value), None)
    for key, model in models.items():
        if isinstance(value, model):
            return key
    return None
