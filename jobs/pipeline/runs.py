"""The runs: sync (poll, decide, write back), backfill, reconcile and sweep, within the budget.

Each run makes its own `SyncReport`; a caller that wants what the run read (the ids of listings
read whole, the ids each poll found changed) passes a report asking for them.
"""

from __future__ import annotations

import structlog

from connector.errors import (
    QuotaExhaustedError,
)
from jobs.pipeline.context import PlannedWrite, SyncContext, SyncReport
from jobs.pipeline.course_offers import refresh_course_offers
from jobs.pipeline.decide import BACKLOG, RECENT, decide
from jobs.pipeline.poll import AUDIT, labels_for, poll, read_audit_log
from jobs.pipeline.tag_definitions import TagDefinitions
from jobs.pipeline.write_back import write_back

log = structlog.get_logger(__name__)


async def sync(ctx: SyncContext, report: SyncReport | None = None) -> SyncReport:
    """Poll, decide the changed learners, write back, within the day's budget.

    Polling pauses while less than the reserve is left, which keeps it for writes; the first
    full read queues its writes as the historical backlog, after recent changes. A caller that
    wants what the run read (`listed_whole`, `changed_ids`) passes a report asking for it.
    """
    report = SyncReport() if report is None else report
    state = await ctx.client.budget.state()
    if state.exhausted:
        if not await quota_is_back(ctx):
            report.paused = "poll: Wisenet says the day's quota is spent; probing hourly"
            return report
        state = await ctx.client.budget.state()  # the probe went through: spending resumed
    if state.remaining < write_reserve(state.quota):
        report.paused = "poll: the day's budget is kept for writes"
        await write_back(ctx, report)
        return report
    backfill = await ctx.store.cursors.high_water(AUDIT) is None
    try:
        changed = await poll(ctx, report)
        await refresh_course_offers(
            ctx.store, ctx.client, ctx.account_tz, report.reads, None if backfill else changed
        )
    except QuotaExhaustedError:
        report.paused = "poll: the day's budget is spent; it continues after the reset"
        return report
    await decide(ctx, changed, report, priority=BACKLOG if backfill else RECENT)
    await write_back(ctx, report)
    return report


async def backfill(ctx: SyncContext, report: SyncReport | None = None) -> SyncReport:
    """Read everything again (unchanged records are skipped by hash), then decide and write.

    Deletes since the audit cursor are taken first, since a full read cannot see them. An
    unfinished backfill (or first sync) is resumed rather than restarted.
    """
    audit = SyncReport()
    if await ctx.store.cursors.high_water(AUDIT) is not None:
        await read_audit_log(ctx, await labels_for(ctx), audit, credentials_too=False)
        await ctx.store.cursors.reset()
    result = await sync(ctx, report)
    result.deleted += audit.deleted
    result.records_changed += audit.records_changed
    return result


async def reconcile(ctx: SyncContext) -> SyncReport:
    """A backfill that also forgets what Wisenet no longer has (deletes the audit log missed).

    Only listings read whole in this run are compared; a paused or resumed listing is not, so
    nothing is forgotten on partial knowledge. Owned tags that drifted without a modification
    time are caught by the full read itself (the enrolment's tags are part of its hash).
    """
    listed: dict[str, set[int]] = {}
    report = await backfill(ctx, SyncReport(listed_whole=listed))
    if report.paused:
        return report
    touched: set[int] = set()
    for entity, ids in listed.items():
        stale = set(await ctx.store.snapshots.record_ids(entity)) - ids
        if stale:
            log.info("reconcile.forgotten", entity=entity, ids=sorted(stale)[:50], count=len(stale))
            touched |= await ctx.store.snapshots.forget(entity, stale)
            report.deleted += len(stale)
    if touched:
        await decide(ctx, touched, report, priority=BACKLOG)
        await write_back(ctx, report)
    return report


async def quota_is_back(ctx: SyncContext) -> bool:
    """While Wisenet says the quota is spent, send the hour's probe (one small request) if due.

    Whether calls may resume; nothing is sent when no probe is due.
    """
    try:
        await ctx.client.tags()
    except QuotaExhaustedError:
        return False
    return True


def write_reserve(quota: int) -> int:
    """Requests of the day kept for writes: polls and backfill stop short of them."""
    return max(10, quota // 5)


async def sweep(ctx: SyncContext) -> SyncReport:
    """Re-decide every stored learner for today (no reads), so time-driven flags appear; write.

    With `as_of` the sweep only plans: nothing is stored and nothing is sent; the writes a
    real write-back would block are planned as blocked (after the one read of the tag
    definitions that write-back would make).
    """
    report = SyncReport()
    await decide(ctx, await ctx.store.snapshots.learner_ids(), report, priority=BACKLOG)
    if ctx.as_of is None:
        await write_back(ctx, report)
    else:
        report.plan = await _refusals_applied(ctx, report.plan or [])
        report.writes_blocked = sum(1 for write in report.plan if write.blocked is not None)
    return report


async def _refusals_applied(ctx: SyncContext, planned: list[PlannedWrite]) -> list[PlannedWrite]:
    """Planned writes with those a real write-back would block marked with their tag and fix."""
    if not planned:
        return []
    definitions = TagDefinitions(ctx, [])
    await definitions.refresh_once()
    marked = []
    for write in planned:
        refused = definitions.blocking(write.add, write.remove)
        fix = None if refused is None else definitions.refusal(refused)
        marked.append(PlannedWrite.of(write, refused, fix))
    return marked
