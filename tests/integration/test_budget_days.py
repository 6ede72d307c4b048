"""A Basic-plan account: a backfill larger than a day's quota spreads over days, never refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.wisenet.retry import RetryPolicy
from jobs.pipeline.runs import sync
from tests.support.clock import ShiftedClock
from tests.support.rig import expected_tags, owned_tags_in_wisenet, wired
from tests.support.sandbox import control, served

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SYDNEY = ZoneInfo("Australia/Sydney")
QUOTA = 60


async def test_a_backfill_spreads_over_days_without_a_single_429(tmp_path: Path) -> None:
    """Sandbox at 10/s and 60 requests a day; client at 8/s: every day writes, nothing refused."""
    clock = ShiftedClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    with served(rate_limit=10, daily_quota=QUOTA) as server:
        before = owned_tags_in_wisenet(server)
        due = sum(1 for ce, tags in expected_tags(server).items() if tags != before[ce])
        url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
        writes_per_day = []
        async with wired(
            server, url, clock, rate_limit=8.0, retry=RetryPolicy(), daily_quota=QUOTA
        ) as rig:
            for _ in range(5):
                report = await sync(rig.ctx)
                writes_per_day.append(report.writes_done)
                if await rig.store.outbox.size() == 0 and writes_per_day[-1] == 0:
                    break
                clock.advance(86400)
                control(server, "POST", "/clock", json={"advance": {"days": 1}})
        counts = control(server, "GET", "/counters")
    assert counts["rate_limited"] == 0
    assert counts["quota_limited"] == 0
    assert sum(1 for n in writes_per_day if n > 0) >= 3
    assert due > 100  # a few days of this budget
    assert sum(writes_per_day) == due  # one write per enrolment whose owned tags change
    assert owned_tags_in_wisenet(server) == expected_tags(server)
