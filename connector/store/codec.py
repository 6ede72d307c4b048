"""Bundle values to and from the JSON the store keeps (dates as ISO strings)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date
from typing import Any, TypeVar

from mappings.bundle import Address, Avetmiss, Learner

T = TypeVar("T")
_NESTED: dict[str, type] = {"address": Address, "avetmiss": Avetmiss}


def encode(record: Any) -> dict[str, Any]:
    """A bundle record as JSON-ready values."""
    encoded: dict[str, Any] = {}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if dataclasses.is_dataclass(value):
            value = encode(value)
        elif isinstance(value, date):
            value = value.isoformat()
        encoded[item.name] = value
    return encoded


def decode(kind: type[T], data: dict[str, Any]) -> T:
    """A bundle record of `kind` from stored values."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(kind):  # type: ignore[arg-type]
        if item.name not in data:
            continue
        value = data[item.name]
        nested = _NESTED.get(item.name) if kind is Learner else None
        if nested is not None and isinstance(value, dict):
            value = decode(nested, value)
        elif isinstance(value, str) and item.type in ("date | None", "date"):
            value = date.fromisoformat(value)
        values[item.name] = value
    return kind(**values)


def content_hash(fields: dict[str, Any], tag_ids: list[int] | None) -> str:
    """A stable hash of what the store keeps of a record."""
    text = json.dumps([fields, tag_ids], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
