from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connector.wisenet.timestamps import (
    TimestampFormatError,
    format_body_timestamp,
    format_filter_timestamp,
    parse_date,
    parse_timestamp,
)

SYDNEY = ZoneInfo("Australia/Sydney")
PERTH = ZoneInfo("Australia/Perth")


@pytest.mark.parametrize(
    ("raw", "microsecond"),
    [
        ("2025-03-14T09:21:37", 0),
        ("2025-03-14T09:21:37.5", 500000),
        ("2025-03-14T09:21:37.52", 520000),
        ("2025-03-14T09:21:37.523", 523000),
        ("2025-03-14T09:21:37.5234", 523400),
        ("2025-03-14T09:21:37.523456", 523456),
        ("2025-03-14T09:21:37.5234567", 523456),
    ],
)
def test_fractions_of_zero_to_seven_digits_parse(raw: str, microsecond: int) -> None:
    """Every trimmed fraction length Wisenet sends is read, the seventh digit dropped."""
    parsed = parse_timestamp(raw, SYDNEY)
    assert parsed.replace(tzinfo=None) == datetime(2025, 3, 14, 9, 21, 37, microsecond)
    assert parsed.utcoffset() == timedelta(hours=11)


def test_local_time_is_read_in_the_account_timezone_not_the_process_one() -> None:
    """The same wall time is a different instant in Perth and in Sydney."""
    sydney = parse_timestamp("2025-06-01T12:00:00", SYDNEY)
    perth = parse_timestamp("2025-06-01T12:00:00", PERTH)
    assert perth - sydney == timedelta(hours=2)
    assert perth.astimezone(UTC) == datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


def test_date_only_fields_come_at_midnight() -> None:
    """A date field sent as midnight is that calendar date."""
    assert parse_date("1996-07-02T00:00:00") == date(1996, 7, 2)
    assert parse_date("2025-11-28") == date(2025, 11, 28)


def test_an_explicit_offset_or_z_is_honoured() -> None:
    """A trailing Z or offset, if Wisenet ever sends one, wins over the account timezone."""
    assert parse_timestamp("2025-03-14T09:00:00Z", SYDNEY) == datetime(
        2025, 3, 14, 9, 0, tzinfo=UTC
    )
    plus_ten = parse_timestamp("2025-03-14T09:00:00+10:00", SYDNEY)
    assert plus_ten == datetime(2025, 3, 14, 9, 0, tzinfo=timezone(timedelta(hours=10)))
    assert plus_ten.tzinfo == SYDNEY


def test_the_repeated_hour_reads_as_its_first_occurrence() -> None:
    """02:30 on the day daylight saving ends (Sydney, 6 April 2025) is the earlier instant."""
    parsed = parse_timestamp("2025-04-06T02:30:00", SYDNEY)
    assert parsed.astimezone(UTC) == datetime(2025, 4, 5, 15, 30, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(hours=11)


def test_the_skipped_hour_moves_forward_by_the_gap() -> None:
    """02:30 on the day daylight saving starts (Sydney, 5 October 2025) is 03:30 AEDT."""
    parsed = parse_timestamp("2025-10-05T02:30:00", SYDNEY)
    assert parsed.replace(tzinfo=None) == datetime(2025, 10, 5, 3, 30)
    assert parsed.utcoffset() == timedelta(hours=11)
    assert parsed.astimezone(UTC) == datetime(2025, 10, 4, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", ["", "yesterday", "2025-13-01T00:00:00", "2025-02-30", "14/03/2025", "2025-03-14T25:00"]
)
def test_garbage_is_refused_without_quoting_it(raw: str) -> None:
    """A malformed value is an error that does not repeat the value (it may be personal)."""
    with pytest.raises(TimestampFormatError) as caught:
        parse_timestamp(raw, SYDNEY)
    assert raw == "" or raw not in str(caught.value)
    with pytest.raises(TimestampFormatError):
        parse_date(raw)


def test_filter_values_are_account_local_with_milliseconds() -> None:
    """Filters use `YYYY-MM-DDTHH:MM:SS.fff` in account time."""
    moment = datetime(2025, 3, 13, 22, 21, 37, 523999, tzinfo=UTC)
    assert format_filter_timestamp(moment, SYDNEY) == "2025-03-14T09:21:37.523"
    assert format_body_timestamp(moment, SYDNEY) == "2025-03-14T09:21:37"


def test_formatting_refuses_naive_datetimes() -> None:
    """A naive datetime is a bug (whose clock?), so formatting refuses it."""
    with pytest.raises(ValueError, match="aware"):
        format_filter_timestamp(datetime(2025, 1, 1), SYDNEY)
    with pytest.raises(ValueError, match="aware"):
        format_body_timestamp(datetime(2025, 1, 1), SYDNEY)


def test_filter_format_round_trips_through_the_parser() -> None:
    """What the client sends as a filter reads back as the same instant (to the millisecond)."""
    moment = datetime(2025, 7, 1, 3, 4, 5, 678000, tzinfo=UTC)
    assert parse_timestamp(format_filter_timestamp(moment, PERTH), PERTH) == moment
