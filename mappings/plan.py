"""Tag planning: from an enrolment's current tags and its desired owned tags, the change to make.

The connector touches only tags it owns (and retired ones, which it only removes): every other
tag on the enrolment, staff-set or archived, stays as it is. No change, no patch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ownership:
    """Which tag names the connector owns, and which it once owned and now only removes."""

    owned: frozenset[str]
    retired: frozenset[str] = frozenset()

    @property
    def managed(self) -> frozenset[str]:
        """Every name the connector may remove."""
        return self.owned | self.retired


@dataclass(frozen=True, slots=True)
class TagPatch:
    """Names to add and to remove; `result` is the whole new set of names."""

    add: frozenset[str]
    remove: frozenset[str]
    result: frozenset[str]


def plan(
    current_tag_names: Iterable[str], desired_owned: Iterable[str], ownership: Ownership
) -> TagPatch | None:
    """The patch that makes the owned tags of an enrolment exactly `desired_owned`, or None.

    Desired names the mapping does not own are ignored (they are never written).
    """
    current = frozenset(current_tag_names)
    desired = frozenset(desired_owned) & ownership.owned
    keep = current - ownership.managed
    result = keep | desired
    if result == current:
        return None
    return TagPatch(add=result - current, remove=current - result, result=result)
