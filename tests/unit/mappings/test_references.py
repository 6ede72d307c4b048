"""Which tags an enrolment flag drives, however deep the rule tests it."""

from __future__ import annotations

import pytest

from mappings.condition_schema import Not
from mappings.loader import load_mapping
from mappings.references import flags_referenced
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, default_mapping

DIRECT = "when: {flag: certificate-overdue}"

THROUGH = {
    "not": "when: {not: {not: {flag: certificate-overdue}}}",
    "an enrolment scope": ("when: {some: units, where: {enrolment: {flag: certificate-overdue}}}"),
    "a learner scope": ("when: {learner: {some: enrolments, where: {flag: certificate-overdue}}}"),
    "a count": "when: {all: [{count: units, at_least: 0}, {any: [{flag: certificate-overdue}]}]}",
    "a selection": ("select: {among: {flag: certificate-overdue}, latest: completion_date}"),
}


def test_the_default_mapping_drives_only_certificate_overdue_by_an_enrolment_flag() -> None:
    """`missing-usi` tests a learner flag: time alone cannot raise it on an enrolment."""
    assert default_mapping().flag_driven_tags == {"certificate-overdue"}


@pytest.mark.parametrize("rule", THROUGH.values(), ids=THROUGH.keys())
def test_a_flag_tested_through_any_construct_drives_its_tag(rule: str) -> None:
    """The tag is flag-driven however the rule reaches the flag."""
    text = DEFAULT_MAPPING.read_text()
    assert DIRECT in text
    mapping = load_mapping(text.replace(DIRECT, rule), "variant.yaml", CALENDAR)
    assert mapping.flag_driven_tags == {"certificate-overdue"}


def test_a_tag_rule_without_the_flag_is_not_flag_driven() -> None:
    """A rule on the enrolment's own fields only: no credential check is owed for it."""
    text = DEFAULT_MAPPING.read_text().replace(DIRECT, "when: {stage: [Completion]}")
    assert load_mapping(text, "variant.yaml", CALENDAR).flag_driven_tags == frozenset()


def test_flags_referenced_walks_lists_and_ignores_scalars() -> None:
    """Leaves that are not flags add nothing."""
    condition = Not.model_validate({"not": {"all": [{"flag": "a"}, {"fact": "b"}]}})
    assert flags_referenced(condition) == {"a"}
    assert flags_referenced(("x", 1, None)) == frozenset()
