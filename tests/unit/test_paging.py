from __future__ import annotations

import pytest

from connector.wisenet.paging import PagingError, SkipTakePager


def test_a_short_page_ends_the_listing() -> None:
    """Skip moves by the page length and a page shorter than take is the last."""
    pager = SkipTakePager(take=3)
    assert pager.params() == {"skip": "0", "take": "3"}
    pager.advance([1, 2, 3])
    assert (pager.skip, pager.done) == (3, False)
    pager.advance([4])
    assert (pager.skip, pager.done) == (4, True)


def test_an_empty_page_ends_the_listing() -> None:
    """An exactly-full last page is followed by an empty one, which ends it."""
    pager = SkipTakePager(take=2)
    pager.advance([1, 2])
    pager.advance([])
    assert pager.done


def test_a_repeated_page_is_refused() -> None:
    """A server that ignores skip would loop forever; the repeat is detected."""
    pager = SkipTakePager(take=2)
    pager.advance([1, 2])
    with pytest.raises(PagingError, match="repeats the previous page"):
        pager.advance([1, 2])


def test_a_page_longer_than_take_is_refused() -> None:
    """More records than asked for breaks the contract."""
    with pytest.raises(PagingError, match="longer than take"):
        SkipTakePager(take=2).advance([1, 2, 3])


def test_advancing_after_the_end_is_a_bug() -> None:
    """A finished pager is not reused."""
    pager = SkipTakePager(take=2)
    pager.advance([])
    with pytest.raises(PagingError, match="already finished"):
        pager.advance([])


@pytest.mark.parametrize("take", [0, -1, 1001])
def test_take_is_bounded_by_wisenets_maximum(take: int) -> None:
    """The client never asks for more than 1,000 records a page."""
    with pytest.raises(ValueError, match="take"):
        SkipTakePager(take=take)
