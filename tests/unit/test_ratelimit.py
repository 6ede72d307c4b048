from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.wisenet.ratelimit import EvenRateLimiter
from tests.support.clock import FakeClock


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    """Return the largest number of events in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(
        (bisect_left(ordered, start + width - 1e-9) - i for i, start in enumerate(ordered)),
        default=0,
    )


async def run_arrivals(rate: float, arrivals: list[float]) -> list[float]:
    """Start one acquirer per arrival offset; return the fake time each one was let through."""
    clock = FakeClock()
    limiter = EvenRateLimiter(rate, clock)
    start = clock.monotonic()
    granted: list[float] = []
    for gap in arrivals:
        clock.advance(gap)
        before = clock.monotonic()
        await limiter.acquire()
        granted.append(clock.monotonic() - start)
        assert clock.monotonic() >= before
    return granted


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 2.5, 8.0, 10.0]),
    arrivals=st.lists(st.floats(min_value=0, max_value=0.6), min_size=1, max_size=60),
)
def test_no_one_second_window_ever_holds_more_than_the_rate(
    rate: float, arrivals: list[float]
) -> None:
    """Whatever the arrival pattern, no second holds more than ceil(rate) requests."""
    granted = asyncio.run(run_arrivals(rate, arrivals))
    assert max_in_any_window(granted) <= math.ceil(rate)
    gaps = [b - a for a, b in pairwise(granted)]
    assert all(gap >= 1 / rate - 1e-9 for gap in gaps)


async def test_concurrent_callers_are_spaced_evenly() -> None:
    """Twenty callers at once leave one slot apart, in arrival order."""
    clock = FakeClock()
    limiter = EvenRateLimiter(8, clock)
    start = clock.monotonic()
    granted: list[tuple[int, float]] = []

    async def caller(index: int) -> None:
        await limiter.acquire()
        granted.append((index, clock.monotonic() - start))

    await asyncio.gather(*(caller(i) for i in range(20)))
    assert [index for index, _ in granted] == list(range(20))
    assert [round(at, 9) for _, at in granted] == [i / 8 for i in range(20)]


async def test_an_idle_limiter_does_not_wait() -> None:
    """After a quiet spell the next request goes at once (no saved-up burst either)."""
    clock = FakeClock()
    limiter = EvenRateLimiter(8, clock)
    await limiter.acquire()
    clock.advance(10)
    await limiter.acquire()
    await limiter.acquire()
    assert clock.sleeps == [0.125]
