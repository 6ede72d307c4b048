"""Bundle files: one learner's Wisenet records, pasted from API responses, for `explain` and tests.

```
{"learner": {"Data": {...}, "Relationships": {...}},
 "course_enrolments": [...], "unit_enrolments": [...], "credentials": [...],
 "course_offers": [...], "checklists": [...]}
```

Each record is an Item exactly as the API returns it. Statuses and outcomes are named through
each record's own `Relationships` (there are no combos offline); a record whose lookup is missing
gets a warning and an unknown status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from connector.bundles import BundleError, Labels, bundle_of
from connector.wisenet.wire import (
    ChecklistData,
    CourseEnrolmentData,
    CourseOfferData,
    CredentialData,
    Item,
    LearnerData,
    UnitEnrolmentData,
    WireModel,
)
from mappings.bundle import LearnerBundle

LISTS: dict[str, type[WireModel]] = {
    "course_enrolments": CourseEnrolmentData,
    "unit_enrolments": UnitEnrolmentData,
    "credentials": CredentialData,
    "course_offers": CourseOfferData,
    "checklists": ChecklistData,
}
_LOOKUPS = (
    ("course_enrolments", "EnrolmentStatusId", "EnrolmentStatus"),
    ("unit_enrolments", "OutcomeId", "Outcome"),
    ("credentials", "CredentialStatusId", "CredentialStatus"),
)


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle and what could not be named in it."""

    bundle: LearnerBundle
    warnings: tuple[str, ...]


def parse_bundle_text(text: str, source: str) -> Any:
    """Read JSON (or YAML) text; raise BundleError naming the source on bad syntax."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise BundleError(f"{source}: neither JSON nor YAML ({type(exc).__name__})") from exc


def bundle_from_data(data: Any, source: str) -> LoadedBundle:
    """Turn a bundle object into a learner bundle, naming the record of every problem."""
    if not isinstance(data, dict):
        raise BundleError(f"{source}: a bundle is an object with 'learner' and record lists")
    unknown = sorted(set(data) - {"learner", *LISTS})
    if unknown:
        raise BundleError(
            f"{source}: unknown keys {', '.join(unknown)}; expected learner, {', '.join(LISTS)}"
        )
    if "learner" not in data:
        raise BundleError(f"{source}: 'learner' is required")
    learner = _items(data["learner"], LearnerData, f"{source}: learner", single=True)[0]
    lists = {
        name: _items(data.get(name, []), model, f"{source}: {name}")
        for name, model in LISTS.items()
    }
    bundle = bundle_of(
        learner,
        lists["course_enrolments"],
        lists["unit_enrolments"],
        lists["credentials"],
        lists["course_offers"],
        lists["checklists"],
        Labels.from_relationships(),
    )
    return LoadedBundle(bundle, tuple(_warnings(data, source)))


def _items(raw: Any, model: type[WireModel], where: str, *, single: bool = False) -> list[Any]:
    values = [raw] if single else raw
    if not isinstance(values, list):
        raise BundleError(f"{where}: expected a list of records")
    adapter: TypeAdapter[Item[Any]] = TypeAdapter(Item[model])  # type: ignore[valid-type]
    parsed = []
    for index, value in enumerate(values):
        label = where if single else f"{where}[{index}]"
        try:
            parsed.append(adapter.validate_python(value))
        except ValidationError as exc:
            first = exc.errors(include_input=False, include_url=False)[0]
            path = ".".join(str(part) for part in first["loc"])
            raise BundleError(f"{label}.{path}: {first['msg']}") from exc
    return parsed


def _warnings(data: dict[str, Any], source: str) -> list[str]:
    found = []
    for name, id_key, lookup in _LOOKUPS:
        for index, record in enumerate(data.get(name, [])):
            ident = (record.get("Data") or {}).get(id_key)
            related = (record.get("Relationships") or {}).get(lookup)
            if ident is not None and not (
                isinstance(related, dict) and related.get(id_key) == ident
            ):
                found.append(
                    f"{source}: {name}[{index}]: {id_key} {ident} has no {lookup} in "
                    "Relationships, so it is treated as unknown"
                )
    return found
