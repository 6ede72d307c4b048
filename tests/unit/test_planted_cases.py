"""Every planted sandbox case, through the converter and the engine, meets its expectation.

This joins three independent readings of lifecycle.md: the sandbox's stated expectations, the
engine with the default mapping, and the hand-written reference implementation.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.bundles import Labels
from mappings.bundle import LearnerBundle
from mappings.evaluate import evaluate
from tests.reference import decide
from tests.support.bundles import as_outcome, default_mapping
from tests.support.sandbox import TODAY, make_sandbox
from tests.support.sandbox_bundles import bundle_for, combos

SANDBOX = make_sandbox(shuffle_combos=True)


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
    by_relationships = bundle_for(SANDBOX, case.learner_id, Labels.from_relationships())
    by_combos = bundle_for(SANDBOX, case.learner_id, Labels.from_combos(combos(SANDBOX)))
    assert by_relationships == by_combos
    assert shaped(by_combos) == case.expect
    assert as_outcome(evaluate(by_combos, default_mapping(), TODAY)) == decide(by_combos, TODAY)


def test_the_whole_population_agrees_with_the_reference() -> None:
    """All 300 generated learners: engine and reference decide alike."""
    labels = Labels.from_combos(combos(SANDBOX))
    for learner_id in SANDBOX.db.learners.ids():
        bundle = bundle_for(SANDBOX, learner_id, labels)
        assert as_outcome(evaluate(bundle, default_mapping(), TODAY)) == decide(bundle, TODAY)
