"""Audiences: named groups of course enrolments a rule may be limited to.

An enrolment is in an audience when its course code matches one of `courses`, its offer code one
of `course_offers`, or it matches `when`. Codes compare trimmed and case-insensitively; `*` (any
run of characters) and `?` (one character) are wildcards, as in `HLTAID*`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase

from mappings.catalogue import normalise


def code_matcher(patterns: Iterable[str] | None) -> Callable[[str | None], bool]:
    """A test of one code against these codes or patterns (never true for a missing code)."""
    folded = tuple(normalise(p) for p in patterns or ())

    def matches(code: str | None) -> bool:
        if code is None or not folded:
            return False
        wanted = normalise(code)
        return any(fnmatchcase(wanted, pattern) for pattern in folded)

    return matches


def is_pattern(code: str) -> bool:
    """Whether a code is a pattern rather than one literal code."""
    return any(char in code for char in "*?[")
