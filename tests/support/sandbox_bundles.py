"""Learner bundles straight from a sandbox's records, through the client's wire models."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from connector.bundles import Labels, bundle_of
from connector.sandbox.entities import (
    CHECKLISTS,
    COURSE_ENROLMENTS,
    CREDENTIALS,
    LEARNERS,
    UNIT_ENROLMENTS,
    Entity,
)
from connector.sandbox.service import Sandbox
from connector.wisenet.vocabulary import Combo
from connector.wisenet.wire import (
    ChecklistData,
    ComboItem,
    CourseEnrolmentData,
    CredentialData,
    Item,
    LearnerData,
    UnitEnrolmentData,
    WireModel,
    combo_entry,
)
from mappings.bundle import LearnerBundle


def items(sandbox: Sandbox, entity: Entity, model: type[WireModel], ids: set[int]) -> list[Any]:
    """Records as the API serves them, parsed by the client's wire models."""
    table = entity.table(sandbox.db)
    adapter: TypeAdapter[Item[Any]] = TypeAdapter(Item[model])  # type: ignore[valid-type]
    return [adapter.validate_python(sandbox.item(entity, table.rows[i])) for i in sorted(ids)]


def combos(sandbox: Sandbox) -> dict[str, Combo]:
    """The account's combos, as `connector check` loads them."""
    adapter = TypeAdapter(list[ComboItem])
    return {
        name: Combo.of(
            name,
            [combo_entry(item.data) for item in adapter.validate_python(sandbox.vocab.items(name))],
        )
        for name in sandbox.vocab.names()
    }


def bundle_for(sandbox: Sandbox, learner_id: int, labels: Labels) -> LearnerBundle:
    """One learner's bundle from the sandbox's records."""
    db = sandbox.db
    enrolments = set(db.course_enrolments.ids_where("LearnerId", learner_id))
    units = {u for ce in enrolments for u in db.unit_enrolments.ids_where("CourseEnrolmentId", ce)}
    creds = {c for ce in enrolments for c in db.credentials.ids_where("CourseEnrolmentId", ce)}
    checklists = {
        c
        for record in (learner_id, *enrolments)
        for c in db.checklists.ids_where("RecordId", record)
    }
    return bundle_of(
        items(sandbox, LEARNERS, LearnerData, {learner_id})[0],
        items(sandbox, COURSE_ENROLMENTS, CourseEnrolmentData, enrolments),
        items(sandbox, UNIT_ENROLMENTS, UnitEnrolmentData, units),
        items(sandbox, CREDENTIALS, CredentialData, creds),
        [],
        items(sandbox, CHECKLISTS, ChecklistData, checklists),
        labels,
    )
