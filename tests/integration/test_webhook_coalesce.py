"""A burst of webhook deliveries is gathered for `CONNECTOR_WEBHOOK_COALESCE`, then drained once.

The inbox worker runs as in the service; only its gathering wait is injected, held open until
the whole burst has been delivered, so no timing decides the outcome.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.metrics import ConnectorMetrics
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.inbox import InboxReport
from jobs.pipeline.runs import sync
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner, stop_task
from jobs.service.scheduler import inbox_loop
from tests.support.receiving import receiving
from tests.support.rig import Rig, expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control
from tests.support.staff import staff_edits

pytestmark = pytest.mark.integration
COALESCE = timedelta(seconds=3)


class HeldWindow:
    """The worker's gathering wait, open until the test closes it."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        """Note the wait asked for and hold until the test closes the window."""
        self.asked.append(seconds)
        self.opened.set()
        await self.closed.wait()


class CountingRunner(JobRunner):
    """The service's job runner, noting each drain of the inbox."""

    drains: list[InboxReport]
    drained: asyncio.Event

    async def drain(self, ctx: SyncContext) -> SyncReport:
        """Drain as the service does, and note it."""
        report = await super().drain(ctx)
        assert isinstance(report, InboxReport)
        self.drains.append(report)
        self.drained.set()
        return report


async def sandbox(rig: Rig, method: str, path: str, **kwargs: Any) -> Any:
    """The control API, called off the loop (the receiver serves on this loop meanwhile)."""
    return await asyncio.to_thread(control, rig.server, method, path, **kwargs)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_burst_within_the_window_is_drained_once(rig: Rig) -> None:
    """40 staff edits' deliveries (duplicated, reordered) wake the worker often: one drain."""
    await sync(rig.ctx)
    state = ServiceState(mapping_file=Path("absent.yaml"), webhook_silence=timedelta(hours=2))
    runner = CountingRunner(rig.ctx, "test-worker", ConnectorMetrics(), state)
    runner.drains, runner.drained = [], asyncio.Event()
    wake, window = asyncio.Event(), HeldWindow()
    wakes: list[int] = []
    async with receiving(rig.store) as served:

        def accepted() -> None:
            wakes.append(1)
            wake.set()

        served.receiver.on_accepted = accepted
        hook = {"url": served.url, "duplicate_rate": 0.3, "reorder": True, "delay_ms": [0, 30]}
        await sandbox(rig, "POST", "/webhooks", json=hook)
        worker = asyncio.get_running_loop().create_task(inbox_loop(runner, wake, COALESCE, window))
        try:
            await asyncio.to_thread(staff_edits, rig.server, random.Random(7), 40)
            assert (await sandbox(rig, "POST", "/webhooks/flush"))["flushed"]
            await asyncio.wait_for(window.opened.wait(), timeout=30)
            delivered = await sandbox(rig, "GET", "/webhooks/deliveries?limit=10000")
            woken = len(wakes)
            assert not runner.drains  # the whole burst is in while the window is open
            window.closed.set()
            await asyncio.wait_for(runner.drained.wait(), timeout=60)
        finally:
            await stop_task(worker)
    assert window.asked == [COALESCE.total_seconds()]  # one window, not stretched by later wakes
    assert woken == len(delivered) > 40  # every delivery woke the worker
    assert len(runner.drains) == 1
    # The one drain took the whole burst (and any echo of its own writes that came meanwhile).
    assert sum(runner.drains[0].events.values()) >= len(delivered)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
