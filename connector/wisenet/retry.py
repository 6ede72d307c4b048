"""When and how long to wait before retrying a transient failure.

Exponential backoff with jitter (half fixed, half random) up to a ceiling; a server's
`Retry-After` wins when present, capped. The random source is injected so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from connector.errors import TransientError


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits for transient failures."""

    max_attempts: int = 6
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    retry_after_cap: float = 120.0
    total_seconds: float = 300.0
    # A per-second rate limit clears within a second; 429s that keep coming this long mean the
    # day's quota is spent (other integrations may share the key), so calling stops.
    sustained_429_seconds: float = 60.0
    # A 429 with the day's counter this close to the quota is the quota, not the rate.
    quota_near_fraction: float = 0.98


def backoff_delay(
    policy: RetryPolicy, attempt: int, error: TransientError, rng: random.Random
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    if error.retry_after is not None:
        return max(0.0, min(error.retry_after, policy.retry_after_cap))
    ceiling = min(policy.max_backoff, policy.initial_backoff * 2.0 ** (attempt - 1))
    jitter: float = rng.uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read a `Retry-After` header: delta seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
