from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.wisenet.ratelimit import WINDOW_MARGIN_SECONDS, EvenRateLimiter
from tests.support.clock import FakeClock

RATES = [0.5, 1.0, 2.5, 8.0, 10.0]


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    """Return the largest number of events in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(
        (bisect_left(ordered, start + width - 1e-9) - i for i, start in enumerate(ordered)),
        default=0,
    )


async def run_arrivals(
    rate: float, arrivals: list[float], answers: list[float] | None = None
) -> list[tuple[float, float]]:
    """One request per arrival offset, answered after `answers[i]` s: (sent, answered) times."""
    clock = FakeClock()
    limiter = EvenRateLimiter(rate, clock)
    start = clock.monotonic()
    times: list[tuple[float, float]] = []
    for index, gap in enumerate(arrivals):
        clock.advance(gap)
        before = clock.monotonic()
        async with limiter.slot():
            sent = clock.monotonic() - start
            clock.advance(answers[index] if answers else 0.0)
        times.append((sent, clock.monotonic() - start))
        assert sent >= before - start
    return times


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    arrivals=st.lists(st.floats(min_value=0, max_value=0.6), min_size=1, max_size=60),
)
def test_sends_are_evenly_spaced_and_no_window_with_its_margin_holds_more_than_the_rate(
    rate: float, arrivals: list[float]
) -> None:
    """Answered at once, sends are 1/rate apart and 1 s + margin holds at most `rate`."""
    sent = [at for at, _ in asyncio.run(run_arrivals(rate, arrivals))]
    assert max_in_any_window(sent, 1 + WINDOW_MARGIN_SECONDS) <= max(1, math.floor(rate))
    assert all(b - a >= 1 / rate - 1e-9 for a, b in pairwise(sent))


@settings(max_examples=80, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    gaps=st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=40),
    answers=st.lists(st.floats(min_value=0, max_value=2.0), min_size=40, max_size=40),
    travel=st.lists(st.floats(min_value=0, max_value=1), min_size=40, max_size=40),
)
def test_no_rolling_second_of_arrivals_holds_more_than_the_rate_however_long_they_travel(
    rate: float, gaps: list[float], answers: list[float], travel: list[float]
) -> None:
    """Each request arrives at any moment between its send and its answer: arrivals keep the rate.

    No bound on the jitter is assumed: an answer may take up to 2 s (a stalled host).
    """
    times = asyncio.run(run_arrivals(rate, gaps, answers))
    shares = travel[: len(times)]
    arrived = [
        sent + share * (answered - sent)
        for (sent, answered), share in zip(times, shares, strict=True)
    ]
    assert max_in_any_window(arrived) <= max(1, math.floor(rate))


async def test_a_faster_eleventh_request_does_not_make_eleven_in_a_second() -> None:
    """At 10/s, the first of 11 sends arriving 50 ms late (answered then) leaves 10 a second."""
    times = await run_arrivals(10, [0.0] * 11, [0.05] + [0.0] * 10)
    arrived = [times[0][1], *(sent for sent, _ in times[1:])]
    assert max_in_any_window(arrived) == 10


async def test_the_next_window_waits_for_an_answer_still_out() -> None:
    """At 2/s, a third request waits for the first one's answer, then a window after it."""
    clock = FakeClock()
    limiter = EvenRateLimiter(2, clock)
    start = clock.monotonic()
    answer = asyncio.Event()
    sent: list[float] = []

    async def first() -> None:
        async with limiter.slot():
            sent.append(clock.monotonic() - start)
            await answer.wait()

    async def later() -> None:
        await limiter.acquire()
        sent.append(clock.monotonic() - start)

    out = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    second, third = asyncio.ensure_future(later()), asyncio.ensure_future(later())
    for _ in range(5):
        await asyncio.sleep(0)
    assert sent == [0.0, 0.5]  # the third waits: the first is still on its way
    clock.advance(2.5)  # its answer comes 3 s after it was sent
    answer.set()
    await asyncio.gather(out, second, third)
    assert sent == [0.0, 0.5, pytest.approx(3 + 1 + WINDOW_MARGIN_SECONDS)]


async def test_concurrent_callers_are_spaced_evenly_and_each_window_waits_its_margin() -> None:
    """Twenty callers at once leave one slot apart, in order; every 8 sends take a window."""
    clock = FakeClock()
    limiter = EvenRateLimiter(8, clock)
    start = clock.monotonic()
    granted: list[tuple[int, float]] = []

    async def caller(index: int) -> None:
        await limiter.acquire()
        granted.append((index, clock.monotonic() - start))

    await asyncio.gather(*(caller(i) for i in range(20)))
    assert [index for index, _ in granted] == list(range(20))
    window = 1 + WINDOW_MARGIN_SECONDS
    expected = [round(i // 8 * window + i % 8 / 8, 9) for i in range(20)]
    assert [round(at, 9) for _, at in granted] == expected


async def test_an_idle_limiter_does_not_wait() -> None:
    """After a quiet spell the next request goes at once (no saved-up burst either)."""
    clock = FakeClock()
    limiter = EvenRateLimiter(8, clock)
    await limiter.acquire()
    clock.advance(10)
    await limiter.acquire()
    await limiter.acquire()
    assert clock.sleeps == [0.125]


async def test_a_cancelled_wait_takes_no_slot() -> None:
    """A caller cancelled while it waits is not counted as sent: the next one takes its slot."""
    clock = FakeClock()
    limiter = EvenRateLimiter(1, clock)
    await limiter.acquire()

    async def never(seconds: float) -> None:
        raise asyncio.CancelledError

    real_sleep, clock.sleep = clock.sleep, never  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await limiter.acquire()
    clock.sleep = real_sleep  # type: ignore[method-assign]
    start = clock.monotonic()
    await limiter.acquire()
    assert clock.monotonic() - start == pytest.approx(1 + WINDOW_MARGIN_SECONDS)


@pytest.mark.parametrize(("rate", "margin"), [(0, 0.1), (-1, 0.1), (8, -0.01)])
def test_a_rate_or_margin_out_of_range_is_refused(rate: float, margin: float) -> None:
    """No limiter at a rate of zero or below, or with a negative margin."""
    with pytest.raises(ValueError, match=r"rate|margin"):
        EvenRateLimiter(rate, FakeClock(), margin=margin)
