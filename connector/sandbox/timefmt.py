"""Wisenet's timestamp text as the server writes it: local, no offset, trimmed fraction."""

from __future__ import annotations

import re
from datetime import date, datetime

_FILTER_VALUE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$"
)


def format_local(moment: datetime | None) -> str | None:
    """`2025-03-14T09:21:37.52`: milliseconds with trailing zeros trimmed, none when whole."""
    if moment is None:
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    if millis:
        text += "." + f"{millis:03d}".rstrip("0")
    return text


def format_date(day: date | None) -> str | None:
    """A date-only field, sent as midnight."""
    return None if day is None else f"{day.isoformat()}T00:00:00"


def parse_local(text: str) -> datetime:
    """Read a filter value (`YYYY-MM-DD[THH:MM[:SS[.fff]]]`) as a naive local time."""
    match = _FILTER_VALUE.match(text.strip())
    if match is None:
        raise ValueError("not a date-time")
    year, month, day, hour, minute, second, frac = match.groups()
    micro = int((frac or "").ljust(6, "0")[:6])
    return datetime(  # noqa: DTZ001 - Wisenet's local wall time carries no zone
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
    )
