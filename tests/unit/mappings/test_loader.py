"""Loader behaviour beyond the broken-file corpus: warnings, constructs built in Python."""

from __future__ import annotations

import pytest

from mappings.catalogue import Subject
from mappings.condition_schema import (
    DateOffset,
    DateTest,
    FieldTest,
    StageIs,
    TodayOffset,
    condition_kind,
    point_kind,
)
from mappings.date_schema import DateOfField, FirstOf, date_kind
from mappings.evaluation_context import Context
from mappings.loader import load_mapping
from mappings.problems import MappingError
from mappings.schema import Selection, StageRule, TagSelect, TagWhen, tag_rule_kind
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, TODAY, ago, bundle, enrolment


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
    mapping = load_mapping(DEFAULT_MAPPING.read_text(), "mapping.yaml", CALENDAR)
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
        load_mapping(text, "m.yaml", CALENDAR)
    assert str(caught.value) == (
        f"m.yaml:1:1: a mapping file is a YAML mapping (version, stages, …); found {found}"
    )
