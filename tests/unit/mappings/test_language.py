"""Every construct of the mapping language, through a mapping that uses them all."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from mappings.bundle import Checklist, CourseEnrolment, Credential, LearnerBundle, UnitEnrolment
from mappings.catalogue import Subject
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate
from mappings.evaluation_context import Context
from mappings.explain import explain, explanation_json, explanation_lines
from mappings.loader import load_mapping
from tests.support.bundles import CALENDAR, TODAY, ago, learner

SINK = Path(__file__).parents[2] / "fixtures" / "mappings" / "kitchen_sink.yaml"
CE = Subject.COURSE_ENROLMENT


@pytest.fixture(scope="module")
def sink() -> CompiledMapping:
    """The kitchen-sink mapping."""
    return load_mapping(SINK.read_text(), SINK.name, CALENDAR)


def ahead(days: int) -> date:
    """The date `days` after today."""
    return TODAY + timedelta(days=days)


def full_bundle() -> LearnerBundle:
    """Six enrolments covering every stage rule, with units, credentials and checklists."""
    enrolments = (
        CourseEnrolment(10, 1, "Enquiry"),
        CourseEnrolment(11, 1, "Current", start_date=ago(10), end_date=ahead(30)),
        CourseEnrolment(12, 1, "Current", start_date=ago(10), end_date=ahead(5)),
        CourseEnrolment(13, 1, "Completed", end_date=ago(45)),
        CourseEnrolment(14, 1, None),
        CourseEnrolment(15, 1, "Withdrawn", end_date=ago(40), qualification_issued=True),
    )
    units = (
        UnitEnrolment(20, 13, "20", start_date=ago(100), end_date=ago(50), actual_end_date=ago(50)),
        UnitEnrolment(21, 13, "30", start_date=ago(90), end_date=ago(88), actual_end_date=ago(40)),
        UnitEnrolment(22, 11, "70", start_date=ago(10), end_date=ahead(10)),
    )
    credentials = (Credential(30, 13, "Issued", ago(30)), Credential(31, 11, "Issued", ago(3)))
    checklists = (
        Checklist(40, "CourseEnrolment", 11),
        Checklist(41, "Learner", 1),
        Checklist(42, "CourseEnrolment", 13),
    )
    return LearnerBundle(learner(), enrolments, units, credentials, (), checklists)


def test_stage_rules_learner_stage_and_tags(sink: CompiledMapping) -> None:
    """First match wins; precedence picks Active; a selection breaks the tie to the lower id."""
    decision = evaluate(full_bundle(), sink, TODAY)
    assert {ce.id: ce.stage for ce in decision.course_enrolments} == {
        10: "Open",
        11: "Active",
        12: "unmapped",
        13: "Done",
        14: "closed",
        15: "Done",
    }
    assert (decision.learner_stage, decision.learner_stage_from) == ("Active", 11)
    assert {
        ce.id: set(ce.desired_tags) for ce in decision.course_enrolments if ce.desired_tags
    } == {11: {"active"}, 13: {"first-done"}}


def test_flags_on_every_subject_kind(sink: CompiledMapping) -> None:
    """Enrolment, unit, credential and checklist subjects, with `enrolment:` and offsets."""
    decision = evaluate(full_bundle(), sink, TODAY)
    assert decision.flag_keys() == {
        ("ends-soon", "course_enrolment", 12),
        ("ends-soon", "course_enrolment", 13),
        ("ends-soon", "course_enrolment", 15),
        ("long-unit", "unit_enrolment", 20),
        ("issued-credential", "credential", 30),
        ("checklist-of-current", "checklist", 40),
    }
    reasons = {flag.key: flag.reason for flag in decision.flags}
    assert reasons[("long-unit", "unit_enrolment", 20)] == (
        f"unit 20 of 1 ran from {ago(100).isoformat()}"
    )
    assert reasons[("checklist-of-current", "checklist", 40)] == (
        "checklist 40 of a CourseEnrolment"
    )


def test_a_scope_keeps_flags_off_out_of_scope_learners(sink: CompiledMapping) -> None:
    """Without a date of birth, the ends-soon scope excludes the learner."""
    bundle = LearnerBundle(
        learner(has_date_of_birth=False), (CourseEnrolment(12, 1, "Current", end_date=ahead(5)),)
    )
    assert evaluate(bundle, sink, TODAY).flags == ()


def test_learner_subject_flags_with_counts_and_stage(sink: CompiledMapping) -> None:
    """A learner flag with `stage`, `count` over enrolments and the learner's own fact."""
    bundle = LearnerBundle(learner(), (CourseEnrolment(10, 1, "Enquiry"),))
    decision = evaluate(bundle, sink, TODAY)
    assert [(flag.flag, flag.reason) for flag in decision.flags] == [
        ("single-open", "Open: 1 Open (1)")
    ]


def test_a_selection_with_no_candidate_tags_nothing(sink: CompiledMapping) -> None:
    """No enrolment in Done: nobody gets first-done."""
    bundle = LearnerBundle(learner(), (CourseEnrolment(10, 1, "Enquiry"),))
    assert all(not ce.desired_tags for ce in evaluate(bundle, sink, TODAY).course_enrolments)


