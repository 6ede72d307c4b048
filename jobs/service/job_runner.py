"""Jobs run one at a time in this process, each under its lock in the store, its run recorded.

Every job takes its lock in the store, so a CLI `sync` beside the service says so instead of
racing it; the lock's lease is renewed while the job runs and ends by itself if the process dies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import ConnectorError, JobBusyError, NotLeaderError
from connector.metrics import ConnectorMetrics
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.inbox import drain_inbox, unannounced_changes
from jobs.pipeline.poll import AUDIT
from jobs.pipeline.runs import sync
from jobs.pipeline.write_back import write_back
from jobs.service.admin import ServiceState

log = structlog.get_logger(__name__)
LOCK_TTL = timedelta(minutes=2)  # renewed every LOCK_RENEW while the job runs
LOCK_RENEW_SECONDS = 30
Job = Callable[[SyncContext], Awaitable[SyncReport]]


@asynccontextmanager
async def job_lock(ctx: SyncContext, name: str, owner: str) -> AsyncIterator[None]:
    """Hold a job's lock for the duration of the job (raises JobBusyError if taken).

    With the lock taken, the leases of gone owners (and this owner's own, left by a job cut
    short) are taken over, so the job works every row nobody live is working.
    """
    await ctx.store.locks.acquire(name, owner, LOCK_TTL)

    async def renew() -> None:
        while True:
            await asyncio.sleep(LOCK_RENEW_SECONDS)
            await ctx.store.locks.acquire(name, owner, LOCK_TTL)

    heartbeat = asyncio.get_running_loop().create_task(renew())
    try:
        taken = await ctx.store.locks.take_over(owner)
        if any(taken.values()):
            log.info("leases.taken_over", job=name, **taken)
        yield
    finally:
        await stop_task(heartbeat)
        try:
            await ctx.store.locks.release(name, owner)
        except (SQLAlchemyError, OSError) as exc:
            # Raised here it would replace the job's own outcome, a cancellation included;
            # the lock's lease ends by itself within LOCK_TTL.
            log.warning("job.lock_not_released", job=name, error=type(exc).__name__)


async def stop_task(task: asyncio.Task[Any], every: float = 1.0) -> None:
    """Cancel `task` and wait for its end, cancelling again while it carries on.

    One cancellation is not always enough: a `finally` whose own await fails (the database is
    gone) replaces the CancelledError with its error, which a loop may catch and go on.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled():
        task.exception()  # retrieved: its outcome is no longer wanted


def counts(report: SyncReport) -> dict[str, int]:
    """A report's counts, as a run's detail (stage moves of learners and enrolments apart)."""
    learners_placed = sum(report.learner_placements.values())
    learners_changed = sum(report.learner_changes.values())
    return {
        "learners": report.learners_evaluated,
        "learners_placed": learners_placed,
        "enrolments_placed": report.first_placements - learners_placed,
        "learners_changed": learners_changed,
        "enrolments_changed": report.stage_changes - learners_changed,
        "writes_done": report.writes_done,
        "writes_failed": report.writes_failed,
        "writes_blocked": report.writes_blocked,
        "writes_planned": report.writes_planned,
    }


async def run_job(
    ctx: SyncContext,
    name: str,
    job: Job,
    owner: str,
    *,
    lock: str | None = None,
    record: bool = True,
) -> SyncReport:
    """Run a job under its lock (its own name unless shared) and record the run (counts only).

    Frequent small jobs (inbox drains) are not recorded: their counts go to the metrics.
    """
    async with job_lock(ctx, lock or name, owner):
        if not record:
            return await job(ctx)
        run_id = await ctx.store.runs.start(name)
        try:
            report = await job(ctx)
        except ConnectorError as exc:
            await ctx.store.runs.finish(run_id, "failed", {"error": str(exc)[:200]})
            raise
        await ctx.store.runs.finish(run_id, "done", counts(report))
        return report


