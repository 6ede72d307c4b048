"""The closing summary of a run, as a small table for a person at a terminal.

Learners per stage in lifecycle order (the mapping's own order of `stages`, then any other
stage, then learners with no stage), with first placements and real changes apart; flags by
kind; what became of the writes; the requests spent of the day's budget. Counts only: no ids,
no personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jobs.pipeline.context import SyncContext, SyncReport
from jobs.reports.report_page import flag_kinds

NO_STAGE = "none"
FLAG_KINDS = (("missing_data", "missing data"), ("overdue", "overdue"))
OTHER_FLAGS = "other"


@dataclass(frozen=True)
class StoreFacts:
    """What the store says after a run (counts only)."""

    stages: Sequence[str]  # the mapping's stages, in lifecycle order
    learners_by_stage: Mapping[str, int]  # "none" for learners with no stage
    flags_raised: Mapping[str, int]  # flag id: how many are raised
    flag_kinds: Mapping[str, str]  # flag id: its kind in the mapping
    writes_waiting: int  # outbox rows left (queued for the budget or blocked)
    writes_blocked: int  # of those, held by a refused tag until the mapping or Wisenet is fixed
    requests_used: int
    requests_quota: int


async def store_facts(ctx: SyncContext) -> StoreFacts:
    """Read the facts of the summary from the store (no call to Wisenet)."""
    counts = await ctx.store.decisions.summary()
    budget = await ctx.client.budget.state()
    return StoreFacts(
        stages=ctx.mapping.spec.stages,
        learners_by_stage=counts["stages"],
        flags_raised=counts["flags"],
        flag_kinds=flag_kinds(ctx.mapping.spec),
        writes_waiting=await ctx.store.outbox.size(),
        writes_blocked=sum(group.writes for group in await ctx.store.outbox.blocked()),
        requests_used=budget.used,
        requests_quota=budget.quota,
    )


def stage_order(stages: Sequence[str], found: Sequence[str]) -> list[str]:
    """The mapping's stages in order, then other stages found (sorted), then no stage."""
    others = sorted(set(found) - set(stages) - {NO_STAGE})
    return [*stages, *others, NO_STAGE]


def flags_by_kind(raised: Mapping[str, int], kinds: Mapping[str, str]) -> dict[str, int]:
    """Raised flags summed per kind: missing data, overdue, other."""
    totals = {label: 0 for _, label in FLAG_KINDS} | {OTHER_FLAGS: 0}
    labels = dict(FLAG_KINDS)
    for flag, count in raised.items():
        totals[labels.get(kinds.get(flag, ""), OTHER_FLAGS)] += count
    return totals


def write_split(waiting: int, blocked: int) -> tuple[int, int]:
    """Writes left in the outbox as (queued for the budget, blocked by configuration)."""
    blocked = min(max(blocked, 0), waiting)
    return waiting - blocked, blocked


def _aligned(row: Sequence[str], widths: Sequence[int]) -> str:
    """A row with its first cell left-aligned and the counts right-aligned."""
    counts = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
    return "  ".join([row[0].ljust(widths[0]), *counts])


def summary_lines(report: SyncReport, facts: StoreFacts) -> list[str]:
    """The summary table and its closing lines."""
    rows = [("stage", "learners", "first placed", "changed")]
    for stage in stage_order(facts.stages, list(facts.learners_by_stage)):
        rows.append(
            (
                stage,
                str(facts.learners_by_stage.get(stage, 0)),
                str(report.learner_placements.get(stage, 0)),
                str(report.learner_changes.get(stage, 0)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [_aligned(row, widths) for row in rows]
    kinds = flags_by_kind(facts.flags_raised, facts.flag_kinds)
    lines.append("flags: " + ", ".join(f"{label} {count}" for label, count in kinds.items()))
    queued, blocked = write_split(facts.writes_waiting, facts.writes_blocked)
    waiting = f"{queued} queued (waiting for the budget)"
    if report.plan is not None:  # the plan's own counts, which its lines list
        blocked = sum(1 for write in report.plan if write.blocked is not None)
        waiting = f"{len(report.plan) - blocked} planned (dry run: none sent)"
    lines.append(
        f"writes: {report.writes_done} done, {report.writes_skipped} skipped, {waiting}, "
        f"{blocked} blocked, {report.writes_failed} failed"
    )
    lines.append(f"requests: {facts.requests_used} of the day's {facts.requests_quota} spent")
    return lines