@pytest.mark.parametrize(
    ("fact", "ce_id", "holds"),
    [
        ("all_units_final", 13, True),
        ("all_units_final", 11, False),
        ("all_units_final", 10, True),
        ("no_units", 10, True),
        ("no_units", 13, False),
        ("no_failed_units", 13, False),
        ("no_failed_units", 11, True),
        ("two_or_three_units", 13, True),
        ("two_or_three_units", 11, False),
        ("few_issued", 13, True),
        ("has_sibling", 13, True),
        ("has_checklist", 11, True),
        ("has_checklist", 10, False),
        ("is_ten", 10, True),
        ("is_ten", 11, False),
        ("is_eleven_or_twelve", 12, True),
        ("is_eleven_or_twelve", 13, False),
    ],
)
def test_quantifiers_and_equality_facts(
    sink: CompiledMapping, fact: str, ce_id: int, holds: bool
) -> None:
    """every/none/count/some over children, and equality on ids."""
    bundle = full_bundle()
    ctx = Context.of(bundle, TODAY)
    ce = next(c for c in bundle.course_enrolments if c.id == ce_id)
    assert sink.compiler.fact(CE, fact).test(ctx, ce) is holds


def test_named_dates(sink: CompiledMapping) -> None:
    """earliest, latest with a filter, first_of and a date naming another date."""
    bundle = full_bundle()
    ctx = Context.of(bundle, TODAY)
    completed = bundle.course_enrolments[3]
    dates = sink.named_dates[CE]
    assert dates["first_unit_start"](ctx, completed) == ago(100)
    assert dates["last_final"](ctx, completed) == ago(40)
    assert dates["deadline"](ctx, completed) == ago(40)
    assert dates["finished"](ctx, bundle.course_enrolments[5]) == ago(40)
    assert dates["first_unit_start"](ctx, bundle.course_enrolments[0]) is None
    assert dates["finished"](ctx, bundle.course_enrolments[0]) is None


def test_explanations_say_which_condition_failed_and_with_what(sink: CompiledMapping) -> None:
    """Every kind of condition explains its failure with the value it found."""
    explained = explain(full_bundle(), sink, TODAY)
    misses = {
        traced.id: [(m.rule, m.why_not) for m in traced.not_matched]
        for traced in explained.enrolments
    }
    assert misses[10] == []
    assert misses[12][1] == (
        "active",
        f"end_date is {ahead(5).isoformat()}; expected after {ahead(7).isoformat()}",
    )
    assert misses[14] == [
        ("open", "status is empty; expected one of set open"),
        ("active", "status is empty; expected Current"),
        (
            "done",
            "none of: status is empty; expected one of set done; "
            "qualification_issued is False; expected true",
        ),
    ]
    assert misses[12][3] == ("nothing", "the negated condition holds")
    lines = explanation_lines(explained)
    assert lines[0] == "learner 1: stage Active (from enrolment 11)"
    assert "  enrolment 13: Done (rule done)" in lines
    assert "    tags: first-done (rules tag-first-done)" in lines
    shaped = explanation_json(explained)
    assert shaped["course_enrolments"][4]["rule"] == "nothing"
    assert shaped["course_enrolments"][1]["tag_rules"] == ["tag-active"]


def test_leaf_explanations(sink: CompiledMapping) -> None:
    """Quantifiers, dates, switches, stages, flags, facts and personal fields explain themselves."""
    compiler = sink.compiler
    bundle = full_bundle()
    ctx = Context.of(bundle, TODAY)
    enquiry, current = bundle.course_enrolments[0], bundle.course_enrolments[1]
    assert compiler.fact(CE, "has_checklist").why_not(ctx, enquiry) == (
        "fact has_checklist does not hold: 0 of 0 checklists match; expected at least one of "
        "checklists to match"
    )
    assert compiler.fact(CE, "two_or_three_units").why_not(ctx, current) == (
        "fact two_or_three_units does not hold: 1 of 1 units match; expected between 2 and 3 "
        "units to match"
    )
    assert (
        compiler.fact(CE, "is_eleven_or_twelve")
        .why_not(ctx, enquiry)
        .endswith("id is 10; expected one of 11, 12")
    )
    checklist = bundle.checklists[1]
    no_enrolment = compiler.fact(Subject.CHECKLIST, "of_current")
    assert not no_enrolment.test(ctx, checklist)
    assert no_enrolment.why_not(ctx, checklist).endswith("there is no enrolment")
    assert (
        compiler.fact(Subject.CHECKLIST, "of_current")
        .why_not(ctx, bundle.checklists[2])
        .endswith("enrolment: status is 'Completed'; expected Current")
    )
    who = learner(has_date_of_birth=False)
    assert (
        compiler.fact(Subject.LEARNER, "has_birth_date")
        .why_not(ctx, who)
        .endswith("date_of_birth is empty; expected present")
    )
