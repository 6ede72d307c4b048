"""The day's request budget against Wisenet's daily quota.

`DailyBudget` is the interface the client spends through. `InMemoryDailyBudget` keeps the count
in the process; the composition root replaces it with one persisted in the store and shared by
replicas. The budget day runs from one reset to the next, at `reset_at` in the account's
timezone.

When Wisenet says the quota is spent (other integrations may share the key, and its reset may
not be ours), spending stops; once an hour one request may go as a probe, and a probe that gets
through ends the stop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from connector.clock import Clock


@dataclass(frozen=True)
class BudgetState:
    """The budget at one moment."""

    day: date
    used: int
    quota: int
    resets_at: datetime
    exhausted: bool

    @property
    def remaining(self) -> int:
        """Requests left today (0 once Wisenet said the quota is spent)."""
        return 0 if self.exhausted else max(0, self.quota - self.used)


class DailyBudget(Protocol):
    """Counts requests against the day's quota."""

    async def try_spend(self) -> bool:
        """Count one request; False (and nothing counted) when none is left today."""
        ...

    async def mark_exhausted(self) -> None:
        """Record that Wisenet reported the quota spent: nothing more until the reset."""
        ...

    async def probe(self) -> bool:
        """While spent, claim the hour's probe (counted); False when it is not due."""
        ...

    async def recovered(self) -> None:
        """A probe went through: spending resumes."""
        ...

    async def state(self) -> BudgetState:
        """Return the current state of today's budget."""
        ...


PROBE_EVERY = timedelta(hours=1)


def budget_day(moment: datetime, account_tz: tzinfo, reset_at: time) -> date:
    """Return the budget day that `moment` falls in: days start at `reset_at`, account time."""
    local = moment.astimezone(account_tz)
    shifted = local - timedelta(hours=reset_at.hour, minutes=reset_at.minute)
    return shifted.date()


def next_reset(moment: datetime, account_tz: tzinfo, reset_at: time) -> datetime:
    """Return the instant of the first reset after `moment`."""
    day = budget_day(moment, account_tz, reset_at) + timedelta(days=1)
    wall = datetime.combine(day, reset_at).replace(tzinfo=account_tz)
    return wall.astimezone(account_tz)


class InMemoryDailyBudget:
    """A process-local budget; enough for `check` and tests."""

    def __init__(self, quota: int, account_tz: tzinfo, reset_at: time, clock: Clock) -> None:
        if quota <= 0:
            raise ValueError("quota must be positive")
        self._quota = quota
        self._tz = account_tz
        self._reset_at = reset_at
        self._clock = clock
        self._day: date | None = None
        self._used = 0
        self._exhausted = False
        self._probed_at: datetime | None = None
        self._lock = asyncio.Lock()

    def _roll(self) -> date:
        today = budget_day(self._clock.now(), self._tz, self._reset_at)
        if today != self._day:
            self._day, self._used, self._exhausted = today, 0, False
            self._probed_at = None
        return today

    async def try_spend(self) -> bool:
        """Count one request if the day has one left."""
        async with self._lock:
            self._roll()
            if self._exhausted or self._used >= self._quota:
                return False
            self._used += 1
            return True

    async def mark_exhausted(self) -> None:
        """Stop spending until the next reset."""
        async with self._lock:
            self._roll()
            if not self._exhausted:
                self._exhausted, self._probed_at = True, self._clock.now()

    async def probe(self) -> bool:
        """Claim the hour's probe while spent."""
        async with self._lock:
            self._roll()
            now = self._clock.now()
            due = self._probed_at is None or now - self._probed_at >= PROBE_EVERY
            if not self._exhausted or not due:
                return False
            self._probed_at = now
            self._used += 1
            return True

    async def recovered(self) -> None:
        """Spending resumes."""
        async with self._lock:
            self._roll()
            self._exhausted, self._probed_at = False, None

    async def state(self) -> BudgetState:
        """Return today's count."""
        async with self._lock:
            day = self._roll()
            return BudgetState(
                day=day,
                used=self._used,
                quota=self._quota,
                resets_at=next_reset(self._clock.now(), self._tz, self._reset_at),
                exhausted=self._exhausted,
            )
