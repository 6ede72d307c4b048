"""`connector run`: receiver, admin endpoints, scheduled jobs and inbox worker in one process.

The scheduled jobs are the poll and sync, the daily sweep, the weekly reconcile, the writer and
the daily purge of data older than `CONNECTOR_RETENTION`.
APScheduler 3 (`AsyncIOScheduler`) runs the jobs with `coalesce=True`, one instance at a time.
Every job takes its lock in the store, so a CLI `sync` beside the service says so instead of
racing it; inside one process the jobs also run one after another. The receiver wakes the
inbox worker as soon as a delivery is committed. SIGTERM and SIGINT stop the service after the
running job finishes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp

from connector.clock import Clock
from connector.errors import ConfigurationError, ConnectorError
from connector.metrics import ConnectorMetrics
from connector.store.inbox import inbox_state
from connector.store.store import (
    JobBusyError,
    acquire_lock,
    finish_run,
    purge_older_than,
    release_lock,
    start_run,
)
from connector.webhooks.receiver import Receiver
from jobs.admin import Admin, ServiceState
from jobs.bootstrap import sync_context
from jobs.inbox import drain_inbox, unannounced_changes
from jobs.settings import ENV_PREFIX, Bind, Settings
from jobs.sync import AUDIT, SyncContext, SyncReport, reconcile, sweep, sync, write_back

log = structlog.get_logger(__name__)
LOCK_TTL = timedelta(minutes=2)  # renewed every LOCK_RENEW while the job runs
LOCK_RENEW_SECONDS = 30
STOP_GRACE_SECONDS = 30
INBOX_IDLE_SECONDS = 5.0  # the worker looks for deliveries this often without a wake-up
INBOX_SETTLE_SECONDS = 0.5  # deliveries arriving together are gathered into one batch
INBOX_RETRY_SECONDS = 60.0  # after a drain that had to wait
Job = Callable[[SyncContext], Awaitable[SyncReport]]


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


@dataclass
class JobRunner:
    """Runs jobs one at a time in this process, under their store locks, with metrics."""

    ctx: SyncContext
    owner: str
    metrics: ConnectorMetrics
    state: ServiceState
    serial: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def guarded(
        self, name: str, job: Job, lock: str | None = None, *, record: bool = True
    ) -> SyncReport | None:
        """Run one job; a busy lock or a failure is logged, never raised."""
        async with self.serial:
            started = self.ctx.store.clock.monotonic()
            try:
                report = await run_job(self.ctx, name, job, self.owner, lock=lock, record=record)
            except JobBusyError:
                log.warning("job.skipped", job=name, reason="another process runs it")
                return None
            except ConnectorError as exc:
                # The message names endpoints and settings only; no traceback with values.
                log.error("job.failed", job=name, error=str(exc))  # noqa: TRY400
                self.state.wisenet_error = f"{name}: {exc}"[:300]
                return None
            finally:
                elapsed = self.ctx.store.clock.monotonic() - started
                self.metrics.job_duration.labels(name).observe(elapsed)
        self.state.wisenet_error = None
        for outcome in ("done", "skipped", "failed"):
            self.metrics.writes.labels(outcome).inc(getattr(report, f"writes_{outcome}"))
        if record or report.learners_evaluated or report.writes_handled:
            log.info(
                "job.done",
                job=name,
                learners=report.learners_evaluated,
                writes=report.writes_done,
                failed=report.writes_failed,
            )
        return report

    async def sync_watching_webhooks(self, ctx: SyncContext) -> SyncReport:
        """The scheduled sync, counting the changes it finds that no delivery announced."""
        first_read = await ctx.store.cursor(AUDIT) is None
        began = ctx.store.clock.now()
        ctx.changed_records = None if first_read else {}
        try:
            report = await sync(ctx)
        finally:
            changed, ctx.changed_records = ctx.changed_records, None
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


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the service's loop: the service, not uvicorn, handles signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(bind: Bind, setting: str) -> socket.socket:
    """A listening socket for a bind setting, or a ConfigurationError naming the setting."""
    try:
        return socket.create_server((bind.host, bind.port), family=_family(bind.host))
    except OSError as exc:
        raise ConfigurationError(
            f"{ENV_PREFIX}{setting}: cannot listen on {bind.host}:{bind.port} ({exc.strerror})"
        ) from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def embedded_server(app: ASGIApp) -> _EmbeddedServer:
    """A uvicorn server for `app` that runs in the caller's event loop and leaves signals be."""
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", server_header=False
    )
    return _EmbeddedServer(config)


