"""Bundle files: one learner's Wisenet records, pasted from API responses, for `explain` and tests.

```
{"learner": {"Data": {...}, "Relationships": {...}},
 "course_enrolments": [...], "unit_enrolments": [...], "credentials": [...],
 "course_offers": [...], "checklists": [...]}
```

Each record is an Item exactly as the API returns it. A file is read as UTF-8 and at most
`MAX_BUNDLE_BYTES` of it: one learner's records are far smaller, and a device such as
`/dev/zero` must not be read for ever. Statuses and outcomes are named through
each record's own `Relationships` (there are no combos offline); a record whose lookup is missing
gets a warning and an unknown status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

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
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
MAX_BUNDLE_DEPTH = 64  # a bundle is five or six levels deep


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle and what could not be named in it."""

    bundle: LearnerBundle
    warnings: tuple[str, ...]


def read_bundle_text(path: Path) -> str:
    """A bundle or case file's text; BundleError naming the file if it is too big or not UTF-8."""
    if path.is_fifo():
        raise BundleError(f"{path}: a named pipe, not a file")
    try:
        with path.open("rb") as source:
            raw = source.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(raw) > MAX_BUNDLE_BYTES:
        raise BundleError(
            f"{path}: larger than {MAX_BUNDLE_BYTES // 2**20} MiB; a bundle holds one learner's "
            "records"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(
            f"{path}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})"
        ) from exc


def parse_bundle_text(text: str, source: str) -> Any:
    """Read JSON (or YAML) text; raise BundleError naming the source on bad syntax."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise BundleError(f"{source}: nested deeper than {MAX_BUNDLE_DEPTH} levels") from exc
    except ValueError:
        pass
    try:
        return read_plain_yaml(text, source)
    except YAMLError as exc:
        raise BundleError(f"{source}: neither JSON nor YAML ({type(exc).__name__})") from exc


def read_plain_yaml(text: str, source: str) -> Any:
    """YAML data without anchors or aliases, at most `MAX_BUNDLE_DEPTH` levels deep.

    Records pasted from the API need neither; refusing them keeps an alias bomb or a deep
    nesting from taking the memory or the stack (the events are read before anything is built).
    """
    depth = 0
    for event in YAML(typ="safe").parse(text):
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise BundleError(f"{source}:{line}: anchors and aliases are not allowed here")
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_BUNDLE_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise BundleError(f"{source}:{line}: nested deeper than {MAX_BUNDLE_DEPTH} levels")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    return YAML(typ="safe").load(text)


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
