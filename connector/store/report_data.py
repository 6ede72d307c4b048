"""What the admin report shows, read from the store: counts, durations and ages only.

Time in a stage comes from the stage history: an interval starts when a learner is seen moving
into the stage and ends when they are seen leaving it. The first observation of a learner says
nothing about when that stage began (the connector was not watching), so it is left out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

from sqlalchemy import func, select

from connector.store.database import Database
from connector.store.decisions import Decisions
from connector.store.schema import budget, flags, runs, stage_history
from connector.store.sql import aware

OVERDUE_BUCKETS = (
    (7, "0-7 days"),
    (30, "8-30 days"),
    (90, "31-90 days"),
    (None, "over 90 days"),
)


@dataclass(frozen=True)
class StageTime:
    """How long learners stayed in a stage they were seen entering and leaving."""

    stage: str
    intervals: int
    median_days: float
    p90_days: float


@dataclass(frozen=True)
class FlagCount:
    """One flag and how many subjects have it raised."""

    flag: str
    count: int


@dataclass(frozen=True)
class RunLine:
    """One recent job run (counts only)."""

    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    detail: dict[str, object]


@dataclass
class ReportData:
    """Everything the report page draws."""

    generated_at: datetime
    learners_by_stage: dict[str, int]
    stage_times: list[StageTime]
    flags: list[FlagCount]
    runs: list[RunLine] = field(default_factory=list)
    budget_days: list[tuple[date, int]] = field(default_factory=list)


class Report:
    """The admin report's figures, read from the decisions, run log and budget tables."""

    def __init__(self, db: Database, decisions: Decisions) -> None:
        self._db = db
        self._decisions = decisions

    async def data(self, *, runs_shown: int = 12, days_shown: int = 14) -> ReportData:
        """Read the report's figures from the store (no call to Wisenet)."""
        now = self._db.clock.now()
        counts = await self._decisions.summary()
        async with self._db.connect() as conn:
            history = await conn.execute(
                select(
                    stage_history.c.subject_id,
                    stage_history.c.from_stage,
                    stage_history.c.to_stage,
                    stage_history.c.observed_at,
                )
                .where(stage_history.c.subject == "learner")
                .order_by(stage_history.c.subject_id, stage_history.c.id)
            )
            times = _stage_times([(r[0], r[1], r[2], aware(r[3])) for r in history])
            raised = await conn.execute(
                select(flags.c.flag, func.count()).group_by(flags.c.flag).order_by(flags.c.flag)
            )
            counted = [FlagCount(str(flag), int(count)) for flag, count in raised]
            recent = await conn.execute(select(runs).order_by(runs.c.id.desc()).limit(runs_shown))
            lines = [
                RunLine(
                    row.job,
                    aware(row.started_at),
                    aware(row.finished_at) if row.finished_at else None,
                    row.outcome,
                    dict(row.detail or {}),
                )
                for row in recent
            ]
            used = await conn.execute(
                select(budget.c.day, func.max(budget.c.used))
                .group_by(budget.c.day)
                .order_by(budget.c.day.desc())
                .limit(days_shown)
            )
            days = sorted((row[0], int(row[1])) for row in used)
        return ReportData(now, counts["stages"], times, counted, lines, days)


def _stage_times(rows: list[tuple[int, str | None, str | None, datetime]]) -> list[StageTime]:
    """Durations of the stages seen beginning and ending, per stage."""
    durations: dict[str, list[float]] = {}
    for entered, left in pairwise(rows):
        subject, previous, stage, began = entered
        if left[0] != subject or stage is None or previous is None:
            continue  # another learner, no stage, or the first observation (start unknown)
        durations.setdefault(stage, []).append((left[3] - began).total_seconds() / 86400)
    return [
        StageTime(stage, len(values), statistics.median(values), _p90(values))
        for stage, values in sorted(durations.items())
    ]


def _p90(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def overdue_bucket(days_overdue: int) -> str:
    """The bucket of days past due an overdue item falls in."""
    return next(name for limit, name in OVERDUE_BUCKETS if limit is None or days_overdue <= limit)
