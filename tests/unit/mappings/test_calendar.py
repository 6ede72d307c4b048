"""Durations and business days: the units people write offsets in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.calendar import WEEKENDS_ONLY, BusinessCalendar, Duration, DurationError, Unit
from mappings.evaluate import evaluate
from mappings.loader import load_mapping
from mappings.problems import MappingError
from tests.support.bundles import (
    CALENDAR,
    DEFAULT_MAPPING,
    TODAY,
    bundle,
    default_mapping,
    enrolment,
    unit,
)

NSW_2027 = BusinessCalendar(
    "AU-NSW",
    frozenset({date(2027, 1, 26), date(2027, 3, 26), date(2027, 3, 29)}),  # Australia Day, Easter
)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (14, Duration(14, Unit.DAYS)),
        ("1 day", Duration(1, Unit.DAYS)),
        ("20 business days", Duration(20, Unit.BUSINESS_DAYS)),
        ("1 business day", Duration(1, Unit.BUSINESS_DAYS)),
        ("3 weeks", Duration(3, Unit.WEEKS)),
        ("1 month", Duration(1, Unit.MONTHS)),
        ("0 months", Duration(0, Unit.MONTHS)),
    ],
)
def test_durations_are_read_in_every_unit(written: int | str, expected: Duration) -> None:
    """A bare number is days; text names its unit, singular or plural."""
    assert Duration.parse(written) == expected


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        (True, "expected a number of days"),
        ("3 fortnights", "found '3 fortnights'"),
        ("twenty days", "found 'twenty days'"),
        ("20  days", "found '20  days'"),
        (-1, "out of range"),
        ("1200 months", "1200 months is out of range (0 to 1180)"),
    ],
)
def test_a_bad_duration_names_what_is_expected(written: int | str, fragment: str) -> None:
    """Unknown units, words for numbers and sizes beyond a century are refused, saying why."""
    with pytest.raises(DurationError) as caught:
        Duration.parse(written)
    assert fragment in str(caught.value)


def test_durations_are_shown_as_written() -> None:
    """Plural except for one."""
    assert [str(Duration.parse(t)) for t in ("1 weeks", "2 month", 3)] == [
        "1 week",
        "2 months",
        "3 days",
    ]


def test_ten_business_days_skip_a_weekend_and_australia_day() -> None:
    """From Wednesday 20 January 2027: two weekends and Tuesday 26 January are skipped."""
    ten = Duration.parse("10 business days")
    assert NSW_2027.shift(date(2027, 1, 20), ten, 1) == date(2027, 2, 4)
    assert WEEKENDS_ONLY.shift(date(2027, 1, 20), ten, 1) == date(2027, 2, 3)
    assert NSW_2027.shift(date(2027, 2, 4), ten, -1) == date(2027, 1, 20)


def test_business_days_across_easter_land_after_easter_monday() -> None:
    """Thursday before Good Friday plus one business day is the Tuesday after Easter Monday."""
    one = Duration.parse("1 business day")
    assert NSW_2027.shift(date(2027, 3, 25), one, 1) == date(2027, 3, 30)
    assert NSW_2027.shift(date(2027, 3, 30), one, -1) == date(2027, 3, 25)
    assert not NSW_2027.is_business_day(date(2027, 3, 29))
    assert NSW_2027.is_business_day(date(2027, 3, 30))


def test_the_shell_calendar_knows_the_same_holidays() -> None:
    """The default calendar (national holidays) has Australia Day and Easter Monday."""
    assert not CALENDAR.is_business_day(date(2027, 1, 26))
    assert not CALENDAR.is_business_day(date(2027, 3, 29))
    assert CALENDAR.shift(date(2027, 1, 20), Duration.parse("10 business days"), 1) == date(
        2027, 2, 4
    )


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 3, date(2027, 4, 30)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2027, 11, 15), 2, date(2028, 1, 15)),
        (date(2027, 1, 15), -1, date(2026, 12, 15)),
    ],
)
def test_a_month_offset_takes_the_last_day_where_the_day_does_not_exist(
    start: date, months: int, expected: date
) -> None:
    """31 January plus one month is the end of February; the year rolls over both ways."""
    assert WEEKENDS_ONLY.shift(
        start, Duration(abs(months), Unit.MONTHS), 1 if months > 0 else -1
    ) == (expected)


def test_days_and_weeks_are_calendar_days() -> None:
    """Weekends and holidays count for days and weeks; zero of anything is no move."""
    start = date(2027, 1, 22)  # a Friday
    assert NSW_2027.shift(start, Duration(3), 1) == date(2027, 1, 25)
    assert NSW_2027.shift(start, Duration(2, Unit.WEEKS), -1) == date(2027, 1, 8)
    assert NSW_2027.shift(start, Duration(0, Unit.BUSINESS_DAYS), 1) == start
    assert repr(NSW_2027) == "BusinessCalendar('AU-NSW')"


@settings(deadline=None)
@given(
    st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    st.integers(0, 400),
    st.integers(0, 60),
)
def test_before_today_minus_n_business_days_is_plus_n_before_today(
    day: date, gap: int, count: int
) -> None:
    """`day < today - N bd` exactly when `day + N bd < today`: both count the days between."""
    today = day + timedelta(days=gap)
    n = Duration(count, Unit.BUSINESS_DAYS)
    assert (day < NSW_2027.shift(today, n, -1)) == (NSW_2027.shift(day, n, 1) < today)
    assert (day > NSW_2027.shift(today, n, 1)) == (NSW_2027.shift(day, n, -1) > today)


def naive(calendar: BusinessCalendar, day: date, count: int, sign: int) -> date:
    """Business days counted one day at a time."""
    while count:
        day += timedelta(days=sign)
        if calendar.is_business_day(day):
            count -= 1
    return day


@settings(deadline=None)  # the naive count of a cold year is slow on a busy machine
@given(
    st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    st.integers(0, 3000),
    st.sampled_from([1, -1]),
)
def test_the_indexed_count_is_the_naive_count(day: date, count: int, sign: int) -> None:
    """However far and in which direction: the same day as counting one by one."""
    calendar = CALENDAR
    assert calendar.shift(day, Duration(count, Unit.BUSINESS_DAYS), sign) == naive(
        calendar, day, count, sign
    )


def test_a_calendar_of_nearly_only_holidays_still_finds_its_day() -> None:
    """Every weekday of 2027 but the last a holiday: the next business day is 31 December."""
    year = [date(2027, 1, 1) + timedelta(days=n) for n in range(364)]
    closed = BusinessCalendar("closed", frozenset(d for d in year if d != date(2027, 12, 31)))
    one = Duration(1, Unit.BUSINESS_DAYS)
    assert closed.shift(date(2027, 1, 1), one, 1) == date(2027, 12, 31)
    two_back = closed.shift(date(2028, 1, 3), Duration(2, Unit.BUSINESS_DAYS), -1)
    assert two_back == date(2026, 12, 31)  # 31 December 2027, then the year before the holidays


def test_the_ends_of_the_calendar_are_held() -> None:
    """Offsets near the first and last dates Python has do not overflow on the way."""
    one = Duration(1, Unit.BUSINESS_DAYS)
    assert BusinessCalendar().shift(date(9999, 12, 29), one, 1) == date(9999, 12, 30)
    assert BusinessCalendar().shift(date(1, 1, 3), one, -1) == date(1, 1, 2)


@pytest.mark.parametrize(
    ("day", "written", "sign", "expected"),
    [
        (date(9999, 12, 30), "10 business days", 1, date.max),
        (date(9999, 12, 30), "10 days", 1, date.max),
        (date(9999, 12, 30), "3 weeks", 1, date.max),
        (date(9999, 12, 30), "1 month", 1, date.max),
        (date(1, 1, 2), "10 business days", -1, date.min),
        (date(1, 1, 2), "1 month", -1, date.min),
    ],
)
def test_a_move_past_the_last_or_first_date_stops_there(
    day: date, written: str, sign: int, expected: date
) -> None:
    """Wisenet's 9999-12-31 ("no end") plus an offset is the latest date, not an error or a hang."""
    assert BusinessCalendar().shift(day, Duration.parse(written), sign) == expected


