"""Skip/take paging as a small pure state machine.

Wisenet lists have no total and no next link: the end is a short or empty page. A server that
answers the same non-empty page twice would loop forever, so that is detected and refused.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

MAX_TAKE = 1000


class PagingError(ValueError):
    """The pages break the paging contract (a page repeated, or longer than asked for)."""


@dataclass
class SkipTakePager:
    """Tracks `skip` across pages and decides when the listing is complete."""

    take: int = MAX_TAKE
    skip: int = 0
    done: bool = False
    _previous: tuple[Hashable, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.take <= MAX_TAKE:
            raise ValueError(f"take must be between 1 and {MAX_TAKE}")

    def params(self) -> dict[str, str]:
        """Query parameters for the next request."""
        return {"skip": str(self.skip), "take": str(self.take)}

    def advance(self, page_keys: Sequence[Hashable]) -> None:
        """Record a received page, identified by its records' keys, and move on."""
        if self.done:
            raise PagingError("paging already finished")
        if len(page_keys) > self.take:
            raise PagingError(f"page of {len(page_keys)} records is longer than take={self.take}")
        fingerprint = tuple(page_keys)
        if fingerprint and fingerprint == self._previous:
            raise PagingError(f"the page at skip={self.skip} repeats the previous page")
        self._previous = fingerprint
        self.skip += len(page_keys)
        self.done = len(page_keys) < self.take
