"""The report's figures and page, from known data: durations, lateness, escaping, no links."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.store.report_data import (
    FlagCount,
    ReportData,
    RunLine,
    _stage_times,
    overdue_bucket,
)
from connector.store.worklist import WorkItem
from jobs.reports.report_page import PageFacts, render_report, run_in_words

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


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "0-7 days"),
        (7, "0-7 days"),
        (8, "8-30 days"),
        (30, "8-30 days"),
        (31, "31-90 days"),
        (90, "31-90 days"),
        (91, "over 90 days"),
    ],
)
def test_overdue_work_falls_into_buckets_by_days_past_due(days: int, bucket: str) -> None:
    """Buckets count days past the due date, not days since the connector noticed."""
    assert overdue_bucket(days) == bucket


def item(flag: str, days: int | None, learner_id: int, kind: str = "overdue") -> WorkItem:
    """A work item on enrolment `learner_id + 1000`."""
    return WorkItem(
        flag=flag,
        kind=kind,
        subject="course_enrolment",
        id=learner_id + 1000,
        learner_id=learner_id,
        learner_number=f"L{learner_id:06d}",
        course_enrolment_id=learner_id + 1000,
        course_code="BSB40120",
        owner_id=None,
        due=None,
        days_overdue=days,
        reason="late",
    )


WORK = [
    item("certificate-overdue", 120, 1),
    item("certificate-overdue", 40, 2),
    item("certificate-overdue", 3, 3),
    item("outcome-overdue", 9, 4),
    item("missing-usi", None, 5, kind="missing_data"),
]


def facts(work: list[WorkItem] | None = None) -> PageFacts:
    """The page's facts: Sydney, 29 November, mapping 3 of account 99."""
    return PageFacts(
        kinds={"certificate-overdue": "overdue", "missing-usi": "missing_data"},
        work=WORK if work is None else work,
        zone=ZoneInfo("Australia/Sydney"),
        today=date(2026, 11, 29),
        mapping="version 3 (config/mapping.yaml)",
        account="account 99 at https://api.example",
        top=2,
    )


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
            FlagCount("certificate-overdue", 3),
            FlagCount("missing-usi", 1),
            FlagCount("<script>", 1),
        ],
        runs=[RunLine("sync", day(99), day(99), "done", {"learners": 243, "writes_done": 126})],
        budget_days=[(date(2026, 4, 10), 250)],
    )


def test_the_page_is_self_contained_ordered_and_escaped() -> None:
    """No external reference; the funnel in lifecycle order; store text escaped."""
    page = render_report(sample(), facts(), 1000)
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


def rows_of(page: str, table_id: str) -> list[list[str]]:
    """The cells of a table's body rows."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found is not None, table_id
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in found.group(1).split("</tr>")[1:-1]]


def test_overdue_work_is_bucketed_by_days_past_due_with_totals() -> None:
    """One row per overdue flag, a total row; the top of the worklist per flag."""
    page = render_report(sample(), facts(), 1000)
    assert rows_of(page, "overdue") == [
        ["certificate-overdue", "1", "0", "1", "1", "3"],
        ["outcome-overdue", "0", "1", "0", "0", "1"],
        ["all overdue work", "1", "1", "1", "1", "4"],
    ]
    top = rows_of(page, "top-overdue")
    assert [(row[0], row[1], row[2]) for row in top] == [
        ("certificate-overdue", "120", "1"),
        ("certificate-overdue", "40", "2"),
        ("outcome-overdue", "9", "4"),
    ]
    assert rows_of(page, "totals")[1:4] == [
        ["open work items (every raised flag)", "5"],
        ["overdue work", "4"],
        ["missing data", "1"],
    ]


def test_the_page_says_where_when_and_by_which_mapping_in_the_accounts_time() -> None:
    """Sydney time (AEST, daylight saving over), the account and the mapping version."""
    page = render_report(sample(), facts(), 1000)
    assert "Generated 2026-04-11 10:00 AEST for account 99 at https://api.example" in page
    assert "mapping version 3 (config/mapping.yaml)" in page
    assert rows_of(page, "runs")[0][1:] == [
        "2026-04-10 10:00 AEST",
        "done",
        "243 learners decided, 126 tags written",
    ]
    assert '<table id="missing"' not in page  # the chart alone, no duplicate table


def test_an_empty_store_says_what_none_means() -> None:
    """No overdue work, no missing data: sentences, not empty tables."""
    empty = ReportData(day(100), {}, [], [])
    page = render_report(empty, facts([]), 1000)
    assert "None: no overdue flag is raised" in page
    assert "None: no learner in scope lacks" in page
    assert "No learners decided yet" in page


def test_runs_are_said_in_words() -> None:
    """Zero counts are left out; a failed run says why."""
    assert run_in_words({"learners": 3, "writes_done": 0, "writes_failed": 2}) == (
        "3 learners decided, 2 writes failed"
    )
    assert run_in_words({"writes_done": 0}) == "nothing to do"
    assert run_in_words({"error": "store unreachable"}) == "stopped: store unreachable"
