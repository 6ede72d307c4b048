"""Properties of evaluation and planning that hold for every bundle and every tag set."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.bundle import LearnerBundle
from mappings.evaluate import evaluate
from mappings.plan import Ownership, TagPatch, plan
from tests.support.bundles import TODAY, bundles, default_mapping

OWNED = frozenset({"certified", "reconnect-eligible", "certificate-overdue", "missing-usi"})
RETIRED = frozenset({"old-lifecycle"})
ALL_NAMES = [
    "VIP",
    "Scholarship",
    "certified",
    "reconnect-eligible",
    "certificate-overdue",
    "missing-usi",
    "old-lifecycle",
    "Follow up",
    "lifecycle-sales",
]
names = st.frozensets(st.sampled_from(ALL_NAMES))


@settings(max_examples=300, deadline=None)
@given(bundles())
def test_evaluation_is_deterministic(bundle: LearnerBundle) -> None:
    """The same bundle and day give the same decision."""
    mapping = default_mapping()
    assert evaluate(bundle, mapping, TODAY) == evaluate(bundle, mapping, TODAY)


@settings(max_examples=300, deadline=None)
@given(bundles())
def test_the_learner_stage_is_the_highest_precedence_enrolment_stage(
    bundle: LearnerBundle,
) -> None:
    """Progression > Sales > Completion > Reconnect; none when all are closed or unmapped."""
    decision = evaluate(bundle, default_mapping(), TODAY)
    order = ["Progression", "Sales", "Completion", "Reconnect"]
    present = [
        stage for stage in order if any(ce.stage == stage for ce in decision.course_enrolments)
    ]
    assert decision.learner_stage == (present[0] if present else None)


def apply(current: frozenset[str], patch: TagPatch | None) -> frozenset[str]:
    """The tag names after a patch."""
    return current if patch is None else patch.result


@given(names, names)
def test_planning_twice_changes_nothing_the_second_time(
    current: frozenset[str], desired: frozenset[str]
) -> None:
    """After applying a plan, planning again is None."""
    ownership = Ownership(OWNED, RETIRED)
    after = apply(current, plan(current, desired, ownership))
    assert plan(after, desired, ownership) is None


@given(names, names)
def test_a_patch_never_touches_a_tag_the_mapping_does_not_own(
    current: frozenset[str], desired: frozenset[str]
) -> None:
    """Unowned tags are kept as they are and never added; retired ones are only removed."""
    ownership = Ownership(OWNED, RETIRED)
    patch = plan(current, desired, ownership)
    if patch is None:
        return
    assert not (patch.add | patch.remove) - ownership.managed
    assert not patch.add & RETIRED
    assert current - ownership.managed <= patch.result
    assert patch.result & OWNED == desired & OWNED


def test_no_change_means_no_patch() -> None:
    """Tags already as desired give None; a staff tag beside them stays."""
    ownership = Ownership(OWNED, RETIRED)
    assert plan({"VIP", "certified"}, {"certified"}, ownership) is None
    patch = plan({"VIP", "old-lifecycle", "certificate-overdue"}, {"certified"}, ownership)
    assert patch == TagPatch(
        add=frozenset({"certified"}),
        remove=frozenset({"old-lifecycle", "certificate-overdue"}),
        result=frozenset({"VIP", "certified"}),
    )
