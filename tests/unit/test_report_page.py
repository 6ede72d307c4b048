"""The report's figures and page, from known data: durations, ages, escaping, no external refs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from connector.store.report_data import FlagAges, ReportData, RunLine, _flag_ages, _stage_times
from jobs.report_page import render_report

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    """`n` days after T0."""
    return T0 + timedelta(days=n)


def test_stage_time_leaves_out_the_first_observation_and_open_intervals() -> None:
    """Only stages seen beginning and ending count: median and 90th percentile in days."""
    rows = [
        # learner 1: first seen in Sales (start unknown), Progression for 10 days, then Completion
        (1, None, "Sales", day(0)),
        (1, "Sales", "Progression", day(5)),
        (1, "Progression", "Completion", day(15)),
        # learner 2: Progression for 20 days, then Completion for 30, still in Reconnect
        (2, None, "Sales", day(0)),
        (2, "Sales", "Progression", day(1)),
        (2, "Progression", "Completion", day(21)),
        (2, "Completion", "Reconnect", day(51)),
        # learner 3: Progression for 40 days
        (3, None, "Enquiry", day(0)),
        (3, "Enquiry", "Progression", day(2)),
        (3, "Progression", None, day(42)),
    ]
    times = {t.stage: t for t in _stage_times(rows)}
    assert set(times) == {"Progression", "Completion"}
    assert (times["Progression"].intervals, times["Progression"].median_days) == (3, 20.0)
    assert times["Progression"].p90_days == 36.0  # 20 + 0.8 * (40 - 20)
    assert (times["Completion"].intervals, times["Completion"].median_days) == (1, 30.0)
    assert times["Completion"].p90_days == 30.0


def test_flag_ages_fall_into_their_buckets() -> None:
    """Ages are counted from when a flag was first raised."""
    now = day(100)
    rows = [("certificate-overdue", day(100 - d)) for d in (0, 7, 8, 30, 31, 90, 91, 400)]
    (only,) = _flag_ages(rows, now)
    assert only.count == 8
    assert only.by_age == {"0-7 days": 2, "8-30 days": 2, "31-90 days": 2, "over 90 days": 2}


def sample() -> ReportData:
    """A small report with every section filled."""
    return ReportData(
        generated_at=day(100),
        learners_by_stage={"Completion": 40, "Sales": 120, "Progression": 80, "closed": 3},
        stage_times=_stage_times(
            [
                (1, None, "Sales", day(0)),
                (1, "Sales", "Progression", day(3)),
                (1, "Progression", "Completion", day(13)),
            ]
        ),
        flags=[
            FlagAges(
                "certificate-overdue",
                5,
                {"0-7 days": 1, "8-30 days": 4, "31-90 days": 0, "over 90 days": 0},
            ),
            FlagAges(
                "missing-usi",
                7,
                {"0-7 days": 7, "8-30 days": 0, "31-90 days": 0, "over 90 days": 0},
            ),
            FlagAges(
                "<script>", 1, {"0-7 days": 1, "8-30 days": 0, "31-90 days": 0, "over 90 days": 0}
            ),
        ],
        runs=[RunLine("sync", day(99), day(99), "done", {"learners": 243})],
        budget_days=[(date(2026, 4, 10), 250)],
    )


def test_the_page_is_self_contained_ordered_and_escaped() -> None:
    """No external reference; the funnel in lifecycle order; store text escaped."""
    page = render_report(
        sample(), {"certificate-overdue": "overdue", "missing-usi": "missing_data"}, 1000
    )
    assert not re.search(r"(src|href)\s*=", page)
    assert "<script" not in page.lower().replace("&lt;script&gt;", "")
    assert "@import" not in page
    assert "url(" not in page
    stages = re.findall(r'data-stage="([^"]+)" data-count="(\d+)"', page)
    assert stages == [
        ("Sales", "120"),
        ("Progression", "80"),
        ("Completion", "40"),
        ("closed", "3"),
    ]
    assert "holds personal data" in page
    assert "&lt;script&gt;" in page  # an odd flag name is shown, not run
    assert "25%" in page  # 250 of the 1,000 requests
