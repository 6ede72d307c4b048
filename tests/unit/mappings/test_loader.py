"""Loader behaviour beyond the broken-file corpus: warnings, constructs built in Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.catalogue import Subject
from mappings.compiler import Context
from mappings.loader import MappingError, load_mapping, parse_mapping, vocabulary_warnings
from mappings.schema import (
    DateOfField,
    DateOffset,
    DateTest,
    FieldTest,
    FirstOf,
    Selection,
    StageIs,
    StageRule,
    TagSelect,
    TagWhen,
    TodayOffset,
    condition_kind,
    date_kind,
    point_kind,
    tag_rule_kind,
)
from tests.support.bundles import DEFAULT_MAPPING, TODAY, ago, bundle, enrolment

KNOWN = {
    "enrolment-statuses": frozenset(
        {
            "enquiry",
            "pending",
            "current",
            "completed",
            "completion pending",
            "withdrawn",
            "declined",
            "cancelled (no penalty)",
            "cancelled (penalty)",
        }
    ),
    "outcomes": frozenset({"20", "30", "40", "41", "51", "52", "60", "65", "81", "82"}),
    "credential-statuses": frozenset({"issued"}),
}


def test_names_the_account_does_not_know_are_warnings_not_errors() -> None:
    """A status or outcome missing from the combos is reported, naming rule or fact or set."""
    spec = parse_mapping(DEFAULT_MAPPING.read_text(), "mapping.yaml")
    unknown = "'Partial Attendance' is not a value of the account's enrolment-statuses"
    assert vocabulary_warnings(spec, KNOWN) == [
        f"fact certificate_owed (set non_completion_statuses): {unknown}",
        f"rule completion (set finalised_statuses): {unknown}",
        f"rule completion-date-unknown (set finalised_statuses): {unknown}",
        f"rule reconnect (set finalised_statuses): {unknown}",
    ]


def test_every_known_name_gives_no_warning() -> None:
    """With every name known, nothing is said; unknown combos are skipped."""
    spec = parse_mapping(DEFAULT_MAPPING.read_text(), "mapping.yaml")
    complete = {**KNOWN, "enrolment-statuses": KNOWN["enrolment-statuses"] | {"partial attendance"}}
    assert vocabulary_warnings(spec, complete) == []
    assert vocabulary_warnings(spec, {}) == []


def test_warnings_look_inside_scopes_children_and_dates() -> None:
    """Names inside `learner:`, `enrolment:`, quantifiers, `not` and dates are checked too."""
    text = (
        Path(__file__).parents[2].joinpath("fixtures", "mappings", "kitchen_sink.yaml").read_text()
    )
    spec = parse_mapping(text, "kitchen_sink.yaml")
    warnings = vocabulary_warnings(
        spec, {"outcomes": frozenset({"20"}), "enrolment-statuses": frozenset({"current"})}
    )
    assert "date last_final (set finals): '30' is not a value of the account's outcomes" in warnings
    assert "fact no_failed_units: '30' is not a value of the account's outcomes" in warnings
    # `enrolment:` on a unit fact reads the enrolment's status, so that is checked too.
    assert (
        "fact of_done (set done): 'Completed' is not a value of the account's "
        "enrolment-statuses" in warnings
    )
    assert any(w.startswith("rule issued-credential: 'Completed'") for w in warnings)


def test_constructs_built_in_python_validate_like_parsed_ones() -> None:
    """The discriminators accept model instances as well as plain mappings."""
    test = FieldTest(field="status", equals="Current")
    rule = StageRule(id="x", stage="Open", when=test)
    assert rule.when is test
    assert condition_kind(test) == "field"
    assert condition_kind(object()) is None
    assert date_kind(object()) is None
    assert date_kind(FirstOf(first_of=[DateOfField(field="end_date")])) == "first_of"
    assert point_kind(TodayOffset(today_minus_days=1)) == "today_offset"
    assert point_kind(DateOffset(field="end_date")) == "date_offset"
    assert point_kind(3) is None
    assert point_kind({"colour": 1}) is None
    when = TagWhen(id="t", tag="t", when=test)
    assert tag_rule_kind(when) == "when"
    select = Selection(among=StageIs(stage=["Done"]), latest="finished")
    assert tag_rule_kind(TagSelect(id="s", tag="s", select=select)) == "select"
    assert DateTest(date="finished", before="today").operand == "today"


def test_a_date_test_explains_a_failed_comparison() -> None:
    """The why of a failed date comparison names the date and the limit."""
    mapping = load_mapping(DEFAULT_MAPPING.read_text(), "mapping.yaml")
    subject = bundle(enrolment(10, "Withdrawn", end_date=ago(30)))
    ctx = Context.of(subject, TODAY)
    reconnect = mapping.stage_rules[3]
    assert reconnect.node.why_not(ctx, subject.course_enrolments[0]) == (
        f"completion_date is {ago(30).isoformat()}; expected on or before {ago(60).isoformat()}"
    )
    assert Subject.COURSE_ENROLMENT in mapping.named_dates


@pytest.mark.parametrize(("text", "found"), [("", "nothing"), ("3\n", "a value")])
def test_empty_text_and_a_scalar_are_refused(text: str, found: str) -> None:
    """A file with nothing in it, or one value, is not a mapping."""
    with pytest.raises(MappingError) as caught:
        load_mapping(text, "m.yaml")
    assert str(caught.value) == (
        f"m.yaml:1:1: a mapping file is a YAML mapping (version, stages, …); found {found}"
    )
