"""`connector run`: receiver, admin endpoints, scheduled jobs and inbox worker in one process.

Every replica serves the receiver and the admin endpoints. Only the holder of the scheduler lock
(`connector.store.leadership`) runs the scheduled jobs and the inbox worker, the only callers of
Wisenet, so the deployment keeps the key's rate; the others stand by and try the lock every
`LEADER_RETRY_SECONDS`. A leader that cannot confirm its lock stops its jobs at once.

This module wires the parts: the leader (`jobs.service.leader`), its schedule and inbox worker
(`jobs.service.scheduler`: the poll and sync, the daily sweep, the weekly reconcile, the writer,
the daily purge), the job runner with its store locks (`jobs.service.job_runner`) and the
embedded servers (`jobs.service.servers`). SIGTERM and SIGINT stop the service after the running
job finishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from connector.clock import Clock
from connector.errors import ConfigurationError
from connector.metrics import ConnectorMetrics
from connector.webhooks.receiver import Receiver
from jobs.reports.digest_job import DailyDigest, channels_from, source_from
from jobs.reports.digest_send import DigestSender
from jobs.service.admin import Admin, ServiceState
from jobs.service.job_runner import JobRunner
from jobs.service.leader import LEADER_LEASE, Leader
from jobs.service.servers import embedded_server, listen
from jobs.setup.composition import Parts, sync_context
from jobs.setup.settings import Settings

log = structlog.get_logger(__name__)


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
    async with sync_context(settings, Parts(clock=clock, observer=metrics.observe_request)) as ctx:
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
