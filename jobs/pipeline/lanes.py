"""Work in a few lanes: each group's items one after another, several groups at once.

The writer sends one learner's writes in order (a PATCH answer can hold that learner's next
write) while other learners' writes are under way, so the store work around one PATCH (the
reads before it, the commit after it) overlaps the next PATCH's wait for the limiter and its
time on the wire. The limiter still paces every request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def grouped(items: Iterable[Item], key: Callable[[Item], Hashable]) -> list[list[Item]]:
    """The items in groups of equal key, groups in the order of their first item."""
    groups: dict[Hashable, list[Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())


async def in_lanes(
    groups: Sequence[Sequence[Item]], lanes: int, handle: Callable[[Item], Awaitable[None]]
) -> None:
    """Handle every item: a group's items in order, up to `lanes` groups at once.

    Groups start in the order given. The first error stops every lane from starting another
    item; the items under way finish (a PATCH in flight is not abandoned); then the error is
    raised. The items not started are left to the caller (the writer gives their leases back).
    """
    if lanes < 1:
        raise ValueError("lanes must be at least 1")
    waiting = deque(groups)
    errors: list[Exception] = []

    async def lane() -> None:
        while waiting and not errors:
            for item in waiting.popleft():
                if errors:
                    return
                try:
                    await handle(item)
                except Exception as exc:  # noqa: BLE001 - kept and raised once the lanes stop
                    errors.append(exc)
                    return

    async with asyncio.TaskGroup() as running:  # a cancellation or BaseException stops them all
        for _ in range(min(lanes, len(waiting))):
            running.create_task(lane())
    if errors:
        raise errors[0]
