"""Dead letters put straight into the store the settings name (as if Wisenet refused a write)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from connector.clock import Clock
from connector.store.outbox import PendingWrite
from jobs.setup.composition import opened_store
from jobs.setup.settings import load_settings

REFUSAL = "PATCH /course-enrolments/{id}: rejected with 400"


def seed_dead_letter(
    clock: Clock, course_enrolment_id: int, learner_id: int, add: Iterable[str]
) -> None:
    """A write of `add` to one enrolment, given up after Wisenet refused it."""
    write = PendingWrite(
        course_enrolment_id, learner_id, frozenset(add), frozenset(), 0, "seeded", 0
    )

    async def _seed() -> None:
        async with opened_store(load_settings(), clock) as store:
            await store.outbox.dead_letter(write, REFUSAL)

    asyncio.run(_seed())
