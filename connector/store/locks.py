"""Job locks, and the leases on queued work a lock holder takes over.

A job holds its lock (a row of `locks` with an expiry) while it runs; a lock held by a process
of this host that has died is free.

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

import os
import socket
import uuid
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select, update

from connector.errors import JobBusyError
from connector.store.database import Database
from connector.store.schema import locks, outbox, webhook_inbox
from connector.store.sql import aware, upsert

# Each leased queue, with what marks a row still waiting in it.
QUEUES: tuple[tuple[Any, ColumnElement[bool]], ...] = (
    (webhook_inbox, webhook_inbox.c.processed_at.is_(None)),
    (outbox, outbox.c.lease_owner.is_not(None)),
)


def worker_id() -> str:
    """Who holds a lock or a lease: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def dead_local_owner(owner: str) -> bool:
    """Whether a lock's owner (`host:pid:…`) is a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Locks:
    """The `locks` table, and the leases of the queues its holders work."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, owner: str, ttl: timedelta) -> None:
        """Take a job's lock for `ttl`, or raise JobBusyError naming when it frees."""
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            row = (await conn.execute(select(locks).where(locks.c.name == name))).first()
            held = row is not None and row.owner != owner and aware(row.expires_at) > now
            if held and row is not None and not dead_local_owner(row.owner):
                raise JobBusyError(
                    f"the {name} job is running in another process (its lock is held until "
                    f"{aware(row.expires_at).isoformat(timespec='seconds')}); try again later"
                )
            await upsert(
                conn,
                locks,
                {"name": name, "owner": owner, "expires_at": (now + ttl).astimezone(UTC)},
                ("name",),
            )

    async def release(self, name: str, owner: str) -> None:
        """Give a job's lock back (only its owner can)."""
        async with self._db.transaction() as conn:
            await conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))

    async def take_over(self, owner: str) -> dict[str, int]:
        """Free the leases whose owner is `owner` or holds no live lock; count them per queue.

        Call it right after taking a lock that lets `owner` work the queues, before claiming.
        """
        now = self._db.clock.now().astimezone(UTC)
        counts: dict[str, int] = {}
        async with self._db.transaction() as conn:
            holders: set[str] = set()
            for table, waiting in QUEUES:
                leased = select(table.c.lease_owner).distinct()
                leased = leased.where(waiting, table.c.lease_until.is_not(None))
                holders.update(str(o) for o in (await conn.execute(leased)).scalars() if o)
            dead = sorted(o for o in holders if dead_local_owner(o))
            for table, waiting in QUEUES:
                locked = exists().where(
                    locks.c.owner == table.c.lease_owner, locks.c.expires_at > now
                )
                gone = or_(table.c.lease_owner == owner, table.c.lease_owner.in_(dead), ~locked)
                result = await conn.execute(
                    update(table)
                    .where(waiting, table.c.lease_until.is_not(None), gone)
                    .values(lease_owner=None, lease_until=None)
                )
                counts[table.name] = int(result.rowcount or 0)
        return counts
