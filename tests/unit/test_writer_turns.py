"""Writing transactions take turns per process on SQLite; PostgreSQL takes none."""

from __future__ import annotations

import asyncio

import pytest

from connector.store.writer_turns import WriterTurns


async def test_turns_are_taken_one_at_a_time_in_order() -> None:
    """Three tasks: never two inside at once, and each enters in the order it asked."""
    turns = WriterTurns(enabled=True)
    inside: list[int] = []
    order: list[int] = []

    async def write(n: int) -> None:
        async with turns.turn():
            inside.append(n)
            assert len(inside) == 1
            order.append(n)
            await asyncio.sleep(0)
            inside.remove(n)

    await asyncio.gather(*(write(n) for n in range(3)))
    assert order == [0, 1, 2]


async def test_a_task_holding_the_turn_may_open_another_transaction() -> None:
    """Re-entrant for the holder: no deadlock on a nested transaction."""
    turns = WriterTurns(enabled=True)
    async with turns.turn(), turns.turn():
        pass
    async with asyncio.timeout(5), turns.turn():  # given back after the nesting
        pass


async def test_another_task_waits_for_the_turn() -> None:
    """While one task holds the turn, another does not enter."""
    turns = WriterTurns(enabled=True)
    entered = asyncio.Event()

    async def other() -> None:
        async with turns.turn():
            entered.set()

    async with turns.turn():
        waiting = asyncio.create_task(other())
        await asyncio.sleep(0.01)
        assert not entered.is_set()
    await asyncio.wait_for(waiting, timeout=5)
    assert entered.is_set()


async def test_disabled_turns_never_wait() -> None:
    """PostgreSQL: concurrent transactions go at once."""
    turns = WriterTurns(enabled=False)
    both = asyncio.Barrier(2)

    async def write() -> None:
        async with turns.turn():
            await asyncio.wait_for(both.wait(), timeout=5)

    await asyncio.gather(write(), write())


async def test_a_turn_not_given_in_time_is_an_error_not_a_hang() -> None:
    """A transaction waiting on another task's transaction fails, as SQLite's lock would."""
    turns = WriterTurns(enabled=True, timeout=0.05)
    async with turns.turn():
        with pytest.raises(TimeoutError, match="write turn"):
            await asyncio.create_task(_take(turns))
    async with asyncio.timeout(5), turns.turn():  # the lock was not left taken
        pass


async def _take(turns: WriterTurns) -> None:
    async with turns.turn():
        pass
