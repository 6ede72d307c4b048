"""The leader's schedule (sync, sweep and digest, reconcile, purge, writer) and inbox worker.

APScheduler 3 (`AsyncIOScheduler`) runs the jobs with `coalesce=True`, one instance at a time.
The receiver wakes the inbox worker as soon as a delivery is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.runs import reconcile, sweep
from jobs.reports.digest_job import DailyDigest
from jobs.service.job_runner import JobRunner, write_only
from jobs.setup.settings import Settings

log = structlog.get_logger(__name__)
INBOX_IDLE_SECONDS = 5.0  # the worker looks for deliveries this often without a wake-up
INBOX_RETRY_SECONDS = 60.0  # after a drain that had to wait


def build_scheduler(
    settings: Settings, runner: JobRunner, digest: DailyDigest | None = None
) -> AsyncIOScheduler:
    """The leader's jobs: sync, the daily sweep (then the digest), reconcile, purge, writer."""
    tz = settings.timezone
    interval = settings.effective_poll_interval.total_seconds()
    scheduler = AsyncIOScheduler(timezone=tz)
    common: dict[str, Any] = {"coalesce": True, "max_instances": 1}
    scheduler.add_job(
        runner.guarded,
        IntervalTrigger(seconds=interval, timezone=tz),
        args=["sync", runner.sync_watching_webhooks],
        id="sync",
        # The scheduler keeps real time (its triggers fire by it): "now" is its own clock's, so
        # the first sync starts at once whatever the injected clock says.
        next_run_time=datetime.now(tz),
        misfire_grace_time=int(interval),
        **common,
    )
    scheduler.add_job(
        runner.guarded,
        CronTrigger(hour=settings.sweep_at.hour, minute=settings.sweep_at.minute, timezone=tz),
        args=["sweep", sweep if digest is None else digest.after(sweep)],
        id="sweep",
        misfire_grace_time=3600,
        **common,
    )
    scheduler.add_job(
        runner.guarded,
        CronTrigger.from_crontab(settings.reconcile_cron, timezone=tz),
        args=["reconcile", reconcile, "sync"],  # it polls: never beside a sync
        id="reconcile",
        misfire_grace_time=6 * 3600,
        **common,
    )
    retention = settings.retention

    async def purge(ctx: SyncContext) -> SyncReport:
        removed = await ctx.store.runs.purge(ctx.store.clock.now() - retention)
        log.info("store.purged", **removed)
        return SyncReport()

    scheduler.add_job(
        runner.guarded,
        CronTrigger(hour=4, minute=30, timezone=tz),  # daily, before the sweep
        args=["purge", purge],
        id="purge",
        misfire_grace_time=6 * 3600,
        **common,
    )
    scheduler.add_job(
        runner.guarded,
        IntervalTrigger(minutes=1, timezone=tz),
        args=["write", write_only],
        id="write",
        misfire_grace_time=60,
        **common,
    )
    return scheduler


async def inbox_loop(
    runner: JobRunner,
    wake: asyncio.Event,
    coalesce: timedelta,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Drain the inbox when the receiver commits a delivery (or every few seconds anyway).

    A burst is drained once: from the moment the worker finds deliveries waiting it gathers
    for `coalesce` (`CONNECTOR_WEBHOOK_COALESCE`), then drains all that are pending. Deliveries
    arriving meanwhile join the drain without extending the wait, so a steady stream never
    postpones it. When a drain has to wait (no first read yet, or the budget kept for writes)
    the next try comes a minute later.
    """
    while True:
        with suppress(TimeoutError):
            async with asyncio.timeout(INBOX_IDLE_SECONDS):
                await wake.wait()
        wake.clear()
        try:
            pending = (await runner.ctx.store.inbox.state()).depth
        except (SQLAlchemyError, OSError) as exc:
            log.warning("inbox.store_unreachable", error=type(exc).__name__)
            continue
        if not pending:
            continue
        await sleep(coalesce.total_seconds())
        wake.clear()  # the deliveries that woke it meanwhile are in this drain
        report = await runner.guarded("inbox", runner.drain, "sync", record=False)
        if report is not None and report.paused:
            log.info("inbox.waiting", reason=report.paused, pending=pending)
            await asyncio.sleep(INBOX_RETRY_SECONDS)