async def run_service(
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    *,
    metrics: ConnectorMetrics | None = None,
) -> None:
    """Serve the receiver and the admin endpoints, schedule the jobs, run until `stop` is set."""
    metrics = metrics or ConnectorMetrics()
    verifier = settings.webhook_verifier()
    if verifier.mode == "none":
        log.warning("webhook.unverified", hint="CONNECTOR_WEBHOOK_SIGNATURE=none: development only")
    if settings.wisenet_account_number is None:
        log.warning("webhook.any_account", hint="set CONNECTOR_WISENET_ACCOUNT_NUMBER")
    http_socket = listen(settings.http_bind, "HTTP_BIND")
    admin_socket = listen(settings.admin_bind, "ADMIN_BIND")
    async with sync_context(settings, clock, observer=metrics.observe_request) as ctx:
        state = ServiceState(
            mapping_file=Path(settings.mapping_file),
            webhook_silence=2 * settings.effective_poll_interval,
        )
        runner = JobRunner(ctx, ctx.worker, metrics, state)
        wake = asyncio.Event()
        receiver = Receiver(
            verifier,
            ctx.store,
            clock,
            settings.wisenet_account_number,
            settings.webhook_max_bytes,
            metrics,
            on_accepted=wake.set,
        )
        scheduler = _scheduler(settings, runner)
        http = embedded_server(receiver.app())
        token = settings.report_token.get_secret_value() if settings.report_token else None
        admin = embedded_server(
            Admin(ctx, state, metrics, token, settings.wisenet_daily_quota).app()
        )
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(http.serve([http_socket])),
            loop.create_task(admin.serve([admin_socket])),
            loop.create_task(_inbox_loop(runner, wake)),
        ]
        scheduler.start()
        state.scheduler_running = True
        state.next_runs = {job.id: str(job.next_run_time) for job in scheduler.get_jobs()}
        log.info(
            "service.started",
            poll_interval_s=int(settings.effective_poll_interval.total_seconds()),
            sweep_at=settings.sweep_at.isoformat(timespec="minutes"),
            reconcile_cron=settings.reconcile_cron,
            http_bind=str(settings.http_bind),
            admin_bind=str(settings.admin_bind),
            webhook_signature=verifier.mode,
        )
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            state.scheduler_running = False
            http.should_exit = admin.should_exit = True
            tasks[2].cancel()
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS), runner.serial:
                    pass
            except TimeoutError:
                log.warning("service.stop_timeout", waited_s=STOP_GRACE_SECONDS)
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("service.stopped")


def _scheduler(settings: Settings, runner: JobRunner) -> AsyncIOScheduler:
    tz = settings.timezone
    interval = settings.effective_poll_interval.total_seconds()
    scheduler = AsyncIOScheduler(timezone=tz)
    common: dict[str, Any] = {"coalesce": True, "max_instances": 1}
    scheduler.add_job(
        runner.guarded,
        IntervalTrigger(seconds=interval, timezone=tz),
        args=["sync", runner.sync_watching_webhooks],
        id="sync",
        next_run_time=datetime.now(tz),
        misfire_grace_time=int(interval),
        **common,
    )
    scheduler.add_job(
        runner.guarded,
        CronTrigger(hour=settings.sweep_at.hour, minute=settings.sweep_at.minute, timezone=tz),
        args=["sweep", sweep],
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
        removed = await purge_older_than(ctx.store, ctx.store.clock.now() - retention)
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


async def _inbox_loop(runner: JobRunner, wake: asyncio.Event) -> None:
    """Drain the inbox when the receiver commits a delivery (or every few seconds anyway).

    Deliveries arriving together are gathered for a moment into one batch. When a drain has to
    wait (no first read yet, or the budget kept for writes) the next try comes a minute later.
    """
    while True:
        with suppress(TimeoutError):
            async with asyncio.timeout(INBOX_IDLE_SECONDS):
                await wake.wait()
        wake.clear()
        await asyncio.sleep(INBOX_SETTLE_SECONDS)
        try:
            pending = (await inbox_state(runner.ctx.store)).depth
        except (SQLAlchemyError, OSError) as exc:
            log.warning("inbox.store_unreachable", error=type(exc).__name__)
            continue
        if not pending:
            continue
        report = await runner.guarded("inbox", runner.drain, "sync", record=False)
        if report is not None and report.paused:
            log.info("inbox.waiting", reason=report.paused, pending=pending)
            await asyncio.sleep(INBOX_RETRY_SECONDS)