async def write_only(ctx: SyncContext) -> SyncReport:
    """Drain the outbox (postponed and backlog writes)."""
    report = SyncReport()
    await write_back(ctx, report, recheck_blocked=False)  # every minute: no tag read for blocks
    return report


@dataclass
class JobRunner:
    """Runs jobs one at a time in this process, under their store locks, with metrics."""

    ctx: SyncContext
    owner: str
    metrics: ConnectorMetrics
    state: ServiceState
    serial: asyncio.Lock = field(default_factory=asyncio.Lock)
    running: asyncio.Task[Any] | None = None
    abandoning: bool = False

    async def guarded(
        self, name: str, job: Job, lock: str | None = None, *, record: bool = True
    ) -> SyncReport | None:
        """Run one job; a busy lock or a failure is logged, never raised."""
        async with self.serial:
            started = self.ctx.store.clock.monotonic()
            self.running = asyncio.current_task()
            try:
                report = await run_job(self.ctx, name, job, self.owner, lock=lock, record=record)
            except asyncio.CancelledError:
                if not self.abandoning:
                    raise
                log.warning("job.abandoned", job=name, reason="the scheduler lock was lost")
                return None
            except JobBusyError:
                log.warning("job.skipped", job=name, reason="another process runs it")
                return None
            except NotLeaderError:
                log.warning("job.stopped", job=name, reason="the scheduler lock was lost")
                return None
            except ConnectorError as exc:
                # The message names endpoints and settings only; no traceback with values.
                log.error("job.failed", job=name, error=str(exc))  # noqa: TRY400
                self.state.wisenet_error = f"{name}: {exc}"[:300]
                return None
            except (SQLAlchemyError, OSError) as exc:
                # The store went away mid-job: the next job (or leader) takes its leases over.
                failure = f"the store failed ({type(exc).__name__})"
                log.error("job.failed", job=name, error=failure)  # noqa: TRY400
                return None
            finally:
                self.running = None
                elapsed = self.ctx.store.clock.monotonic() - started
                self.metrics.job_duration.labels(name).observe(elapsed)
        self.state.wisenet_error = None
        for outcome in ("done", "skipped", "failed"):
            self.metrics.writes.labels(outcome).inc(getattr(report, f"writes_{outcome}"))
        for (entity, strategy), count in report.reads.items():
            self.metrics.reads.labels(entity, strategy).inc(count)
        if record or report.learners_evaluated or report.writes_handled:
            log.info(
                "job.done",
                job=name,
                learners=report.learners_evaluated,
                writes=report.writes_done,
                failed=report.writes_failed,
            )
        return report

    async def abandon(self) -> None:
        """Stop the job in progress now: another replica may be taking over."""
        task = self.running
        if task is None or task is asyncio.current_task():
            return
        self.abandoning = True
        try:
            await stop_task(task)
        finally:
            self.abandoning = False

    async def finish(self, grace: float) -> None:
        """Let the job in progress end by itself within `grace` seconds, then stop it."""
        try:
            async with asyncio.timeout(grace), self.serial:
                pass
        except TimeoutError:
            log.warning("service.stop_timeout", waited_s=grace)
            await self.abandon()

    async def sync_watching_webhooks(self, ctx: SyncContext) -> SyncReport:
        """The scheduled sync, counting the changes it finds that no delivery announced."""
        first_read = await ctx.store.cursors.high_water(AUDIT) is None
        began = ctx.store.clock.now()
        report = await sync(ctx, SyncReport(changed_ids=None if first_read else {}))
        changed = report.changed_ids
        if changed:
            window = self.state.webhook_silence + ctx.overlap
            found = await unannounced_changes(ctx, changed, began - window)
            for entity, count in found.items():
                self.metrics.unannounced_changes.labels(entity).inc(count)
            self.state.last_unannounced = sum(found.values())
        return report

    async def drain(self, ctx: SyncContext) -> SyncReport:
        """Process the webhook inbox, counting what became of each delivery."""
        report = await drain_inbox(ctx, self.owner)
        for outcome, count in report.events.items():
            self.metrics.inbox_events.labels(outcome).inc(count)
        return report
