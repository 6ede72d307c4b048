"""One writing transaction at a time per process on SQLite, woken in order.

SQLite has one writer at a time. A connection that finds the file locked waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries however soon the lock is freed:
with the writer's lanes, the budget count before every request and the commit after every
PATCH waited 10 to 20 ms each for locks held a millisecond. Transactions of one process therefore
take turns on an asyncio lock, which hands the turn on the moment it is given back; other
processes still meet SQLite's own lock and its busy timeout. PostgreSQL has row locks and takes
no turns.

A task that already holds the turn keeps it for a transaction opened inside its own (SQLite's
deferred transactions allow one that has not written yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterTurns:
    """Gives writing transactions their turn, one task at a time; re-entrant per task."""

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for the block (at once when disabled or already held by this task)."""
        me = asyncio.current_task()
        if not self._enabled or (me is not None and self._holder is me):
            yield
            return
        async with self._lock:
            self._holder = me
            try:
                yield
            finally:
                self._holder = None
