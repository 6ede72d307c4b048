"""Reads counted by strategy: blocks counting at once each count only their own requests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from jobs.pipeline.read_costs import Strategy, counted
from tests.support.client import BASE_URL, make_client


@pytest.fixture
def wisenet() -> Iterator[respx.MockRouter]:
    """A mocked Wisenet: one learner and one enrolment."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get("/learnersAU/1").respond(json=item("LearnerId", 1))
        enrolment = item("CourseEnrolmentId", 2)
        enrolment["Data"]["LearnerId"] = 1
        router.get("/course-enrolments/2").respond(json=enrolment)
        yield router


def item(key: str, value: int) -> dict[str, Any]:
    """A minimal Item."""
    return {"Data": {key: value}, "Relationships": {}}


async def test_two_lanes_counting_at_once_count_only_their_own_reads(
    wisenet: respx.MockRouter,
) -> None:
    """Interleaved: lane a reads 3 learners while lane b reads 2 enrolments, in turns."""
    reads: Counter[tuple[str, str]] = Counter()
    turn = {"a": asyncio.Event(), "b": asyncio.Event()}

    async with make_client(rate_limit=1000.0) as client:

        async def lane(name: str, other: str, times: int, read: Any) -> None:
            with counted(reads, name, Strategy.BY_ID):
                for _ in range(times):
                    await read()
                    turn[other].set()
                    await asyncio.wait_for(turn[name].wait(), timeout=5)
                    turn[name].clear()
            turn[other].set()

        await asyncio.gather(
            lane("a", "b", 3, lambda: client.get_learner(1)),
            lane("b", "a", 2, lambda: client.get_course_enrolment(2)),
        )
    assert reads == {("a", "by_id"): 3, ("b", "by_id"): 2}


async def test_an_inner_block_counts_its_reads_and_the_outer_block_the_rest(
    wisenet: respx.MockRouter,
) -> None:
    """Nested blocks never count a read twice."""
    reads: Counter[tuple[str, str]] = Counter()
    async with make_client(rate_limit=1000.0) as client:
        with counted(reads, "outer", Strategy.WHOLE_LISTING):
            await client.get_learner(1)
            with counted(reads, "inner", Strategy.BY_ID):
                await client.get_course_enrolment(2)
    assert reads == {("outer", "whole_listing"): 1, ("inner", "by_id"): 1}
