"""Rules read a USI's facts (given, well-formed, exemption code, status), never the USI."""

from __future__ import annotations

import pytest

from mappings.catalogue import Subject
from mappings.evaluate import evaluate
from mappings.evaluation_context import Context
from mappings.loader import load_mapping
from mappings.problems import MappingError
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, TODAY, bundle, enrolment, learner

VERIFIED_BY_SET = "{field: usi_status, in_set: verified_usi_statuses}"


def default_with(old: str, new: str) -> str:
    """The default mapping's text with one condition replaced."""
    text = DEFAULT_MAPPING.read_text()
    assert old in text
    return text.replace(old, new)


def usi_flags(text: str, usi: str | None, status: str | None) -> set[str]:
    """The USI flags a mapping raises for an active learner with a current enrolment."""
    who = bundle(enrolment(10, "Current"), who=learner(usi=usi, usi_status=status))
    decided = evaluate(who, load_mapping(text, "mapping.yaml", CALENDAR), TODAY)
    return {flag.flag for flag in decided.flags if "usi" in flag.flag}


def test_a_pattern_on_the_usi_is_refused_with_its_location() -> None:
    """The USI is kept as facts only: `matches` on it is an error at its line and column."""
    text = default_with("{field: usi_well_formed, is: true}", '{field: usi, matches: "[A-Z]+"}')
    with pytest.raises(MappingError, match=r"mapping\.yaml:\d+:\d+: .*'matches' does not apply "):
        load_mapping(text, "mapping.yaml", CALENDAR)


def test_a_pattern_on_a_status_word_still_applies() -> None:
    """`matches` reads non-personal text, trimmed and case-insensitively."""
    text = default_with(VERIFIED_BY_SET, '{field: usi_status, matches: "verif(ied)?"}')
    assert usi_flags(text, "3AW88YH9U5", " verified ") == set()
    assert usi_flags(text, "3AW88YH9U5", "Unverified") == {"usi-unverified"}
    assert usi_flags(text, "3AW88YH9U5", None) == {"usi-unverified"}


@pytest.mark.parametrize(
    ("condition", "usi", "holds"),
    [
        ("{field: usi, exists: true}", "3AW88YH9O5", True),
        ("{field: usi, exists: true}", "  ", False),
        ("{field: usi_exemption, equals: indiv}", " indiv ", True),
        ("{field: usi_exemption, exists: true}", "3AW88YH9U5", False),
        ("{field: usi_well_formed, is: false}", "3AW88YH9O5", True),
    ],
)
def test_the_usi_facts_are_fields(condition: str, usi: str, holds: bool) -> None:
    """A USI given at all, its exemption code and its form can each be tested."""
    text = default_with(VERIFIED_BY_SET, condition)
    raised = usi_flags(text, usi, None) == {"usi-unverified"}
    present = usi.strip().upper() in ("INDIV", "3AW88YH9U5")
    assert raised is (present and not holds)


def test_explanations_show_the_facts_and_never_a_usi() -> None:
    """A failed USI test explains itself with the fact found."""
    compiled = load_mapping(DEFAULT_MAPPING.read_text(), "mapping.yaml", CALENDAR)
    who = learner(usi=" 3aw88yh9o5 ", usi_status="Verified")
    ctx = Context.of(bundle(who=who), TODAY)
    why = compiled.compiler.fact(Subject.LEARNER, "usi_present").why_not(ctx, who)
    assert why == (
        "fact usi_present does not hold: none of: usi_well_formed is False; expected true; "
        "fact usi_exempt does not hold: usi_exemption is empty; expected one of set "
        "usi_exemption_codes"
    )
    assert "3AW88YH9O5" not in why.upper()
