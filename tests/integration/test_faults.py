"""Faults from Wisenet: a sync under 5xx, dropped connections, latency and a 429 storm.

On the real clock, it still ends in the reference tags without one request over the rate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.clock import SystemClock
from connector.wisenet.retry import RetryPolicy
from jobs.pipeline.runs import sync
from tests.support.rig import expected_tags, owned_tags_in_wisenet, wired
from tests.support.sandbox import control, served_for_processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_sync_under_faults_converges_without_a_request_over_the_rate(
    tmp_path: Path,
) -> None:
    """20 % 5xx, 5 % dropped connections, latency and a 429 storm: same tags, zero over rate."""
    clock = SystemClock()
    with served_for_processes(rate_limit=10) as server:  # Wisenet's own per-second limit
        control(
            server,
            "POST",
            "/faults",
            json={
                "seed": 7,
                "error_rate": 0.2,
                "drop_rate": 0.05,
                "latency_ms": [0, 40],
                "storm": {"requests": 4, "retry_after": 1},
            },
        )
        retry = RetryPolicy(initial_backoff=0.05, max_backoff=1.0)
        url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
        async with wired(server, url, clock, rate_limit=8.0, retry=retry) as rig:
            report = await sync(rig.ctx)
        counters = control(server, "GET", "/counters")
        assert report.writes_failed == 0  # every fault was retried away
        assert owned_tags_in_wisenet(server) == expected_tags(server)
        print(  # noqa: T201 - figures for the closing note
            f"\n{counters['total']} requests, {counters['faults_injected']} faults injected, "
            f"{counters['rate_limited']} over the rate"
        )
        assert counters["faults_injected"] > 10
        assert counters["rate_limited"] == 0
