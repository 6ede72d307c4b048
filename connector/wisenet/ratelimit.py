"""An evenly spaced request limiter: one slot every `1/rate` seconds, never a burst.

Slots are handed out in order of arrival; a caller waits for its slot. Because consecutive
slots are at least `1/rate` apart, any half-open one-second window holds at most `rate`
requests, which keeps the deployment under Wisenet's per-key limit with room for jitter.
"""

from __future__ import annotations

import asyncio

from connector.clock import Clock


class EvenRateLimiter:
    """Spaces `acquire()` calls at least `1/rate` seconds apart."""

    def __init__(self, rate: float, clock: Clock) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._clock = clock
        self._next_slot = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def interval(self) -> float:
        """Seconds between two consecutive slots."""
        return self._interval

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        async with self._lock:
            now = self._clock.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        delay = slot - now
        if delay > 0:
            await self._clock.sleep(delay)
