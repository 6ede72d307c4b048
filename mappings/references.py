"""What a part of a mapping refers to, found by walking every construct it holds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mappings.catalogue import Subject
from mappings.condition_schema import FlagRef
from mappings.schema import MappingSpec


def flags_referenced(part: Any) -> frozenset[str]:
    """Every flag `part` tests, however deep: under `not`, a scope, a quantifier, a selection."""
    if isinstance(part, FlagRef):
        return frozenset({part.flag})
    if isinstance(part, BaseModel):
        fields = type(part).model_fields
        return frozenset().union(*(flags_referenced(getattr(part, name)) for name in fields))
    if isinstance(part, list | tuple):
        return frozenset().union(*(flags_referenced(item) for item in part))
    return frozenset()


def enrolment_flag_driven_tags(spec: MappingSpec) -> frozenset[str]:
    """Tags whose rule tests a course-enrolment flag anywhere in it (like certificate-overdue).

    Such flags can be raised by time alone, so before a tag of this kind is first written the
    learner's credentials are read again: a certificate issued with no other change must not be
    reported late.
    """
    enrolment_flags = {f.id for f in spec.flags if f.subject is Subject.COURSE_ENROLMENT}
    return frozenset(
        rule.tag for rule in spec.tags.rules if enrolment_flags & flags_referenced(rule)
    )
