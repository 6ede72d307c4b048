"""Wisenet's timestamps: local wall-clock times with no offset and a variable-length fraction.

Responses look like `2025-03-14T09:21:37.523`, `…37.52`, `…37` or a date at midnight. They are
read in the account's timezone. Two wall-clock times need a rule because the offset is missing:

- an **ambiguous** time (the hour repeated when daylight saving ends) is read as its *first*
  occurrence (`fold=0`), the earlier instant, so a cursor built from it re-reads rather than skips;
- a **non-existent** time (the hour skipped when daylight saving starts) is read with the offset
  in force before the change, which lands it the length of the gap later on the wall clock
  (02:30 on a Sydney spring-forward day is 03:30 AEDT).

A trailing `Z` or `±HH:MM` is honoured if Wisenet ever sends one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d{1,7}))?)?)?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)


class TimestampFormatError(ValueError):
    """A value is not a Wisenet timestamp; the message shows the offending text's shape only."""


def parse_timestamp(raw: str, account_tz: tzinfo) -> datetime:
    """Parse a Wisenet timestamp into an aware datetime in `account_tz`.

    Fractions of 0 to 7 digits are accepted; the seventh digit (100 ns) is dropped.
    """
    wall, offset = _parse_wall(raw)
    zone = account_tz if offset is None else _parse_offset(offset)
    moment = wall.replace(tzinfo=zone, fold=0)
    # Round-tripping through UTC normalises a non-existent wall time to the real one.
    return moment.astimezone(UTC).astimezone(account_tz)


def parse_date(raw: str) -> date:
    """Return the calendar date of a date-only field (sent as midnight); the time is ignored."""
    wall, _ = _parse_wall(raw)
    return wall.date()


def _parse_wall(raw: str) -> tuple[datetime, str | None]:
    """Split a timestamp into its wall-clock time (no zone yet) and its offset text, if any."""
    match = _TIMESTAMP.match(raw.strip())
    if match is None:
        raise TimestampFormatError(f"not a Wisenet timestamp ({_shape(raw)})")
    try:
        day = date.fromisoformat(match["date"])
        frac = (match["frac"] or "").ljust(6, "0")[:6]
        wall = datetime(  # noqa: DTZ001 - the zone is attached by the caller
            day.year,
            day.month,
            day.day,
            int(match["h"] or 0),
            int(match["m"] or 0),
            int(match["s"] or 0),
            int(frac),
        )
    except ValueError as exc:
        raise TimestampFormatError(f"not a valid date or time ({_shape(raw)})") from exc
    return wall, match["offset"]


def format_filter_timestamp(moment: datetime, account_tz: tzinfo) -> str:
    """Format an aware instant as a filter value: `YYYY-MM-DDTHH:MM:SS.fff` in account time."""
    if moment.tzinfo is None:
        raise ValueError("filter timestamps need an aware datetime")
    local = moment.astimezone(account_tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def format_body_timestamp(moment: datetime, account_tz: tzinfo) -> str:
    """Format an aware instant for a request body: `YYYY-MM-DDTHH:MM:SS`, account time."""
    if moment.tzinfo is None:
        raise ValueError("body timestamps need an aware datetime")
    return moment.astimezone(account_tz).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(sign * delta)


def _shape(raw: str) -> str:
    """Describe a value by length only; a malformed field might hold personal data."""
    return f"{len(raw)} characters"
