"""At the highest rate the settings accept, jitter on the way to Wisenet costs no 429.

The sandbox enforces Wisenet's 10 requests in any rolling second and delays every request by
0-50 ms before its rate window sees it (`arrival_latency_ms`), as a network does. The client,
at `CONNECTOR_WISENET_RATE_LIMIT`'s upper bound, sends from several callers at once (as reads
and writes overlap in a run); the sandbox's counters must show no request refused for the rate.
At 10/s with the limiter's window, 2,000 requests take about 3.5 min; the quick variant shows
the same in about 25 s.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from zoneinfo import ZoneInfo

import annotated_types
import pytest

from connector.clock import SystemClock
from connector.wisenet.client import WisenetClient
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.transport import ClientConfig
from jobs.setup.settings import Settings
from tests.support.sandbox import KEY, control, served

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CALLERS = 4
JITTER_MS = [0, 50]


def highest_accepted_rate() -> float:
    """`CONNECTOR_WISENET_RATE_LIMIT`'s upper bound, as the settings declare it."""
    bounds = Settings.model_fields["wisenet_rate_limit"].metadata
    return next(float(str(bound.le)) for bound in bounds if isinstance(bound, annotated_types.Le))


@pytest.mark.parametrize("requests", [200, 2000], ids=["quick", "two-thousand"])
async def test_no_429_at_the_highest_accepted_rate_with_arrival_jitter(requests: int) -> None:
    """`requests` reads at the top rate, 0-50 ms jitter, Wisenet's window: zero 429s."""
    rate = highest_accepted_rate()
    assert rate == 10  # Wisenet's own limit: the hardest case
    with served(rate_limit=10) as server:
        control(server, "POST", "/faults", json={"seed": 7, "arrival_latency_ms": JITTER_MS})
        config = ClientConfig(
            base_url=server.base_url,
            api_key=KEY,
            account_tz=ZoneInfo("Australia/Sydney"),
            rate_limit=rate,
            daily_quota=100_000,
            retry=RetryPolicy(max_attempts=10, initial_backoff=0.02, max_backoff=0.2),
        )
        ids = itertools.cycle(server.sandbox.db.learners.ids())
        left = iter(range(requests))
        async with WisenetClient(config, clock=SystemClock(), rng=random.Random(3)) as client:

            async def caller() -> None:
                for _ in left:
                    await client.get_learner(next(ids))

            await asyncio.gather(*(caller() for _ in range(CALLERS)))
        counters = control(server, "GET", "/counters")
    print(f"\n{counters['total']} requests, {counters['rate_limited']} refused for the rate")  # noqa: T201
    assert counters["total"] == requests
    assert counters["rate_limited"] == 0
