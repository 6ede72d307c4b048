"""Leases on queued work, and when a lock holder takes them over.

Outbox writes and inbox deliveries are leased to the worker that sends or processes them, so
two workers never take the same row. Only a lock holder works the queues: a CLI run holds its
job lock, each of the service's jobs holds its own (and the leader the scheduler lock), and a
worker's leases carry the same owner id as its locks. So a lease is live only while its owner
holds an unexpired lock and is not a process of this host that has died.

The next lock holder takes over at once, instead of waiting for the lease to run out, every
lease whose owner is gone (killed, its lock expired or taken over from a dead process) or is
itself (a job cut short by a database outage, whose leases could not be given back): one
process runs its jobs one at a time, so none of its own leases is in use when a job starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update

from connector.errors import ConnectorError
from connector.store.schema import locks, outbox, webhook_inbox
from connector.store.store import Store, aware, dead_local_owner

# Each leased queue, with what marks a row still waiting in it.
QUEUES: tuple[tuple[Any, ColumnElement[bool]], ...] = (
    (webhook_inbox, webhook_inbox.c.processed_at.is_(None)),
    (outbox, outbox.c.lease_owner.is_not(None)),
)


@dataclass(frozen=True)
class HeldWrites:
    """Due writes a live owner other than the asker holds: how many, by whom, until when."""

    count: int
    owners: tuple[str, ...]
    until: datetime | None

    def message(self) -> str:
        """One line for a person: what was not sent, who holds it, when its lease ends."""
        until = "" if self.until is None else f", leased until {self.until:%Y-%m-%d %H:%M:%S %Z}"
        return (
            f"{self.count} writes are held by another running process "
            f"({', '.join(self.owners)}{until}); this run did not send them"
        )


class WritesHeldError(ConnectorError):
    """A run ended with due writes still leased by another live process."""


async def take_over(store: Store, owner: str) -> dict[str, int]:
    """Free the leases whose owner is `owner` itself or holds no live lock; count them per queue.

    Call it right after taking a lock that lets `owner` work the queues, before claiming.
    """
    now = store.clock.now().astimezone(UTC)
    counts: dict[str, int] = {}
    async with store.transaction() as conn:
        holders: set[str] = set()
        for table, waiting in QUEUES:
            leased = select(table.c.lease_owner).distinct()
            leased = leased.where(waiting, table.c.lease_until.is_not(None))
            holders.update(str(o) for o in (await conn.execute(leased)).scalars() if o)
        dead = sorted(o for o in holders if dead_local_owner(o))
        for table, waiting in QUEUES:
            locked = exists().where(locks.c.owner == table.c.lease_owner, locks.c.expires_at > now)
            gone = or_(table.c.lease_owner == owner, table.c.lease_owner.in_(dead), ~locked)
            result = await conn.execute(
                update(table)
                .where(waiting, table.c.lease_until.is_not(None), gone)
                .values(lease_owner=None, lease_until=None)
            )
            counts[table.name] = int(result.rowcount or 0)
    return counts


async def held_writes(store: Store, owner: str) -> HeldWrites:
    """Due writes that a live lease of another owner holds now (after `owner`'s run)."""
    now = store.clock.now().astimezone(UTC)
    due = or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now)
    held = (due, outbox.c.lease_until > now, outbox.c.lease_owner != owner)
    async with store.engine.connect() as conn:
        count, until = (
            await conn.execute(select(func.count(), func.max(outbox.c.lease_until)).where(*held))
        ).one()
        owners = (
            await conn.execute(
                select(outbox.c.lease_owner).distinct().where(*held).order_by(outbox.c.lease_owner)
            )
        ).scalars()
        ends = None if until is None else aware(until)
        return HeldWrites(int(count), tuple(str(o) for o in owners), ends)
