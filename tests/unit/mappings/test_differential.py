"""The engine with the default mapping agrees with the hand-written reference, everywhere."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from mappings.bundle import LearnerBundle
from mappings.evaluate import evaluate
from tests.reference import decide
from tests.support.bundles import TODAY, as_outcome, bundles, default_mapping


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles())
def test_the_engine_agrees_with_the_reference(bundle: LearnerBundle) -> None:
    """Stages, learner stage, flags (with their days overdue) and desired tags: the reference's."""
    assert as_outcome(evaluate(bundle, default_mapping(), TODAY)) == decide(bundle, TODAY)
