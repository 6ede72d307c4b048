"""Run progress: a bar per phase on a terminal, plain lines for reads elsewhere."""

from __future__ import annotations

import io

from structlog.testing import capture_logs

from jobs.cli.progress import RunProgress


def test_off_a_terminal_each_page_is_one_log_event_and_no_plain_line() -> None:
    """Logs and pipes get one `listing.progress` event per page, with the running count.

    Nothing else is written: stderr stays one JSON object a line for log consumers.
    """
    out = io.StringIO()
    progress = RunProgress(out)
    with capture_logs() as logged:
        progress("Learner", 1000)
        progress("Learner", 1500)
        progress.close()
    assert out.getvalue() == ""
    assert logged == [
        {"event": "listing.progress", "log_level": "info", "entity": "Learner", "records_read": n}
        for n in (1000, 1500)
    ]


def test_on_a_terminal_each_listing_gets_one_bar_with_its_count() -> None:
    """The bar of a listing moves to the running count; a new listing starts its own bar."""
    out = io.StringIO()
    progress = RunProgress(out, terminal=True)
    progress("Learner", 1000)
    progress("Learner", 1500)
    progress("Checklist", 200)
    assert progress.bars["Learner"].n == 1500
    assert progress.bars["Checklist"].n == 200
    progress.close()
    drawn = out.getvalue()
    assert "Learner: " in drawn
    assert "1500 records" in drawn


def test_off_a_terminal_deciding_and_writing_print_nothing() -> None:
    """The JSON log carries those phases; no line per batch or write."""
    out = io.StringIO()
    progress = RunProgress(out)
    progress.decided(200, 300)
    progress.written(5, 126)
    progress.close()
    assert out.getvalue() == ""


def test_on_a_terminal_deciding_and_writing_get_a_bar_with_their_totals() -> None:
    """Learners decided of those to decide, writes handled of those queued.

    A new phase's bar finishes the one before; a listing read again while writing leaves it be.
    """
    out = io.StringIO()
    progress = RunProgress(out, terminal=True)
    progress("CourseEnrolment", 430)
    progress.decided(200, 300)
    progress.decided(300, 300)
    progress.written(5, 126)
    progress("CourseEnrolment", 12)
    progress.written(130, 130)  # decided again while writing: more writes queued
    progress.close()
    decide, write = progress.bars["decide"], progress.bars["write"]
    assert (decide.n, decide.total) == (300, 300)
    assert (write.n, write.total) == (130, 130)
    assert progress.bars["CourseEnrolment"].n == 430
    drawn = out.getvalue()
    assert "300/300" in drawn
    assert "130/130" in drawn
