"""`connector run`: receiver, admin endpoints, scheduled jobs and inbox worker in one process.

Every replica serves the receiver and the admin endpoints. Only the holder of the scheduler lock
(`connector.store.leadership`) runs the scheduled jobs and the inbox worker, the only callers of
Wisenet, so the deployment keeps the key's rate; the others stand by and try the lock every
`LEADER_RETRY_SECONDS`. A leader that cannot confirm its lock stops its jobs at once.

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
from connector.errors import ConfigurationError, ConnectorError, JobBusyError, NotLeaderError
from connector.metrics import ConnectorMetrics
from connector.store.leadership import Leadership
from connector.webhooks.receiver import Receiver
from jobs.pipeline.echoes import ExpectedEchoes
from jobs.pipeline.inbox import drain_inbox, unannounced_changes
from jobs.pipeline.sync import AUDIT, SyncContext, SyncReport, reconcile, sweep, sync, write_back
from jobs.reports.digest_job import DailyDigest, channels_from, source_from
from jobs.reports.digest_send import DigestSender
from jobs.service.admin import Admin, ServiceState
from jobs.service.body_deadline import BODY_SECONDS, BodyDeadline
from jobs.setup.composition import sync_context
from jobs.setup.settings import ENV_PREFIX, Bind, Settings

log = structlog.get_logger(__name__)
LOCK_TTL = timedelta(minutes=2)  # renewed every LOCK_RENEW while the job runs
LOCK_RENEW_SECONDS = 30
STOP_GRACE_SECONDS = 30
INBOX_IDLE_SECONDS = 5.0  # the worker looks for deliveries this often without a wake-up
INBOX_RETRY_SECONDS = 60.0  # after a drain that had to wait
LEADER_LEASE = timedelta(seconds=15)  # a dead leader is replaced within about this long
LEADER_RETRY_SECONDS = 5.0  # a standby tries the scheduler lock this often
# How long a confirmed lock lets the leader send without asking again: well inside the lease,
# after which the database frees the lock of a holder that went quiet (a frozen process).
LEADER_AUTHORITY_SECONDS = LEADER_LEASE.total_seconds() * 2 / 3
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


def embedded_server(app: ASGIApp, body_seconds: float = BODY_SECONDS) -> _EmbeddedServer:
    """A uvicorn server for `app` that runs in the caller's event loop and leaves signals be.

    A request's body must arrive within `body_seconds` of its headers (408 and close after).
    """
    config = uvicorn.Config(
        BodyDeadline(app, body_seconds),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
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
    if settings.dry_run:
        raise ConfigurationError(
            "CONNECTOR_DRY_RUN=true: the service records what it receives and sends; "
            "plan with `connector sync --dry-run` instead"
        )
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
        http = embedded_server(receiver.app())
        token = settings.report_token.get_secret_value() if settings.report_token else None
        admin = embedded_server(
            Admin(ctx, state, metrics, token, settings.wisenet_daily_quota).app()
        )
        digest = DailyDigest(
            clock, source_from(settings), DigestSender(channels_from(settings), metrics)
        )
        leader = Leader(
            ctx.store.scheduler_lock.leadership(runner.owner, LEADER_LEASE, wake.set),
            settings,
            runner,
            wake,
            metrics,
            digest=digest,
        )
        ctx.client.gate = leader.confirm
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(http.serve([http_socket])),
            loop.create_task(admin.serve([admin_socket])),
            loop.create_task(leader.campaign(stop)),
        ]
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
            stop.set()
            http.should_exit = admin.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            await digest.stop()
            log.info("service.stopped")


@dataclass
class Leader:
    """Campaigns for the scheduler lock; while holding it, runs the scheduler and inbox worker."""

    leadership: Leadership
    settings: Settings
    runner: JobRunner
    wake: asyncio.Event
    metrics: ConnectorMetrics
    retry_seconds: float = LEADER_RETRY_SECONDS
    renew_seconds: float = LEADER_LEASE.total_seconds() / 3
    authority_seconds: float = LEADER_AUTHORITY_SECONDS
    leading: bool = False
    confirmed_at: float = 0.0  # monotonic: when the lock was last confirmed (before asking)
    _confirming: asyncio.Lock = field(default_factory=asyncio.Lock)
    digest: DailyDigest | None = None  # sent after the daily sweep, when channels are set up

    async def confirm(self) -> None:
        """Before each Wisenet request: pass if the lock was confirmed lately, else confirm it.

        A process frozen past the lease (its lock freed, another leader elected) wakes up
        here: its next request asks the database first and is refused.
        """
        clock = self.runner.ctx.store.clock
        if self.leading and clock.monotonic() - self.confirmed_at < self.authority_seconds:
            return
        if not await self._renew():
            raise NotLeaderError("this replica does not hold the scheduler lock")

    async def _renew(self) -> bool:
        """Confirm the lock on its connection, one caller at a time."""
        async with self._confirming:
            asked = self.runner.ctx.store.clock.monotonic()
            held = self.leading and await self.leadership.renew()
            if held:
                self.confirmed_at = asked
            else:
                self.leading = False
            return held

    async def campaign(self, stop: asyncio.Event) -> None:
        """Until `stop`: try the lock, lead while it holds, stand by otherwise."""
        state = self.runner.state
        clock = self.runner.ctx.store.clock
        while not stop.is_set():
            asked = clock.monotonic()
            if await self.leadership.acquire():
                self.leading, self.confirmed_at = True, asked
                await self.lead(stop)
            else:
                state.role = "standby"
            with suppress(TimeoutError):
                async with asyncio.timeout(self.retry_seconds):
                    await stop.wait()

    async def lead(self, stop: asyncio.Event) -> None:
        """Run the jobs while the lock is confirmed every `renew_seconds`; then stop them."""
        state, metrics = self.runner.state, self.metrics
        try:
            reclaimed = await self.runner.ctx.store.locks.take_over(self.runner.owner)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("leader.store_unreachable", error=type(exc).__name__)
            await self.leadership.release()
            self.leading = False
            return
        # Another leader may have drained the echoes of this replica's earlier PATCHes.
        self.runner.ctx.echoes = ExpectedEchoes()
        scheduler = build_scheduler(self.settings, self.runner, self.digest)
        inbox = asyncio.get_running_loop().create_task(
            inbox_loop(self.runner, self.wake, self.settings.webhook_coalesce)
        )
        scheduler.start()
        state.role, state.scheduler_running = "leader", True
        state.next_runs = {job.id: str(job.next_run_time) for job in scheduler.get_jobs()}
        metrics.leader.set(1)
        log.info("leader.elected", owner=self.leadership.holder(), reclaimed=reclaimed)
        held = True
        try:
            while held and not stop.is_set():
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.renew_seconds):
                        await stop.wait()
                if not stop.is_set():
                    held = await self._renew()
        finally:
            scheduler.shutdown(wait=False)
            state.role, state.scheduler_running, state.next_runs = "standby", False, {}
            metrics.leader.set(0)
            await stop_task(inbox)
            if held:  # stopping: the job in progress may finish
                await self.runner.finish(STOP_GRACE_SECONDS)
            else:  # another replica may lead already: not one more request
                log.warning("leader.lost", owner=self.leadership.holder())
                await self.runner.abandon()
            self.leading = False
            await self.leadership.release()


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
