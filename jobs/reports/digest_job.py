"""The daily digest after the sweep: made from the store, sent in the background, recorded.

`connector run` starts it when the daily sweep ends and does not wait for it: the sweep, the
writer and the next jobs go on while a channel is retried. One digest a day: a second sweep on
the same day (a restart) does not send it again once it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connector.clock import Clock
from connector.store.digests import FAILED, SENT
from connector.store.store import Store
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.reports.digest import DigestSource, compose_digest
from jobs.reports.digest_send import Channels, Delivery, DigestSender
from jobs.setup.settings import Settings

log = structlog.get_logger(__name__)


def channels_from(settings: Settings) -> Channels:
    """The channels the settings set up."""
    return Channels(
        smtp_url=None
        if settings.digest_smtp_url is None
        else settings.digest_smtp_url.get_secret_value(),
        sender=settings.digest_from,
        recipients=settings.digest_to,
        webhook_url=None
        if settings.digest_webhook_url is None
        else settings.digest_webhook_url.get_secret_value(),
    )


def source_from(settings: Settings) -> DigestSource:
    """What composing a digest reads from the settings."""
    return DigestSource(
        zone=settings.timezone,
        quota=settings.wisenet_daily_quota,
        quota_reset=settings.wisenet_quota_reset,
        report_url=settings.report_url,
        by_owner=settings.digest_by_owner,
    )


async def send_digest(
    store: Store, clock: Clock, source: DigestSource, sender: DigestSender, *, again: bool = False
) -> Delivery | None:
    """Make today's digest, send it and record how it went; None when it was sent already."""
    digest = await compose_digest(store, clock, source)
    before = await store.digests.of(digest.day)
    if before is not None and before.outcome == SENT and not again:
        log.info("digest.already_sent", day=digest.day.isoformat())
        return None
    await store.digests.start(digest.day, digest.counts())
    try:
        delivery = await sender.send(digest)
    except asyncio.CancelledError:  # the service is stopping: say so rather than "sending"
        await store.digests.finish(digest.day, FAILED, 0, "stopped before it was sent")
        raise
    await store.digests.finish(digest.day, delivery.outcome, delivery.attempts, delivery.detail)
    return delivery


@dataclass
class DailyDigest:
    """Sends the digest in the background after a job (the daily sweep)."""

    clock: Clock
    source: DigestSource
    sender: DigestSender
    tasks: set[asyncio.Task[Delivery | None]] = field(default_factory=set)

    def after(
        self, job: Callable[[SyncContext], Awaitable[SyncReport]]
    ) -> Callable[[SyncContext], Awaitable[SyncReport]]:
        """`job`, then the digest started (not awaited) when it returns."""

        async def then_digest(ctx: SyncContext) -> SyncReport:
            report = await job(ctx)
            self.start(ctx.store)
            return report

        return then_digest

    def start(self, store: Store) -> asyncio.Task[Delivery | None] | None:
        """Send today's digest in the background (nothing when no channel is set up)."""
        if not self.sender.channels.names:
            return None
        task = asyncio.get_running_loop().create_task(self._deliver(store))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _deliver(self, store: Store) -> Delivery | None:
        try:
            return await send_digest(store, self.clock, self.source, self.sender)
        except (SQLAlchemyError, OSError) as exc:
            log.error("digest.unrecorded", error=type(exc).__name__)  # noqa: TRY400
        except Exception as exc:  # noqa: BLE001 - a background task must say why it ended
            log.error("digest.failed", error=type(exc).__name__)  # noqa: TRY400
        return None

    async def stop(self) -> None:
        """Stop a digest still being retried (the service is stopping)."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
