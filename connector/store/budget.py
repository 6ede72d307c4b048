"""The day's request budget, persisted in the store (shared by every process of a deployment).

`Budget` is the `budget` table, one row a day; `StoreBudget` is the client's `DailyBudget` kept
in it, for the account's day.
"""

from __future__ import annotations

from datetime import UTC, date, time, timedelta, tzinfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.clock import Clock
from connector.store.database import Database
from connector.store.schema import budget
from connector.store.sql import upsert
from connector.wisenet.budget import PROBE_EVERY, BudgetState, budget_day, next_reset


class Budget:
    """The `budget` table: requests used per day, and whether Wisenet said the day is spent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def spend(self, day: date, quota: int) -> bool:
        """Count one request against `day` if the quota allows it.

        One conditional UPDATE: the check and the count are one atomic step, so two processes
        spending the last request at once cannot both have it. The day's first request makes
        the row.
        """
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        spend_one = (
            update(budget)
            .where(budget.c.day == day, budget.c.exhausted.is_(False), budget.c.used < quota)
            .values(used=budget.c.used + 1)
        )
        first = dialect.insert(budget).values(day=day, used=1, exhausted=False)
        async with self._db.transaction() as conn:
            if (await conn.execute(spend_one)).rowcount == 1:
                return True
            if quota < 1:
                return False
            if (await conn.execute(first.on_conflict_do_nothing())).rowcount == 1:
                return True
            # Another process made the row meanwhile: count against it like any other.
            return bool((await conn.execute(spend_one)).rowcount == 1)

    async def used(self, day: date) -> tuple[int, bool]:
        """(requests used, exhausted) on `day`."""
        async with self._db.connect() as conn:
            row = (await conn.execute(select(budget).where(budget.c.day == day))).first()
        return (0, False) if row is None else (row.used, row.exhausted)

    async def mark_exhausted(self, day: date) -> None:
        """Record that Wisenet said the day's quota is spent (the first probe is due in an hour)."""
        async with self._db.transaction() as conn:
            row = (await conn.execute(select(budget).where(budget.c.day == day))).first()
            if row is not None and row.exhausted:
                return
            await upsert(
                conn,
                budget,
                {"day": day, "used": 0, "exhausted": True, "probed_at": self._db.clock.now()},
                ("day",),
                update_only=("exhausted", "probed_at"),
            )

    async def claim_probe(self, day: date, every: timedelta) -> bool:
        """While the day is spent, claim its due probe (counted as a request), once per `every`."""
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(budget)
                .where(
                    budget.c.day == day,
                    budget.c.exhausted.is_(True),
                    budget.c.probed_at <= (now - every).astimezone(UTC),
                )
                .values(probed_at=now, used=budget.c.used + 1)
            )
            return bool(result.rowcount)

    async def clear_exhausted(self, day: date) -> None:
        """Wisenet answered a probe: the day's spending resumes."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(budget).where(budget.c.day == day).values(exhausted=False, probed_at=None)
            )


class StoreBudget:
    """`DailyBudget` kept in the store's `budget` table."""

    def __init__(
        self, days: Budget, quota: int, account_tz: tzinfo, reset_at: time, clock: Clock
    ) -> None:
        self._days = days
        self._quota = quota
        self._tz = account_tz
        self._reset_at = reset_at
        self._clock = clock

    async def try_spend(self) -> bool:
        """Count one request if the day has one left."""
        return await self._days.spend(
            budget_day(self._clock.now(), self._tz, self._reset_at), self._quota
        )

    async def mark_exhausted(self) -> None:
        """Stop spending until the next reset."""
        await self._days.mark_exhausted(budget_day(self._clock.now(), self._tz, self._reset_at))

    async def probe(self) -> bool:
        """Claim the hour's probe while spent (one process of the deployment gets it)."""
        return await self._days.claim_probe(self._day(), PROBE_EVERY)

    async def recovered(self) -> None:
        """Spending resumes."""
        await self._days.clear_exhausted(self._day())

    def _day(self) -> date:
        return budget_day(self._clock.now(), self._tz, self._reset_at)

    async def state(self) -> BudgetState:
        """Today's count."""
        now = self._clock.now()
        day = budget_day(now, self._tz, self._reset_at)
        used, exhausted = await self._days.used(day)
        return BudgetState(
            day=day,
            used=used,
            quota=self._quota,
            resets_at=next_reset(now, self._tz, self._reset_at),
            exhausted=exhausted,
        )
