"""Lookups by name: combos (statuses, outcomes, …) and tag definitions.

Wisenet's numeric ids are undocumented and may differ between accounts, so nothing is compared by
id: a combo id is resolved to its `Description` (or `Code`) and tags are found by `Name`.
Descriptions match trimmed and case-insensitively; tag names match exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connector.wisenet.wire import ComboEntry, TagData
from mappings.catalogue import normalise

# The combos whose values rules compare by name (lifecycle.md §1); `connector check` loads these.
LIFECYCLE_COMBOS = (
    "enrolment-statuses",
    "application-statuses",
    "outcomes",
    "credential-statuses",
    "countries",
)


@dataclass(frozen=True)
class Combo:
    """One combo's values, resolvable by id and by description."""

    name: str
    entries: Mapping[int, ComboEntry]

    @classmethod
    def of(cls, name: str, entries: Iterable[ComboEntry]) -> Combo:
        """Index a combo's entries by id."""
        return cls(name, {entry.id: entry for entry in entries})

    def description(self, ident: int | None) -> str | None:
        """Return the description of `ident`, or None when unset or unknown."""
        entry = self.entries.get(ident) if ident is not None else None
        return entry.description if entry else None

    def code(self, ident: int | None) -> str | None:
        """Return the code of `ident` (e.g. an AVETMISS outcome code), or None."""
        entry = self.entries.get(ident) if ident is not None else None
        return entry.code if entry else None

    def knows(self, ident: int | None) -> bool:
        """Whether `ident` is one of this combo's ids."""
        return ident in self.entries

    def ids_described(self, label: str) -> frozenset[int]:
        """Every id whose description matches `label` (trimmed, case-insensitive)."""
        wanted = normalise(label)
        return frozenset(
            entry.id
            for entry in self.entries.values()
            if entry.description is not None and normalise(entry.description) == wanted
        )


@dataclass(frozen=True)
class TagCatalogue:
    """The account's tag definitions for one entity, by exact name and by id."""

    by_name: Mapping[str, TagData]
    by_id: Mapping[int, TagData]

    @classmethod
    def of(cls, tags: Iterable[TagData]) -> TagCatalogue:
        """Index tag definitions; the first definition of a duplicated name wins."""
        by_name: dict[str, TagData] = {}
        by_id: dict[int, TagData] = {}
        for tag in tags:
            by_name.setdefault(tag.name, tag)
            by_id[tag.tag_id] = tag
        return cls(by_name, by_id)

    def names(self, tag_ids: Iterable[int]) -> frozenset[str]:
        """Names of the given ids; unknown ids are left out."""
        return frozenset(self.by_id[t].name for t in tag_ids if t in self.by_id)
