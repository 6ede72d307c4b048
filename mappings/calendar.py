"""Offsets in the units people use: days, business days, weeks and calendar months.

A duration is a bare number of days or text such as `20 business days`, `3 weeks`, `1 month`.
Business days skip Saturdays, Sundays and the public holidays the calendar is given (the shell
reads them for the account's region; this core only asks whether a day is one).

N business days after a date is the Nth business day strictly after it (and before, strictly
before), so a weekend or holiday is never landed on. With that, "a date is before today minus N
business days" holds exactly when "that date plus N business days is before today": both say
that at least N business days lie strictly between them. A month offset keeps the day of the
month where it can and takes the month's last day where it cannot (31 January plus one month is
28 or 29 February).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from calendar import monthrange
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

MAX_DAYS = 36_600  # about a hundred years: any date plus or minus it stays a date


class Unit(StrEnum):
    """The units a duration may be written in."""

    DAYS = "days"
    BUSINESS_DAYS = "business days"
    WEEKS = "weeks"
    MONTHS = "months"


_LIMITS = {
    Unit.DAYS: MAX_DAYS,
    Unit.BUSINESS_DAYS: MAX_DAYS * 5 // 7,
    Unit.WEEKS: MAX_DAYS // 7,
    Unit.MONTHS: MAX_DAYS // 31,
}
DURATION_PATTERN = r"^[0-9]{1,6} (days?|business days?|weeks?|months?)$"
_TEXT = re.compile(DURATION_PATTERN)
DURATION_HINT = "a number of days, or text such as `20 business days`, `3 weeks`, `1 month`"


class DurationError(ValueError):
    """A duration's text or size is not one this language takes."""


class DurationRangeError(DurationError):
    """A duration written right but too long."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A count of one unit."""

    count: int
    unit: Unit = Unit.DAYS

    @classmethod
    def parse(cls, value: int | str) -> Duration:
        """A bare number of days, or `N days | business days | weeks | months`."""
        if isinstance(value, bool):
            raise DurationError(f"expected {DURATION_HINT}")
        if isinstance(value, int):
            return cls._within(value, Unit.DAYS)
        found = _TEXT.fullmatch(value)
        if found is None:
            raise DurationError(f"expected {DURATION_HINT}, found {value!r}")
        word = found.group(1)
        unit = Unit(word if word.endswith("s") else f"{word}s")
        return cls._within(int(value.split(" ", 1)[0]), unit)

    @classmethod
    def _within(cls, count: int, unit: Unit) -> Duration:
        if not 0 <= count <= _LIMITS[unit]:
            raise DurationRangeError(f"{count} {unit} is out of range (0 to {_LIMITS[unit]})")
        return cls(count, unit)

    def __str__(self) -> str:
        unit = self.unit.value
        return f"{self.count} {unit[:-1] if self.count == 1 else unit}"


class BusinessCalendar:
    """Which days are business days, and offsets counted in any unit.

    Business days are counted on a sorted list of them, built once for the span of dates asked
    about and widened when a date falls outside it, so an offset costs a binary search however
    many business days it spans.
    """

    def __init__(self, region: str = "", public_holidays: Container[date] = frozenset()) -> None:
        """`region` names the holidays (`AU-NSW`) for people; `public_holidays` holds them."""
        self.region = region
        self._holidays = public_holidays
        self._span: tuple[list[date], date, date] = ([], date.min, date.min)
        self._shift = lru_cache(maxsize=65_536)(self._shift_uncached)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.region!r})"

    def is_business_day(self, day: date) -> bool:
        """Monday to Friday and not a public holiday."""
        return day.weekday() < 5 and day not in self._holidays

    def shift(self, day: date, duration: Duration, sign: int) -> date:
        """`day` moved forward (`sign` 1) or back (-1) by `duration`.

        A move past the first or last date Python has stops there (Wisenet uses 9999-12-31 as
        "no end"): such a date is compared as the earliest or latest date, never an error.
        """
        if duration.count == 0:
            return day
        try:
            found: date = self._shift(day, duration, sign)
        except (OverflowError, ValueError):
            return date.max if sign > 0 else date.min
        return found

    def _shift_uncached(self, day: date, duration: Duration, sign: int) -> date:
        count = duration.count * sign
        if duration.unit is Unit.DAYS:
            return day + timedelta(days=count)
        if duration.unit is Unit.WEEKS:
            return day + timedelta(weeks=count)
        if duration.unit is Unit.MONTHS:
            return add_months(day, count)
        margin = duration.count * 2 + 31  # N business days lie within 7N/5 days and the holidays
        while True:
            low, high = _moved(day, -margin), _moved(day, margin)
            days = self._cover(low, high)
            if sign > 0:
                index = bisect_right(days, day) + duration.count - 1
            else:
                index = bisect_left(days, day) - duration.count
            if 0 <= index < len(days):
                return days[index]
            if (sign > 0 and high == date.max) or (sign < 0 and low == date.min):
                raise OverflowError("no such business day")
            margin *= 2  # more holidays than any real calendar has

    def _cover(self, low: date, high: date) -> list[date]:
        """The business days from `low` to `high` at least (a list never changed once made)."""
        days, known_low, known_high = self._span
        if days and known_low <= low and high <= known_high:
            return days
        if days:
            low, high = min(low, known_low), max(high, known_high)
        span = (high - low).days
        days = [
            day
            for day in (low + timedelta(days=offset) for offset in range(span + 1))
            if self.is_business_day(day)
        ]
        self._span = (days, low, high)  # one assignment: a reader sees the old span or the new
        return days


def _moved(day: date, days: int) -> date:
    """`day` plus `days`, held within the dates Python has."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


WEEKENDS_ONLY = BusinessCalendar("weekends only")


def add_months(day: date, months: int) -> date:
    """`day` moved by calendar months, on the month's last day where the day does not exist."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return day.replace(year=year, month=month + 1, day=min(day.day, monthrange(year, month + 1)[1]))
