"""Audiences: a rule limited to course enrolments of named courses, offers or a condition."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.audiences import code_matcher, is_pattern
from mappings.bundle import Checklist, LearnerBundle
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate
from mappings.explain import explain, explanation_lines
from mappings.loader import load_mapping
from mappings.problems import MappingError
from tests.support.bundles import (
    CALENDAR,
    DEFAULT_MAPPING,
    NEVER_RECONNECT,
    TODAY,
    bundle,
    bundles,
    default_mapping,
    enrolment,
    issued,
    learner,
    unit,
)

SHORT_COURSES = """
audiences:
  short_courses:
    description: First aid and CPR short courses never move to Reconnect.
    courses: [HLTAID*, " cpr101 "]
  international:
    when: {field: study_mode, equals: International}
  winter_intake:
    course_offers: [BSB40120-2026-T?]
"""


@cache
def with_audiences(text: str = "") -> CompiledMapping:
    """The default mapping with the audiences above, and `text` inserted before the stage rules."""
    default = DEFAULT_MAPPING.read_text()
    merged = default.replace("\nfacts:\n", SHORT_COURSES + "\nfacts:\n", 1).replace(
        "course_enrolment_stages:\n", "course_enrolment_stages:\n" + text, 1
    )
    return load_mapping(merged, "audiences.yaml", CALENDAR)


def test_a_short_course_never_moves_to_reconnect_and_a_diploma_does() -> None:
    """Two enrolments finished and certified 90 days ago; only the diploma is in Reconnect."""
    short = enrolment(1, "Completed", course_code="HLTAID011")
    diploma = enrolment(2, "Completed", course_code="BSB50120")
    who = bundle(
        short, diploma, unit(11, 1, "20", 90), unit(12, 2, "20", 90), issued(21, 1), issued(22, 2)
    )
    stages = {
        ce.id: ce.stage
        for ce in evaluate(who, with_audiences(NEVER_RECONNECT), TODAY).course_enrolments
    }
    assert stages == {1: "closed", 2: "Reconnect"}
    assert {
        ce.id: ce.stage for ce in evaluate(who, default_mapping(), TODAY).course_enrolments
    } == {
        1: "Reconnect",
        2: "Reconnect",
    }


def test_explain_says_why_an_enrolment_is_not_in_the_audience() -> None:
    """The rule that did not match names the audience and the codes it saw."""
    diploma = enrolment(2, "Completed", course_code="BSB50120", course_offer_code="BSB50120-T1")
    who = bundle(diploma, unit(12, 2, "20", 90), issued(22, 2))
    lines = explanation_lines(explain(who, with_audiences(NEVER_RECONNECT), TODAY))
    assert any(
        "short-course-settled" in line
        and "not in audience short_courses (course BSB50120, offer BSB50120-T1)" in line
        for line in lines
    ), lines


STUDY_MODES = st.sampled_from([None, "Full-time", "International"])
COURSES = st.sampled_from([None, "HLTAID011", "hltaid009", "CPR101", "BSB40120", "BSB50120"])


@st.composite
def coded(draw: st.DrawFn) -> LearnerBundle:
    """A generated learner whose enrolments belong to various courses and study modes."""
    drawn = draw(bundles())
    enrolments = tuple(
        dataclasses.replace(ce, course_code=draw(COURSES), study_mode=draw(STUDY_MODES))
        for ce in drawn.course_enrolments
    )
    return dataclasses.replace(drawn, course_enrolments=enrolments)


@settings(max_examples=300, deadline=None)
@given(coded())
def test_an_audience_scoped_rule_changes_only_the_enrolments_in_its_audience(
    who: LearnerBundle,
) -> None:
    """Against the default mapping, only settled short-course enrolments change: to closed."""
    before = {ce.id: ce for ce in evaluate(who, default_mapping(), TODAY).course_enrolments}
    after = {
        ce.id: ce for ce in evaluate(who, with_audiences(NEVER_RECONNECT), TODAY).course_enrolments
    }
    short = {
        ce.id
        for ce in who.course_enrolments
        if (ce.course_code or "").strip().upper() in ("HLTAID011", "HLTAID009", "CPR101")
    }
    changed = {ce_id for ce_id in before if before[ce_id].stage != after[ce_id].stage}
    assert changed <= short
    for ce_id in changed:
        assert before[ce_id].stage in ("Reconnect", "Completion")
        assert after[ce_id].stage == "closed"


def test_audiences_scope_flags_on_every_subject_and_tag_rules() -> None:
    """Flags and tag rules of any subject may be limited to an audience.

    A unit or checklist is in the audience of its enrolment; a learner (or a learner's checklist)
    when any of their enrolments is; tag rules, selections included, tag only its enrolments.
    """
    text = DEFAULT_MAPPING.read_text()
    text = text.replace("\nfacts:\n", SHORT_COURSES + "\nfacts:\n", 1)
    text = text.replace(
        "  - id: missing-usi\n    subject: learner\n",
        "  - id: missing-usi\n    subject: learner\n    audience: international\n",
    )
    text = text.replace(
        "  - id: outcome-overdue\n    subject: unit_enrolment\n",
        "  - id: outcome-overdue\n    subject: unit_enrolment\n    audience: winter_intake\n",
    )
    text = text.replace(
        "  - id: checklist-overdue\n    subject: checklist\n",
        "  - id: checklist-overdue\n    subject: checklist\n    audience: international\n",
    )
    text = text.replace(
        "    - id: tag-certified\n      tag: certified\n",
        "    - id: tag-certified\n      tag: certified\n      audience: short_courses\n",
    )
    text = text.replace(
        "      tag: reconnect-eligible\n",
        "      tag: reconnect-eligible\n      audience: short_courses\n",
    )
    mapping = load_mapping(text, "audiences.yaml", CALENDAR)
    late_unit = unit(11, 1, None, 5, actual=False)
    other_unit = unit(12, 2, None, 5, actual=False)
    learner_list = Checklist(31, "Learner", 1, date_due=TODAY.replace(day=1))
    enrolment_list = Checklist(32, "CourseEnrolment", 2, date_due=TODAY.replace(day=1))
    who = bundle(
        enrolment(1, "Current", course_offer_code="BSB40120-2026-T2", study_mode="Full-time"),
        enrolment(2, "Current", course_offer_code="BSB40120-2025-T1", study_mode="International"),
        enrolment(3, "Completed", course_code="CPR101", qualification_issued=True),
        enrolment(4, "Completed", course_code="BSB50120", qualification_issued=True),
        unit(13, 3, "20", 200),
        unit(14, 4, "20", 100),
        late_unit,
        other_unit,
        learner_list,
        enrolment_list,
        who=learner(usi=None),
    )
    decision = evaluate(who, mapping, TODAY)
    keys = {flag.key for flag in decision.flags}
    assert ("missing-usi", "learner", 1) in keys  # enrolment 2 is international
    assert ("outcome-overdue", "unit_enrolment", 11) in keys
    assert ("outcome-overdue", "unit_enrolment", 12) not in keys
    assert ("checklist-overdue", "checklist", 31) in keys  # a learner's: any enrolment
    assert ("checklist-overdue", "checklist", 32) in keys
    tags = {ce.id: ce.desired_tags for ce in decision.course_enrolments}
    assert (tags[3], tags[4]) == (frozenset({"certified"}), frozenset())
    finished = bundle(
        *[r for r in who.course_enrolments if r.id in (3, 4)],
        unit(13, 3, "20", 200),
        unit(14, 4, "20", 100),
    )
    tags = {ce.id: ce.desired_tags for ce in evaluate(finished, mapping, TODAY).course_enrolments}
    assert tags == {3: {"certified", "reconnect-eligible"}, 4: frozenset()}  # 4 finished later
    domestic = dataclasses.replace(
        who,
        course_enrolments=tuple(
            dataclasses.replace(ce, study_mode="Full-time") for ce in who.course_enrolments
        ),
    )
    keys = {flag.key for flag in evaluate(domestic, mapping, TODAY).flags}
    assert ("missing-usi", "learner", 1) not in keys
    assert ("checklist-overdue", "checklist", 31) not in keys
    assert ("checklist-overdue", "checklist", 32) not in keys
    lines = explanation_lines(explain(domestic, mapping, TODAY))
    assert lines  # the explanation runs over audience-limited flags too


def test_codes_match_trimmed_case_insensitively_with_wildcards() -> None:
    """`*` and `?` are wildcards; a missing code is in no audience; no patterns match nothing."""
    matches = code_matcher(["HLTAID*", " bsb40120-2026-t? "])
    assert matches("hltaid011")
    assert matches(" BSB40120-2026-T3 ")
    assert not matches("BSB40120-2026-T10")
    assert not matches(None)
    assert not code_matcher(None)("HLTAID011")
    assert [is_pattern(code) for code in ("HLTAID*", "CPR10?", "[AB]1", "BSB40120")] == [
        True,
        True,
        True,
        False,
    ]


BROKEN = {
    "unknown audience": (
        "audiences: {short: {courses: [HLTAID011]}}\n",
        "  - id: declined\n    audience: shrot\n",
        "unknown audience 'shrot'; known: short",
    ),
    "empty audience": (
        "audiences: {short: {description: nothing}}\n",
        "",
        "an audience needs courses, course_offers or when",
    ),
    "blank code": (
        "audiences: {short: {courses: ['  ']}}\n",
        "",
        "audiences.short.courses[0]: a code or pattern may not be blank",
    ),
    "audience using stages": (
        "audiences: {short: {when: {stage: [Sales]}}}\n",
        "",
        "audiences (stage rules use them) cannot refer to stages",
    ),
    "unknown key": (
        "audiences: {short: {course: [HLTAID011]}}\n",
        "",
        "unknown key 'course'; expected one of courses, course_offers, when, description",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_bad_audience_is_reported_with_its_line_and_column(case: str) -> None:
    """Unknown, empty, blank or stage-dependent audiences are refused at their place."""
    audiences, rule, message = BROKEN[case]
    text = DEFAULT_MAPPING.read_text().replace("\nfacts:\n", "\n" + audiences + "\nfacts:\n", 1)
    if rule:
        text = text.replace("  - id: declined\n", rule, 1)
    with pytest.raises(MappingError) as caught:
        load_mapping(text, "mapping.yaml", CALENDAR)
    problems = [str(problem) for problem in caught.value.problems]
    assert any(message in problem for problem in problems), problems
    assert all(problem.startswith("mapping.yaml:") for problem in problems)


def uncommented() -> str:
    """The default mapping with its commented short-course example switched on."""
    text = DEFAULT_MAPPING.read_text()
    block = "# audiences:\n#   short_courses:\n#     courses: [HLTAID011, HLTAID009]"
    rule = "".join("  # " + line[2:] + "\n" for line in NEVER_RECONNECT.splitlines())
    assert block in text
    assert rule in text
    text = text.replace(block, block.replace("# ", "").replace("#", ""))
    return text.replace(rule, NEVER_RECONNECT)


def test_the_default_mappings_commented_example_keeps_short_courses_out_of_reconnect() -> None:
    """Uncommented as its comment says, the example is valid and does what it says."""
    mapping = load_mapping(uncommented(), "mapping.yaml", CALENDAR)
    short = enrolment(1, "Completed", course_code="HLTAID011")
    who = bundle(short, unit(11, 1, "20", 90), issued(21, 1))
    assert [ce.stage for ce in evaluate(who, mapping, TODAY).course_enrolments] == ["closed"]
    owed = bundle(enrolment(1, "Completed", course_code="HLTAID011"), unit(11, 1, "20", 90))
    assert [ce.stage for ce in evaluate(owed, mapping, TODAY).course_enrolments] == ["Completion"]
