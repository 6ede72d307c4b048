"""The closing summary table: stages in lifecycle order, flags by kind, writes, budget."""

from __future__ import annotations

from collections import Counter

from jobs.cli.status import write_backlog_line
from jobs.cli.summary import StoreFacts, flags_by_kind, stage_order, summary_lines, write_split
from jobs.pipeline.context import PlannedWrite, SyncReport
from jobs.service.job_runner import counts

STAGES = ("Sales", "Progression", "Completion", "Reconnect")


def facts(**changes: object) -> StoreFacts:
    """Facts of a store after a first run, with `changes`."""
    values: dict[str, object] = {
        "stages": STAGES,
        "learners_by_stage": {"Reconnect": 71, "Completion": 49, "none": 12, "Sales": 43},
        "flags_raised": {"missing-usi": 40, "usi-unverified": 28, "certificate-overdue": 88},
        "flag_kinds": {
            "missing-usi": "missing_data",
            "usi-unverified": "missing_data",
            "certificate-overdue": "overdue",
        },
        "writes_waiting": 0,
        "writes_blocked": 0,
        "requests_used": 154,
        "requests_quota": 1000,
    }
    return StoreFacts(**(values | changes))  # type: ignore[arg-type]


def test_the_table_lists_stages_in_lifecycle_order_with_placements_and_changes_apart() -> None:
    """One row per stage of the mapping in its order, then no stage; counts right-aligned."""
    report = SyncReport(
        writes_done=126,
        writes_skipped=2,
        writes_failed=1,
        learner_placements=Counter({"Sales": 40, "Completion": 49}),
        learner_changes=Counter({"Sales": 3}),
    )
    assert summary_lines(report, facts(writes_waiting=5, flags_raised={})) == [
        "stage        learners  first placed  changed",
        "Sales              43            40        3",
        "Progression         0             0        0",
        "Completion         49            49        0",
        "Reconnect          71             0        0",
        "none               12             0        0",
        "flags: missing data 0, overdue 0, other 0",
        "writes: 126 done, 2 skipped, 5 queued (waiting for the budget), 0 blocked, 1 failed",
        "requests: 154 of the day's 1000 spent",
    ]


def test_flags_are_summed_by_their_kind_in_the_mapping() -> None:
    """Missing data and overdue by the mapping's kinds; a flag of another or no kind is other."""
    raised = {"missing-usi": 40, "certificate-overdue": 88, "reconnect-eligible": 7, "gone": 1}
    kinds = {"missing-usi": "missing_data", "certificate-overdue": "overdue", "x": "other"}
    assert flags_by_kind(raised, kinds) == {"missing data": 40, "overdue": 88, "other": 8}


def test_stages_the_mapping_does_not_list_come_after_its_own_and_before_no_stage() -> None:
    """A stage found in the store but not in the mapping's list is still shown."""
    assert stage_order(STAGES, ["none", "Legacy", "Sales", "Archive"]) == [
        *STAGES,
        "Archive",
        "Legacy",
        "none",
    ]


def test_blocked_writes_are_counted_apart_from_those_waiting_for_the_budget() -> None:
    """Of the writes left in the outbox, the blocked ones are not waiting for the budget."""
    assert write_split(10, 4) == (6, 4)
    assert write_split(3, 0) == (3, 0)
    assert write_split(2, 5) == (0, 2)
    assert (
        "writes: 0 done, 0 skipped, 6 queued (waiting for the budget), 4 blocked, 0 failed"
        in summary_lines(SyncReport(), facts(writes_waiting=10, writes_blocked=4))
    )


def test_a_dry_run_says_its_writes_are_planned_not_queued() -> None:
    """A dry run's writes are its plan's: planned or blocked as its lines list them."""
    plan = [
        PlannedWrite(1, 11, ["certified"], [], blocked="certified", fix="adopt it"),
        PlannedWrite(2, 12, ["missing-usi"], []),
        PlannedWrite(3, 13, [], ["missing-usi"]),
    ]
    assert (
        "writes: 0 done, 0 skipped, 2 planned (dry run: none sent), 1 blocked, 0 failed"
        in summary_lines(SyncReport(plan=plan), facts(writes_waiting=0))
    )


def test_status_splits_the_writes_waiting_as_the_summary_does() -> None:
    """`status` counts writes queued for the budget apart from those blocked, summed by tag."""
    facts: dict[str, object] = {"outbox": 12, "write_eta": "about 1 minute(s)", "blocked": []}
    assert write_backlog_line(facts) == (
        "writes waiting: 12 queued for the budget (done in about 1 minute(s)), 0 blocked"
    )
    assert write_backlog_line(facts | {"outbox": 0, "write_eta": "none"}) == (
        "writes waiting: 0 queued for the budget, 0 blocked"
    )
    blocked = [{"tag": "certified", "writes": 5}, {"tag": "reconnect-eligible", "writes": 2}]
    assert write_backlog_line(facts | {"blocked": blocked}) == (
        "writes waiting: 12 queued for the budget (done in about 1 minute(s)), 7 blocked"
    )


def test_a_runs_detail_counts_learners_and_enrolments_apart_as_the_summary_does() -> None:
    """`status`'s last-run line must not add enrolments to the learners the table counts."""
    report = SyncReport(
        learners_evaluated=300,
        first_placements=718,
        stage_changes=3,
        learner_placements=Counter({"Sales": 43, "Progression": 245}),
        learner_changes=Counter({"Completion": 1}),
    )
    detail = counts(report)
    assert (detail["learners_placed"], detail["enrolments_placed"]) == (288, 430)
    assert (detail["learners_changed"], detail["enrolments_changed"]) == (1, 2)
    assert "first_placements" not in detail
