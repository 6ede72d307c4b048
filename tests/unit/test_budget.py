from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from connector.wisenet.budget import InMemoryDailyBudget, budget_day, next_reset
from tests.support.clock import FakeClock

SYDNEY = ZoneInfo("Australia/Sydney")


async def test_the_budget_counts_up_to_the_quota_and_refuses_after() -> None:
    """Three requests fit a quota of three; the fourth is refused and not counted."""
    budget = InMemoryDailyBudget(3, SYDNEY, time(0, 0), FakeClock())
    assert [await budget.try_spend() for _ in range(4)] == [True, True, True, False]
    state = await budget.state()
    assert (state.used, state.remaining) == (3, 0)


async def test_the_budget_resets_at_midnight_account_time_not_utc() -> None:
    """The day rolls over at 00:00 Sydney, which is 13:00 UTC the day before in summer."""
    clock = FakeClock(datetime(2025, 3, 14, 12, 59, tzinfo=UTC))
    budget = InMemoryDailyBudget(1, SYDNEY, time(0, 0), clock)
    assert await budget.try_spend()
    assert not await budget.try_spend()
    clock.advance(60)
    assert await budget.try_spend()
    assert (await budget.state()).day == date(2025, 3, 15)


async def test_a_reported_exhaustion_holds_until_the_reset() -> None:
    """When Wisenet says the quota is spent, nothing is spent until the next reset."""
    clock = FakeClock(datetime(2025, 3, 14, 1, 0, tzinfo=UTC))
    budget = InMemoryDailyBudget(1000, SYDNEY, time(0, 0), clock)
    await budget.mark_exhausted()
    assert not await budget.try_spend()
    state = await budget.state()
    assert state.exhausted
    assert state.remaining == 0
    clock.advance((state.resets_at - clock.now()).total_seconds())
    assert await budget.try_spend()


async def test_a_spent_quota_allows_one_counted_probe_an_hour_until_it_recovers() -> None:
    """The first probe is due an hour after the exhaustion, then hourly; recovery ends it."""
    clock = FakeClock(datetime(2025, 3, 14, 1, 0, tzinfo=UTC))
    budget = InMemoryDailyBudget(1000, SYDNEY, time(0, 0), clock)
    assert not await budget.probe()  # not spent: no probe needed
    await budget.mark_exhausted()
    clock.advance(3599)
    assert not await budget.probe()
    clock.advance(1)
    assert await budget.probe()
    assert not await budget.probe()  # once per hour
    assert (await budget.state()).used == 1
    clock.advance(3600)
    assert await budget.probe()
    await budget.recovered()
    assert await budget.try_spend()
    assert not (await budget.state()).exhausted


def test_budget_days_start_at_the_configured_reset_time() -> None:
    """With a 10:00 reset, 09:59 belongs to the previous budget day."""
    before = datetime(2025, 3, 14, 9, 59, tzinfo=SYDNEY)
    after = datetime(2025, 3, 14, 10, 0, tzinfo=SYDNEY)
    assert budget_day(before, SYDNEY, time(10, 0)) == date(2025, 3, 13)
    assert budget_day(after, SYDNEY, time(10, 0)) == date(2025, 3, 14)
    assert next_reset(before, SYDNEY, time(10, 0)) == after
