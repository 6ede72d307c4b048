"""The scheduler lock: only its holder runs the scheduled jobs, drains the queues and calls Wisenet.

So the deployment as a whole keeps the key's rate however many replicas serve webhooks.

On PostgreSQL the lock is a session advisory lock taken on a connection of its own (outside the
pool): it is held exactly as long as that connection lives. A replica that dies frees it when
its connection closes; one cut off from the database frees it when the server gives the
connection up (TCP keepalives and a user timeout set to the lease period), and stops working as
leader by itself sooner, since its heartbeat on that connection fails first. The same connection
listens for the receiver's inbox notifications, so the leader hears of deliveries that other
replicas accepted at once.

On SQLite (one process by design) the lock is a row in the `locks` table, renewed while held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import asyncpg
import structlog
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import JobBusyError
from connector.store.database import Database
from connector.store.locks import Locks
from connector.store.schema import locks
from connector.store.sql import aware

log = structlog.get_logger(__name__)
SCHEDULER_LOCK = "scheduler"
# pg_advisory_lock key: the bytes of "WNSCHED\0" as a signed 64-bit integer, fixed forever.
ADVISORY_KEY = int.from_bytes(b"WNSCHED\x00", "big", signed=True)
APPLICATION_PREFIX = "connector scheduler "
INBOX_CHANNEL = "connector_inbox"  # the receiver's NOTIFY after committing deliveries
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Leadership(Protocol):
    """Take, keep and give back the scheduler lock."""

    async def acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it now."""

    async def renew(self) -> bool:
        """Whether the lock is still held (checked against the database)."""

    async def release(self) -> None:
        """Give the lock back (never raises)."""

    def holder(self) -> str:
        """Who this process is, as the lock records it."""


class AdvisoryLeadership:
    """The PostgreSQL advisory lock on a dedicated connection."""

    def __init__(
        self, db: Database, owner: str, lease: timedelta, on_inbox: Callable[[], None]
    ) -> None:
        self.dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.owner = owner
        self.lease = lease
        self.on_inbox = on_inbox
        self._connection: asyncpg.Connection | None = None

    def holder(self) -> str:
        """This process, as `application_name` of the lock's connection shows it."""
        return self.owner

    async def acquire(self) -> bool:
        """Connect (with a lease-long timeout and keepalives) and try the lock."""
        seconds = self.lease.total_seconds()
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(
                    self.dsn,
                    timeout=seconds,
                    server_settings=_server_settings(self.owner, seconds),
                )
            async with asyncio.timeout(seconds):
                held = bool(
                    await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_KEY)
                )
            if held:
                await self._connection.add_listener(INBOX_CHANNEL, self._notified)
        except DATABASE_ERRORS as exc:
            log.warning("leader.store_unreachable", error=type(exc).__name__)
            await self._drop()
            return False
        return held

    async def renew(self) -> bool:
        """One round trip on the lock's connection within a third of the lease."""
        if self._connection is None or self._connection.is_closed():
            return False
        try:
            async with asyncio.timeout(self.lease.total_seconds() / 3):
                await self._connection.fetchval("SELECT 1")
        except DATABASE_ERRORS as exc:
            log.warning("leader.heartbeat_failed", error=type(exc).__name__)
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Close the connection: the session's advisory lock goes with it."""
        await self._drop()

    def _notified(self, *_: Any) -> None:
        self.on_inbox()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            async with asyncio.timeout(2):
                await connection.close()
        except (*DATABASE_ERRORS, asyncio.CancelledError):
            connection.terminate()


class TableLeadership:
    """A row in the `locks` table with a lease (SQLite: one process, kept honest)."""

    def __init__(self, locks: Locks, owner: str, lease: timedelta) -> None:
        self.locks = locks
        self.owner = owner
        self.lease = lease

    def holder(self) -> str:
        """This process, as the lock row records it."""
        return self.owner

    async def acquire(self) -> bool:
        """Take the row unless a live lease of another process holds it."""
        try:
            await self.locks.acquire(SCHEDULER_LOCK, self.owner, self.lease)
        except JobBusyError:
            return False
        except (SQLAlchemyError, OSError) as exc:
            log.warning("leader.store_unreachable", error=type(exc).__name__)
            return False
        return True

    async def renew(self) -> bool:
        """Extend the lease (False if another process took the row meanwhile)."""
        return await self.acquire()

    async def release(self) -> None:
        """Delete the row if still this process's."""
        try:
            await self.locks.release(SCHEDULER_LOCK, self.owner)
        except Exception as exc:  # noqa: BLE001 - releasing must not raise; the lease ends anyway
            log.warning("leader.release_failed", error=type(exc).__name__)


def _server_settings(owner: str, lease_seconds: float) -> dict[str, str]:
    """Session settings that make the server drop (and unlock) a vanished holder in a lease."""
    keepalive = max(1, int(lease_seconds / 3))
    return {
        # The leader speaks on this connection every third of the lease; a frozen one does not.
        "idle_session_timeout": str(int(lease_seconds * 1000)),
        "application_name": f"{APPLICATION_PREFIX}{owner}"[:63],
        "tcp_keepalives_idle": str(keepalive),
        "tcp_keepalives_interval": str(keepalive),
        "tcp_keepalives_count": "2",
        "tcp_user_timeout": str(int(lease_seconds * 1000)),
    }


class SchedulerLock:
    """The scheduler lock of this store: who may take it, and who holds it."""

    def __init__(self, db: Database, locks: Locks) -> None:
        self._db = db
        self._locks = locks

    def leadership(self, owner: str, lease: timedelta, on_inbox: Callable[[], None]) -> Leadership:
        """The advisory lock on PostgreSQL, the lock row elsewhere."""
        if self._db.dialect == "postgresql":
            return AdvisoryLeadership(self._db, owner, lease, on_inbox)
        return TableLeadership(self._locks, owner, lease)

    async def holder(self) -> str | None:
        """Which process holds the scheduler lock now, if any (for `status`)."""
        async with self._db.connect() as conn:
            if self._db.dialect == "postgresql":
                name = (
                    await conn.execute(
                        text(
                            "SELECT a.application_name FROM pg_locks l "
                            "JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                            "AND l.classid::bigint = :high AND l.objid::bigint = :low "
                            # advisory locks are per database; pg_locks lists the whole cluster's
                            "AND l.database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())"
                        ),
                        {"high": ADVISORY_KEY >> 32, "low": ADVISORY_KEY & 0xFFFFFFFF},
                    )
                ).scalar()
                return None if name is None else str(name).removeprefix(APPLICATION_PREFIX)
            row = (
                await conn.execute(
                    select(locks.c.owner, locks.c.expires_at).where(locks.c.name == SCHEDULER_LOCK)
                )
            ).first()
        if row is None or aware(row.expires_at) <= self._db.clock.now():
            return None
        return str(row.owner)