def test_duration_text_is_the_whole_value() -> None:
    """A trailing line break is not part of a duration."""
    with pytest.raises(DurationError):
        Duration.parse("3 days\n")


def test_records_dated_at_the_end_of_time_are_decided() -> None:
    """An enrolment ending 9999-12-31 and a unit starting 0001-01-01: decided, nothing raised."""
    who = bundle(
        enrolment(1, "Current", end_date=date.max),
        unit(11, 1, None, None),
    )
    decided = evaluate(who, default_mapping(), TODAY)
    assert [ce.stage for ce in decided.course_enrolments] == ["Progression"]
    mover = default_mapping().compiler.mover
    assert mover(Duration(14), 1)(date.max) == date.max
    assert mover(Duration(2, Unit.WEEKS), -1)(date.min) == date.min


def test_a_duration_too_long_says_its_limit_at_its_place() -> None:
    """Written right but beyond a century: the limit is named, not the format."""
    text = DEFAULT_MAPPING.read_text().replace(
        "certificate_deadline_days: 30 ", "certificate_deadline_days: 30000 business days ", 1
    )
    with pytest.raises(MappingError) as caught:
        load_mapping(text, "mapping.yaml", CALENDAR)
    (problem,) = caught.value.problems
    assert str(problem).endswith(
        "thresholds.certificate_deadline_days: 30000 business days is out of range (0 to 26142); "
        "found '30000 business days'"
    )
