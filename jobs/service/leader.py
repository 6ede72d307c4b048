"""Leadership: only the holder of the scheduler lock runs the jobs and the inbox worker.

A standby tries the lock every `LEADER_RETRY_SECONDS`; a leader confirms it before its requests
and stops its jobs at once when it cannot (`connector.store.leadership`).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import NotLeaderError
from connector.metrics import ConnectorMetrics
from connector.store.leadership import Leadership
from jobs.pipeline.echoes import ExpectedEchoes
from jobs.reports.digest_job import DailyDigest
from jobs.service.job_runner import JobRunner, stop_task
from jobs.service.scheduler import build_scheduler, inbox_loop
from jobs.setup.settings import Settings

log = structlog.get_logger(__name__)
STOP_GRACE_SECONDS = 30
LEADER_LEASE = timedelta(seconds=15)  # a dead leader is replaced within about this long
LEADER_RETRY_SECONDS = 5.0  # a standby tries the scheduler lock this often
# How long a confirmed lock lets the leader send without asking again: well inside the lease,
# after which the database frees the lock of a holder that went quiet (a frozen process).
LEADER_AUTHORITY_SECONDS = LEADER_LEASE.total_seconds() * 2 / 3


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
