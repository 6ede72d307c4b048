"""One writing transaction at a time per process on SQLite, woken in order.

SQLite has one writer at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries however soon the lock is freed:
with the writer's lanes, the budget count before every request and the commit after every
PATCH waited 10 to 20 ms each for locks held a millisecond. Transactions of one process therefore
take turns on an asyncio lock, which hands the turn on the moment it is given back; other
processes still meet SQLite's own lock and its busy timeout. PostgreSQL has row locks and takes
no turns.

A task that already holds the turn keeps it for a transaction opened inside its own (SQLite's
deferred transactions allow one that has not written yet). A turn not given within
`TURN_TIMEOUT_SECONDS` (three times SQLite's own busy timeout, set in the store's pragmas) is a
`TimeoutError`, as a lock SQLite cannot get is an error: a transaction waiting on another
task's transaction fails instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

TURN_TIMEOUT_SECONDS = 30.0


class WriterTurns:
    """Gives writing transactions their turn, one task at a time; re-entrant per task."""

    def __init__(self, *, enabled: bool, timeout: float = TURN_TIMEOUT_SECONDS) -> None:
        self._enabled = enabled
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for the block (at once when disabled or already held by this task)."""
        me = asyncio.current_task()
        if not self._enabled or (me is not None and self._holder is me):
            yield
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise TimeoutError(
                f"the store's write turn was not given within {self._timeout:g} s"
            ) from None
        try:
            self._holder = me
            yield
        finally:
            self._holder = None
            self._lock.release()
