"""Deciding while writing: what the writer needs to know of decisions still being made.

A sync decides learners in batches; each batch's writes are queued in the same transaction as
its decisions. The writer sends them as they come instead of after the last batch, so the
store and CPU work of deciding overlaps the waits between PATCHes. It stops once deciding is
over and the outbox holds nothing more it can send.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Deciding:
    """Signals from a decide in progress to the write-back beside it."""

    recorded: asyncio.Event = field(default_factory=asyncio.Event)  # a batch was queued
    done: asyncio.Event = field(default_factory=asyncio.Event)  # nothing more will be queued

    async def next_batch(self) -> None:
        """Wait until another batch is queued or deciding is over (then return at once)."""
        if self.done.is_set() or self.recorded.is_set():
            return
        batch = asyncio.ensure_future(self.recorded.wait())
        over = asyncio.ensure_future(self.done.wait())
        try:
            await asyncio.wait((batch, over), return_when=asyncio.FIRST_COMPLETED)
        finally:
            batch.cancel()
            over.cancel()
