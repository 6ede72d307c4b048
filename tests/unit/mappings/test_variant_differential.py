"""Changed mappings agree with the reference's hand-written variants, around real holidays.

A certificate deadline of 20 business days (weekends and Australia's public holidays skipped)
and a `short_courses` audience kept out of Reconnect, each against `tests.reference.Variant`.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.bundle import LearnerBundle
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate
from mappings.loader import load_mapping
from tests.reference import Variant, decide
from tests.support.bundles import (
    CALENDAR,
    DEFAULT_MAPPING,
    NEVER_RECONNECT,
    TODAY,
    as_outcome,
    bundles,
    default_mapping,
)

# Days whose last 20 business days hold Christmas, Australia Day, Easter or nothing at all.
TODAYS = (TODAY, date(2027, 1, 8), date(2027, 2, 5), date(2027, 4, 9), date(2027, 4, 30))
AUSTRALIA = holidays.country_holidays("AU")
SHORT_COURSES = """
audiences:
  short_courses:
    courses: [HLTAID*]
"""


@cache
def business_day_deadline() -> CompiledMapping:
    """The default mapping with `certificate_deadline_days: 20 business days`."""
    text = DEFAULT_MAPPING.read_text().replace(
        "certificate_deadline_days: 30 ", "certificate_deadline_days: 20 business days ", 1
    )
    assert "20 business days" in text
    return load_mapping(text, "business-days.yaml", CALENDAR)


@cache
def short_courses_kept_out() -> CompiledMapping:
    """The default mapping with the comment's short-course audience switched on."""
    text = DEFAULT_MAPPING.read_text()
    text = text.replace("\nfacts:\n", SHORT_COURSES + "\nfacts:\n", 1)
    text = text.replace(
        "course_enrolment_stages:\n", "course_enrolment_stages:\n" + NEVER_RECONNECT, 1
    )
    return load_mapping(text, "short-courses.yaml", CALENDAR)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(TODAYS))
def test_a_business_day_deadline_agrees_with_the_reference(
    bundle: LearnerBundle, today: date
) -> None:
    """Flags, their days overdue, owners, stages and tags, with a 20-business-day deadline."""
    variant = Variant(deadline_business_days=20, holidays=AUSTRALIA)
    decided = evaluate(bundle, business_day_deadline(), today)
    assert as_outcome(decided, today) == decide(bundle, today, variant)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(TODAYS))
def test_an_audience_kept_out_of_reconnect_agrees_with_the_reference(
    bundle: LearnerBundle, today: date
) -> None:
    """Settled short-course enrolments are closed; every other decision is the default's."""
    variant = Variant(never_reconnect=frozenset({"HLTAID011"}))
    decided = evaluate(bundle, short_courses_kept_out(), today)
    assert as_outcome(decided, today) == decide(bundle, today, variant)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(TODAYS))
def test_the_default_mapping_agrees_on_days_around_holidays(
    bundle: LearnerBundle, today: date
) -> None:
    """The default (calendar days) is untouched by holidays."""
    assert as_outcome(evaluate(bundle, default_mapping(), today), today) == decide(bundle, today)
