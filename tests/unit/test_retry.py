from __future__ import annotations

import random
from datetime import UTC, datetime

from connector.errors import RateLimitedError, ServerError
from connector.wisenet.retry import RetryPolicy, backoff_delay, parse_retry_after


def rate_limited(retry_after: float | None = None) -> RateLimitedError:
    """Build a 429 as the client raises it."""
    return RateLimitedError("rate limited", method="GET", endpoint="/x", retry_after=retry_after)


def test_backoff_grows_exponentially_with_jitter_up_to_a_ceiling() -> None:
    """Each delay lies in [ceiling/2, ceiling] where the ceiling doubles up to max_backoff."""
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4)
    rng = random.Random(7)
    error = ServerError("boom", method="GET", endpoint="/x")
    for attempt, ceiling in [(1, 0.5), (2, 1), (3, 2), (4, 4), (5, 4), (9, 4)]:
        delay = backoff_delay(policy, attempt, error, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_wins_but_is_capped() -> None:
    """The server's hint is honoured, never beyond the cap, never negative."""
    policy = RetryPolicy(retry_after_cap=60)
    rng = random.Random(1)
    assert backoff_delay(policy, 1, rate_limited(3), rng) == 3
    assert backoff_delay(policy, 1, rate_limited(3600), rng) == 60
    assert backoff_delay(policy, 1, rate_limited(-5), rng) == 0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Both forms of the header are read; anything else is ignored."""
    now = datetime(2025, 3, 14, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after("Fri, 14 Mar 2025 00:00:30 GMT", now) == 30
    assert parse_retry_after("Thu, 13 Mar 2025 00:00:30 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
