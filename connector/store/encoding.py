"""What the store can hold: text both SQLite and PostgreSQL accept, integers in their range.

SQLite's driver encodes text as UTF-8, which a lone surrogate cannot be; PostgreSQL refuses a
NUL in text; both keep integers as signed 64 bits. A value is checked against these before its
row joins a commit shared with other rows, so that it fails alone.
"""

from __future__ import annotations

MIN_BIGINT = -(2**63)
MAX_BIGINT = 2**63 - 1


def text_problem(value: str, max_length: int) -> str | None:
    """Why `value` cannot be stored as text of at most `max_length` characters, or None."""
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def integer_problem(value: int, low: int = MIN_BIGINT, high: int = MAX_BIGINT) -> str | None:
    """Why `value` cannot be stored as an integer in `[low, high]` (64 bits at most), or None."""
    if not max(low, MIN_BIGINT) <= value <= min(high, MAX_BIGINT):
        return "is out of range"
    return None
