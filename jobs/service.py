"""`connector run`: the scheduled service (poll and sync, daily sweep, writer).

APScheduler 3 (`AsyncIOScheduler`) runs the jobs with `coalesce=True`, one instance at a time.
Every job takes its lock in the store, so a CLI `sync` beside the service says so instead of
racing it; inside one process the jobs also run one after another. SIGTERM and SIGINT stop the
service after the running job finishes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.clock import Clock
from connector.errors import ConnectorError
from connector.store.store import (
    JobBusyError,
    acquire_lock,
    finish_run,
    release_lock,
    start_run,
)
from jobs.bootstrap import sync_context
from jobs.settings import Settings
from jobs.sync import SyncContext, SyncReport, reconcile, sweep, sync, write_back

log = structlog.get_logger(__name__)
LOCK_TTL = timedelta(minutes=2)  # renewed every LOCK_RENEW while the job runs
LOCK_RENEW_SECONDS = 30
STOP_GRACE_SECONDS = 30
Job = Callable[[SyncContext], Awaitable[SyncReport]]


def process_owner() -> str:
    """Who holds a lock: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@asynccontextmanager
async def job_lock(ctx: SyncContext, name: str, owner: str) -> AsyncIterator[None]:
    """Hold a job's lock for the duration of the job (raises JobBusyError if taken)."""
    await acquire_lock(ctx.store, name, owner, LOCK_TTL)

    async def renew() -> None:
        while True:
            await asyncio.sleep(LOCK_RENEW_SECONDS)
            await acquire_lock(ctx.store, name, owner, LOCK_TTL)

    heartbeat = asyncio.get_running_loop().create_task(renew())
    try:
        yield
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        await release_lock(ctx.store, name, owner)


def counts(report: SyncReport) -> dict[str, int]:
    """A report's counts, as a run's detail."""
    return {
        "learners": report.learners_evaluated,
        "stage_changes": report.stage_changes,
        "writes_done": report.writes_done,
        "writes_failed": report.writes_failed,
        "writes_planned": report.writes_planned,
    }


async def run_job(
    ctx: SyncContext, name: str, job: Job, owner: str, *, lock: str | None = None
) -> SyncReport:
    """Run a job under its lock (its own name unless shared) and record the run (counts only)."""
    async with job_lock(ctx, lock or name, owner):
        run_id = await start_run(ctx.store, name)
        try:
            report = await job(ctx)
        except ConnectorError as exc:
            await finish_run(ctx.store, run_id, "failed", {"error": str(exc)[:200]})
            raise
        await finish_run(ctx.store, run_id, "done", counts(report))
        return report


async def write_only(ctx: SyncContext) -> SyncReport:
    """Drain the outbox (postponed and backlog writes)."""
    report = SyncReport()
    await write_back(ctx, report)
    return report


async def run_service(settings: Settings, clock: Clock, stop: asyncio.Event) -> None:
    """Schedule the jobs and run until `stop` is set."""
    async with sync_context(settings, clock) as ctx:
        owner = process_owner()
        serial = asyncio.Lock()

        async def guarded(name: str, job: Job, lock: str | None = None) -> None:
            async with serial:
                try:
                    report = await run_job(ctx, name, job, owner, lock=lock)
                except JobBusyError:
                    log.warning("job.skipped", job=name, reason="another process runs it")
                    return
                except ConnectorError as exc:
                    # The message names endpoints and settings only; no traceback with values.
                    log.error("job.failed", job=name, error=str(exc))  # noqa: TRY400
                    return
                log.info(
                    "job.done",
                    job=name,
                    learners=report.learners_evaluated,
                    writes=report.writes_done,
                    failed=report.writes_failed,
                )

        tz = settings.timezone
        interval = settings.effective_poll_interval.total_seconds()
        scheduler = AsyncIOScheduler(timezone=tz)
        common = {"coalesce": True, "max_instances": 1}
        scheduler.add_job(
            guarded,
            IntervalTrigger(seconds=interval, timezone=tz),
            args=["sync", sync],
            next_run_time=datetime.now(tz),
            misfire_grace_time=int(interval),
            **common,
        )
        scheduler.add_job(
            guarded,
            CronTrigger(hour=settings.sweep_at.hour, minute=settings.sweep_at.minute, timezone=tz),
            args=["sweep", sweep],
            misfire_grace_time=3600,
            **common,
        )
        scheduler.add_job(
            guarded,
            CronTrigger.from_crontab(settings.reconcile_cron, timezone=tz),
            args=["reconcile", reconcile, "sync"],  # it polls: never beside a sync
            misfire_grace_time=6 * 3600,
            **common,
        )
        scheduler.add_job(
            guarded,
            IntervalTrigger(minutes=1, timezone=tz),
            args=["write", write_only],
            misfire_grace_time=60,
            **common,
        )
        scheduler.start()
        log.info(
            "service.started",
            poll_interval_s=int(interval),
            sweep_at=settings.sweep_at.isoformat(timespec="minutes"),
            reconcile_cron=settings.reconcile_cron,
        )
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS), serial:
                    pass
            except TimeoutError:
                log.warning("service.stop_timeout", waited_s=STOP_GRACE_SECONDS)
            log.info("service.stopped")
