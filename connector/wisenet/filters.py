"""Query filters: plain equality, and the operator prefixes some filters accept.

Operators (`gt:` … `nc:`) are documented only for modified-timestamp filters and
`courseOfferStartDateFilter`; the client never sends one to an id filter.
"""

from __future__ import annotations

from enum import StrEnum


class Operator(StrEnum):
    """Prefixes accepted inside the value of an operator filter."""

    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    EQ = "eq"
    NE = "ne"
    BETWEEN = "bt"
    IN = "in"
    NOT_IN = "ni"
    CONTAINS = "ct"
    NOT_CONTAINS = "nc"


_LIST_OPERATORS = frozenset({Operator.BETWEEN, Operator.IN, Operator.NOT_IN})


def operator_value(op: Operator, *values: str, separator: str = ",") -> str:
    """Build a filter value such as `ge:2025-03-14T09:21:37.000` or `bt:a,b`."""
    if not values:
        raise ValueError(f"operator {op.value} needs a value")
    if op is Operator.BETWEEN and len(values) != 2:
        raise ValueError("operator bt needs exactly two values")
    if op not in _LIST_OPERATORS and len(values) != 1:
        raise ValueError(f"operator {op.value} takes one value")
    return f"{op.value}:{separator.join(values)}"


def equality_filters(**filters: str | int | bool | None) -> dict[str, str]:
    """Turn keyword filters into query parameters, dropping the ones left as None."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        params[name] = _format_scalar(value)
    return params


def _format_scalar(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
