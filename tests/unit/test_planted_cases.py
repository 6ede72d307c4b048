"""Every planted sandbox case, through the converter and the engine, meets its expectation.

This joins three independent readings of lifecycle.md: the sandbox's stated expectations, the
engine with the default mapping, and the hand-written reference implementation.
"""

from __future__ import annotations

from typing import Any

import pytest
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
from mappings.evaluate import evaluate
from tests.reference import decide
from tests.support.bundles import as_outcome, default_mapping
from tests.support.sandbox import TODAY, make_sandbox

SANDBOX = make_sandbox(shuffle_combos=True)


def items(entity: Entity, model: type[WireModel], ids: set[int]) -> list[Item[Any]]:
    """Records as the API serves them, parsed by the client's wire models."""
    table = entity.table(SANDBOX.db)
    adapter: TypeAdapter[Item[Any]] = TypeAdapter(Item[model])  # type: ignore[valid-type]
    return [adapter.validate_python(SANDBOX.item(entity, table.rows[i])) for i in sorted(ids)]


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


def bundle_for(learner_id: int, labels: Labels) -> LearnerBundle:
    """One learner's bundle from the sandbox's records."""
    db = SANDBOX.db
    enrolments = set(db.course_enrolments.ids_where("LearnerId", learner_id))
    units = {u for ce in enrolments for u in db.unit_enrolments.ids_where("CourseEnrolmentId", ce)}
    creds = {c for ce in enrolments for c in db.credentials.ids_where("CourseEnrolmentId", ce)}
    checklists = {
        c
        for record in (learner_id, *enrolments)
        for c in db.checklists.ids_where("RecordId", record)
    }
    return bundle_of(
        items(LEARNERS, LearnerData, {learner_id})[0],
        items(COURSE_ENROLMENTS, CourseEnrolmentData, enrolments),
        items(UNIT_ENROLMENTS, UnitEnrolmentData, units),
        items(CREDENTIALS, CredentialData, creds),
        [],
        items(CHECKLISTS, ChecklistData, checklists),
        labels,
    )


def shaped(bundle: LearnerBundle) -> dict[str, Any]:
    """The engine's decision in the shape of a planted case's expectation."""
    decision = evaluate(bundle, default_mapping(), TODAY)
    return {
        "learner_stage": decision.learner_stage,
        "course_enrolments": {
            str(ce.id): {"stage": ce.stage, "tags": sorted(ce.desired_tags)}
            for ce in decision.course_enrolments
        },
        "flags": sorted([list(key) for key in decision.flag_keys()]),
    }


@pytest.mark.parametrize("case", SANDBOX.cases, ids=lambda c: c.name)
def test_a_planted_case_is_decided_as_expected(case: Any) -> None:
    """Labels from Relationships or from (shuffled) combos give the expected decision."""
    by_relationships = bundle_for(case.learner_id, Labels.from_relationships())
    by_combos = bundle_for(case.learner_id, Labels.from_combos(combos(SANDBOX)))
    assert by_relationships == by_combos
    assert shaped(by_combos) == case.expect
    assert as_outcome(evaluate(by_combos, default_mapping(), TODAY)) == decide(by_combos, TODAY)


def test_the_whole_population_agrees_with_the_reference() -> None:
    """All 300 generated learners: engine and reference decide alike."""
    labels = Labels.from_combos(combos(SANDBOX))
    for learner_id in SANDBOX.db.learners.ids():
        bundle = bundle_for(learner_id, labels)
        assert as_outcome(evaluate(bundle, default_mapping(), TODAY)) == decide(bundle, TODAY)
