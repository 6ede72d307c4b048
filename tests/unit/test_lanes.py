"""The writer's lanes: a group's items in order, groups side by side, the first error stops them."""

from __future__ import annotations

import asyncio

import pytest

from jobs.pipeline.lanes import grouped, in_lanes


def test_items_are_grouped_by_key_in_the_order_of_their_first_item() -> None:
    """A learner's writes stay in their outbox order."""
    items = [(7, "a"), (3, "b"), (7, "c"), (5, "d"), (3, "e")]
    assert grouped(items, lambda item: item[0]) == [
        [(7, "a"), (7, "c")],
        [(3, "b"), (3, "e")],
        [(5, "d")],
    ]


async def test_a_groups_items_go_in_order_while_other_groups_go_meanwhile() -> None:
    """Two lanes: both groups are under way at once, each in its own order."""
    events: list[str] = []
    both_started = asyncio.Event()
    started: set[str] = set()

    async def handle(item: str) -> None:
        started.add(item[0])
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)
        events.append(item)

    await in_lanes([["a1", "a2", "a3"], ["b1", "b2"]], 2, handle)
    assert [e for e in events if e[0] == "a"] == ["a1", "a2", "a3"]
    assert [e for e in events if e[0] == "b"] == ["b1", "b2"]


async def test_one_lane_is_the_plain_order() -> None:
    """With one lane the items go exactly in the order given."""
    seen: list[int] = []

    async def handle(item: int) -> None:
        await asyncio.sleep(0)
        seen.append(item)

    await in_lanes([[1, 2], [3], [4, 5]], 1, handle)
    assert seen == [1, 2, 3, 4, 5]


async def test_the_first_error_stops_new_items_lets_running_ones_finish_and_is_raised() -> None:
    """A quota stop in one lane: the PATCH under way in another lane is not abandoned."""
    finished: list[str] = []
    failing = asyncio.Event()

    async def handle(item: str) -> None:
        if item == "a1":
            await asyncio.sleep(0)
            failing.set()
            raise LookupError("quota")
        if item == "b1":
            await asyncio.wait_for(failing.wait(), timeout=5)
            await asyncio.sleep(0)
        finished.append(item)

    with pytest.raises(LookupError, match="quota"):
        await in_lanes([["a1", "a2"], ["b1", "b2"], ["c1"]], 2, handle)
    assert finished == ["b1"]  # under way when a1 failed; b2 and c1 never started


async def test_no_groups_and_no_lanes() -> None:
    """Nothing to do is done at once; zero lanes is a programming error."""
    await in_lanes([], 4, lambda _: asyncio.sleep(0))
    with pytest.raises(ValueError, match="lanes"):
        await in_lanes([[1]], 0, lambda _: asyncio.sleep(0))
