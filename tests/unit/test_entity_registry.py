"""The entity registry agrees with the bundle, the catalogue and the layers that read it."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from connector.store import entities as stored
from connector.webhooks.payload import ENTITY_NAMES as WEBHOOK_NAMES
from connector.wisenet.entities import BY_NAME, ENTITIES, POLLED, Entity
from mappings.bundle import LearnerBundle
from mappings.catalogue import CATALOGUE


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_each_entity_has_a_place_in_the_bundle_and_the_catalogue(entity: Entity[Any]) -> None:
    """Its bundle field holds its bundle type, and rules know its subject."""
    hints = typing.get_type_hints(LearnerBundle)
    assert entity.bundle_field in {f.name for f in dataclasses.fields(LearnerBundle)}
    held = hints[entity.bundle_field]
    assert entity.bundle_kind in (held, *typing.get_args(held))
    assert entity.subject in CATALOGUE


def test_names_are_unique_and_found_by_name() -> None:
    """One entry per Wisenet name."""
    assert len(BY_NAME) == len(ENTITIES)
    assert all(BY_NAME[e.name] is e for e in ENTITIES)


def test_only_entities_with_a_modified_filter_are_polled() -> None:
    """Credentials have none: their changes come from the audit log."""
    assert [e.name for e in POLLED] == ["Learner", "CourseEnrolment", "UnitEnrolment", "Checklist"]


def test_the_store_and_the_webhooks_name_the_registrys_entities() -> None:
    """Neither keeps a list of its own."""
    assert set(stored.SUBJECTS) == set(BY_NAME) == set(WEBHOOK_NAMES.values())
    assert stored.CHILDREN == ("UnitEnrolment", "Credential", "Checklist")
    assert stored.SUBJECTS["CourseEnrolment"] == "course_enrolment"
