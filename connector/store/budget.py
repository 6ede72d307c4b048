"""The day's request budget, persisted in the store (shared by every process of a deployment)."""

from __future__ import annotations

from datetime import date, time, tzinfo

from connector.clock import Clock
from connector.store.store import Store
from connector.wisenet.budget import PROBE_EVERY, BudgetState, budget_day, next_reset


class StoreBudget:
    """`DailyBudget` kept in the store's `budget` table."""

    def __init__(
        self, store: Store, quota: int, account_tz: tzinfo, reset_at: time, clock: Clock
    ) -> None:
        self._store = store
        self._quota = quota
        self._tz = account_tz
        self._reset_at = reset_at
        self._clock = clock

    async def try_spend(self) -> bool:
        """Count one request if the day has one left."""
        return await self._store.spend(
            budget_day(self._clock.now(), self._tz, self._reset_at), self._quota
        )

    async def mark_exhausted(self) -> None:
        """Stop spending until the next reset."""
        await self._store.mark_exhausted(budget_day(self._clock.now(), self._tz, self._reset_at))

    async def probe(self) -> bool:
        """Claim the hour's probe while spent (one process of the deployment gets it)."""
        return await self._store.claim_probe(self._day(), PROBE_EVERY)

    async def recovered(self) -> None:
        """Spending resumes."""
        await self._store.clear_exhausted(self._day())

    def _day(self) -> date:
        return budget_day(self._clock.now(), self._tz, self._reset_at)

    async def state(self) -> BudgetState:
        """Today's count."""
        now = self._clock.now()
        day = budget_day(now, self._tz, self._reset_at)
        used, exhausted = await self._store.budget_row(day)
        return BudgetState(
            day=day,
            used=used,
            quota=self._quota,
            resets_at=next_reset(now, self._tz, self._reset_at),
            exhausted=exhausted,
        )
