"""A fake clock: time moves only when the code under test sleeps or a test advances it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Implements `connector.clock.Clock` without ever waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 3, 14, 0, 0, tzinfo=UTC)
        self._monotonic = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """Return the fake instant."""
        return self._now

    def monotonic(self) -> float:
        """Return fake monotonic seconds."""
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        """Record the wait and move time on by it."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move both clocks on."""
        self._monotonic += seconds
        self._now += timedelta(seconds=seconds)


class ShiftedClock:
    """Real waiting (for rate limits measured in real time) with a date that tests move on."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        """Real now, shifted."""
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        """Real monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Really wait."""
        await asyncio.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Move the date on without waiting."""
        self._offset += timedelta(seconds=seconds)
