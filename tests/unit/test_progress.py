"""Listing progress: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from jobs.progress import ListingProgress


def test_off_a_terminal_each_page_is_one_plain_line() -> None:
    """Logs and pipes get one line per page, with the running count."""
    out = io.StringIO()
    progress = ListingProgress(out)
    progress("Learner", 1000)
    progress("Learner", 1500)
    progress.close()
    assert out.getvalue() == "Learner: 1000 records read\nLearner: 1500 records read\n"


def test_on_a_terminal_each_listing_gets_one_bar_with_its_count() -> None:
    """The bar of a listing moves to the running count; a new listing starts its own bar."""
    out = io.StringIO()
    progress = ListingProgress(out, terminal=True)
    progress("Learner", 1000)
    progress("Learner", 1500)
    progress("Checklist", 200)
    assert progress.bars["Learner"].n == 1500
    assert progress.bars["Checklist"].n == 200
    progress.close()
    drawn = out.getvalue()
    assert "Learner: " in drawn
    assert "1500 records" in drawn
