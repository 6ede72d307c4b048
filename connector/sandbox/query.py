"""List queries: filters (with operator prefixes), sort/order, and skip/take paging.

Query names match case-insensitively (as ASP.NET model binding does), so both spellings of the
modified filter work everywhere; unknown parameters are ignored. A listing computed for one page
is cached until any record changes, so paging through it costs one computation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connector.sandbox.entities import Entity, Filter
from connector.sandbox.store import Database, Row
from connector.sandbox.timefmt import format_local, parse_local

MAX_TAKE = 1000
OPERATORS = ("gt", "ge", "lt", "le", "eq", "ne", "bt", "in", "ni", "ct", "nc")
_LOWER_BOUND_OPS = {"gt", "ge", "eq", "bt"}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}


class QueryError(ValueError):
    """A query parameter the sandbox cannot read; answered with 400."""


@dataclass(frozen=True)
class Condition:
    """One parsed filter."""

    filter: Filter
    op: str
    values: tuple[Any, ...]
    raw: str


@dataclass(frozen=True)
class Page:
    """Paging parameters."""

    skip: int
    take: int


def lower_keys(params: Mapping[str, str]) -> dict[str, str]:
    """Query parameters by lower-cased name (the last value wins)."""
    return {key.lower(): value for key, value in params.items()}


def parse_page(params: Mapping[str, str]) -> Page:
    """Read `skip` and `take` (default and maximum 1000)."""
    skip = _int_param(params, "skip", 0)
    take = _int_param(params, "take", MAX_TAKE)
    if skip < 0 or take < 0:
        raise QueryError("skip and take must not be negative")
    return Page(skip, min(take, MAX_TAKE) if take else MAX_TAKE)


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    if name not in params:
        return default
    try:
        return int(params[name])
    except ValueError as exc:
        raise QueryError(f"{name} must be an integer") from exc


def parse_conditions(
    entity: Entity, params: Mapping[str, str], separator: str = ","
) -> list[Condition]:
    """Every filter of `entity` present in `params` (already lower-cased)."""
    return [
        _parse_condition(f, params[f.name], separator) for f in entity.filters if f.name in params
    ]


def _parse_condition(spec: Filter, raw: str, separator: str) -> Condition:
    if spec.kind in ("timestamp", "date"):
        prefix, colon, rest = raw.partition(":")
        op = prefix.lower() if colon and prefix.lower() in OPERATORS else "eq"
        if op == "eq" and prefix.lower() != "eq":
            rest = raw
        if op in ("ct", "nc"):
            return Condition(spec, op, (rest,), raw)
        parts = rest.split(separator) if op in ("bt", "in", "ni") else [rest]
        if op == "bt" and len(parts) != 2:
            raise QueryError(f"{spec.name}: bt takes two values")
        try:
            values = tuple(parse_local(part) for part in parts)
        except ValueError as exc:
            raise QueryError(f"{spec.name}: not a date-time") from exc
        return Condition(spec, op, values, raw)
    if spec.kind == "int":
        try:
            return Condition(spec, "eq", (int(raw),), raw)
        except ValueError as exc:
            raise QueryError(f"{spec.name}: expected an integer") from exc
    if spec.kind == "bool":
        if raw.lower() not in ("true", "false"):
            raise QueryError(f"{spec.name}: expected true or false")
        return Condition(spec, "eq", (raw.lower() == "true",), raw)
    return Condition(spec, "eq" if spec.kind == "str" else "ct", (raw.casefold(),), raw)


def matches(condition: Condition, db: Database, row: Row) -> bool:
    """Whether a row satisfies one condition."""
    value = condition.filter.get(db, row)
    kind = condition.filter.kind
    if kind == "search":
        needle = condition.values[0]
        return any(isinstance(v, str) and needle in v.casefold() for v in value)
    if kind == "str":
        return isinstance(value, str) and value.casefold() == condition.values[0]
    if kind in ("int", "bool"):
        return bool(value == condition.values[0])
    return _compare(condition, value)


def _compare(condition: Condition, value: Any) -> bool:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - local wall time
    op, values = condition.op, condition.values
    if op in ("ct", "nc"):
        text = format_local(value) or ""
        return (values[0] in text) == (op == "ct")
    if value is None:
        return op in ("ne", "ni")
    if op == "bt":
        return bool(values[0] <= value <= values[1])
    if op in ("in", "ni"):
        return (value in values) == (op == "in")
    return bool(_BINARY[op](value, values[0]))


class ListingCache:
    """Computed listings (ordered ids) per query, valid while the database is unchanged."""

    def __init__(self) -> None:
        self._version = -1
        self._listings: dict[tuple[Any, ...], list[int]] = {}

    def listing(
        self,
        entity: Entity,
        db: Database,
        conditions: list[Condition],
        sort: str | None = None,
        descending: bool = False,
    ) -> list[int]:
        """Ids matching every condition, in the entity's order."""
        version = sum(table.version for table in db.tables())
        if version != self._version:
            self._version, self._listings = version, {}
        key = (entity.name, tuple((c.filter.name, c.raw) for c in conditions), sort, descending)
        cached = self._listings.get(key)
        if cached is None:
            cached = _compute(entity, db, conditions, sort, descending)
            self._listings[key] = cached
        return cached


def _compute(
    entity: Entity,
    db: Database,
    conditions: list[Condition],
    sort: str | None,
    descending: bool,
) -> list[int]:
    table = entity.table(db)
    candidates = _candidates(entity, db, conditions)
    rows = ((ident, table.rows[ident]) for ident in candidates)
    selected = [ident for ident, row in rows if all(matches(c, db, row) for c in conditions)]
    if sort is None:
        selected.sort(reverse=descending)
        return selected

    def sort_key(ident: int) -> tuple[bool, Any, int]:
        value = (
            table.modified[ident]
            if sort == "LastModifiedTimeStamp"
            else table.rows[ident].get(sort)
        )
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)  # noqa: DTZ001
        return (value is not None, value or datetime.min, ident)  # noqa: DTZ901

    selected.sort(key=sort_key, reverse=descending)
    return selected


def _candidates(entity: Entity, db: Database, conditions: list[Condition]) -> Iterable[int]:
    table = entity.table(db)
    for condition in conditions:
        index = condition.filter.index
        if index is not None and table.indexed(index):
            return sorted(table.ids_where(index, condition.values[0]))
    for condition in conditions:
        is_modified = condition.filter.name == "lastmodifiedtimestampfilter"
        if is_modified and condition.op in _LOWER_BOUND_OPS:
            return list(table.modified_since(condition.values[0]))
    return table.ids()
