"""Schema errors as problems: what pydantic found, told in the mapping's own words and places."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from mappings.condition_schema import (
    CONDITION_KEYS,
    CONDITION_MODELS,
    DateOffset,
    TodayOffset,
    condition_kind,
)
from mappings.date_schema import DATE_KEYS
from mappings.positions import DATE_POINT_KEYS, Loc, locate, node_at, rule_and_path
from mappings.problems import Problem, shown
from mappings.schema import (
    Audience,
    FlagRule,
    LearnerStage,
    MappingSpec,
    PerSubject,
    Selection,
    StageRule,
    Tags,
    TagSelect,
    TagWhen,
)
from mappings.schema_values import NAME, RULE_ID


def schema_problem(error: Any, raw: Any, source: str) -> Problem:
    """One pydantic error as a located problem."""
    loc: Loc = tuple(error["loc"])
    line, column, real = locate(raw, loc)
    rule, path = rule_and_path(raw, real)
    return Problem(source, line, column, _schema_message(error, raw, real), rule, path)


def _schema_message(error: Any, raw: Any, real: list[str | int]) -> str:  # noqa: PLR0911
    kind, found = error["type"], error.get("input")
    if kind == "unknown_operator":
        return _unknown(found, CONDITION_KEYS, "operator", "a condition")
    if kind == "unknown_date_expression":
        return _unknown(found, DATE_KEYS, "date expression", "a date")
    if kind == "unknown_date_point":
        return (
            "a date is compared with today, {today_minus_days: N}, {today_plus_days: N} "
            f"or {{date|field: NAME, plus_days: N, minus_days: N}}; found {shown(found)}"
        )
    if kind == "extra_forbidden":
        parent = node_at(raw, real[:-1])
        allowed = _keys_by_position(real[:-1], parent) or _allowed_keys(parent)
        expected = f"; expected one of {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{real[-1] if real else error['loc'][-1]}'{expected}"
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "tag_rule_kind"):
        return message
    described = _PATTERNS.get((error.get("ctx") or {}).get("pattern", ""))
    if kind == "string_pattern_mismatch" and described:
        return f"{described}; found {shown(found)}"
    return f"{message}; found {shown(found)}"


def _unknown(found: Any, keys: Sequence[str], what: str, construct: str) -> str:
    expected = ", ".join(keys)
    if isinstance(found, dict) and found:
        named = ", ".join(f"'{key}'" for key in found)
        return f"unknown {what} {named}; expected one of {expected}"
    return (
        f"{construct} is a mapping with one {what} key; found {shown(found)}; "
        f"expected one of {expected}"
    )


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(field.alias or name for name, field in model.model_fields.items())


# The keys of each condition construct that takes more than its operator key.
_KEYS_BY_KIND: dict[str, tuple[str, ...]] = {
    kind: _keys(model) for kind, model in CONDITION_MODELS.items() if len(_keys(model)) > 1
}

_PATTERNS = {
    RULE_ID: "an id is lower-case letters, digits and hyphens, starting with a letter",
    NAME: "a name is lower-case letters, digits and underscores, starting with a letter",
}


def _keys_by_position(path: Sequence[str | int], parent: Any) -> tuple[str, ...]:
    """The keys of the construct at a fixed place of the file (the top, a rule, `tags` …)."""
    shape: tuple[str | int, ...] = tuple("#" if isinstance(p, int) else p for p in path)
    models: dict[tuple[str | int, ...], type[BaseModel]] = {
        (): MappingSpec,
        ("course_enrolment_stages", "#"): StageRule,
        ("flags", "#"): FlagRule,
        ("flags", "#", "due"): DateOffset,
        ("tags",): Tags,
        ("learner_stage",): LearnerStage,
        ("tags", "rules", "#"): TagSelect
        if isinstance(parent, dict) and "select" in parent
        else TagWhen,
        ("tags", "rules", "#", "select"): Selection,
        ("facts",): PerSubject,
        ("dates",): PerSubject,
    }
    model = models.get(shape)
    if len(path) == 2 and path[0] == "audiences":
        model = Audience
    if path and path[-1] in DATE_POINT_KEYS:
        today = "today_minus_days" in parent or "today_plus_days" in parent
        model = TodayOffset if today else DateOffset
    if model is None:
        return ()
    return _keys(model)


def _allowed_keys(parent: dict[str, Any]) -> tuple[str, ...]:
    """The keys a condition accepts, told from its operator key."""
    return _KEYS_BY_KIND.get(condition_kind(parent) or "", ())
