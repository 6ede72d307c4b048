"""The webhook inbox: verified deliveries, durable before they are acknowledged.

The receiver inserts one row per delivery (a repeated delivery id is recognised and not stored
twice). The inbox worker claims pending rows with a lease (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so replicas share the work), and marks them processed once their effects are
committed; a row whose lease ran out is claimed again, which is harmless since processing is
idempotent. Processed rows stay for the retention period as the log of what was handled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.schema import webhook_inbox
from connector.store.store import Store, aware


@dataclass(frozen=True)
class InboxEntry:
    """One pending delivery: which record of which entity, and what happened to it."""

    id: int
    entity: str
    record_id: int
    event: str
    received_at: datetime


@dataclass(frozen=True)
class InboxState:
    """How the inbox stands: pending rows, the oldest pending, the latest delivery."""

    depth: int
    oldest_pending: datetime | None
    last_delivery: datetime | None


@dataclass(frozen=True)
class Delivery:
    """One verified delivery on its way into the inbox."""

    entity: str
    record_id: int
    record_guid: str | None
    event: str
    delivery_id: str | None


# The receiver's hot path talks to the driver directly: one round trip per batch, no statement
# building per call. Everything else in the store goes through SQLAlchemy.
_COLUMNS = "delivery_id, entity, record_id, record_guid, event, received_at"
_SQLITE_INSERT = (
    f"INSERT INTO webhook_inbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "  # noqa: S608 - constants
    "ON CONFLICT (delivery_id) DO NOTHING"
)
_POSTGRES_INSERT = (
    f"INSERT INTO webhook_inbox ({_COLUMNS}) "  # noqa: S608 - constants
    "SELECT d, e, r, g, v, $6 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], "
    "$5::text[]) AS u(d, e, r, g, v) ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id"
)


async def enqueue_many(
    store: Store, deliveries: list[Delivery], connection: AsyncConnection | None = None
) -> list[bool]:
    """Commit deliveries in one transaction; for each, whether it is new.

    A delivery whose id was stored before (a redelivery, also within the same batch) is not.
    The transaction runs on `connection` when one is given (a writer keeps its own).
    """
    now = store.clock.now().astimezone(UTC)
    fresh: list[bool] = []
    seen: set[str] = set()
    rows: list[Delivery] = []
    for delivery in deliveries:
        repeated = delivery.delivery_id is not None and delivery.delivery_id in seen
        if delivery.delivery_id is not None:
            seen.add(delivery.delivery_id)
        fresh.append(not repeated)
        if not repeated:
            rows.append(delivery)
    async with _connected(store, connection) as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        if conn.dialect.name == "postgresql":
            inserted = await _insert_postgres(driver, rows, now)
            known = {d for d in seen if d not in inserted}
        else:
            stamp = webhook_inbox.c.received_at.type.dialect_impl(conn.dialect).bind_processor(
                conn.dialect
            )
            known = await _insert_sqlite(driver, rows, stamp(now) if stamp else now)
    return [
        new and delivery.delivery_id not in known
        for new, delivery in zip(fresh, deliveries, strict=True)
    ]


async def _insert_postgres(driver: Any, rows: list[Delivery], now: datetime) -> set[str]:
    """Insert in one statement, atomic by itself (one round trip); return the ids that went in."""
    found = await driver.fetch(
        _POSTGRES_INSERT,
        [r.delivery_id for r in rows],
        [r.entity for r in rows],
        [r.record_id for r in rows],
        [r.record_guid for r in rows],
        [r.event for r in rows],
        now,
    )
    return {row["delivery_id"] for row in found}


async def _insert_sqlite(driver: Any, rows: list[Delivery], stamp: Any) -> set[str]:
    """Insert with executemany (aiosqlite) and commit; return the ids that were stored before.

    When the count says some rows were skipped (repeats are rare), the batch is redone row by
    row to learn which.
    """
    values = [(r.delivery_id, r.entity, r.record_id, r.record_guid, r.event, stamp) for r in rows]
    known: set[str] = set()
    try:
        cursor = await driver.executemany(_SQLITE_INSERT, values)
        if cursor.rowcount != len(rows):
            await driver.rollback()
            for row in values:
                cursor = await driver.execute(_SQLITE_INSERT, row)
                if cursor.rowcount == 0 and row[0] is not None:
                    known.add(row[0])
        await driver.commit()
    except BaseException:
        await driver.rollback()
        raise
    return known


@asynccontextmanager
async def _connected(
    store: Store, connection: AsyncConnection | None
) -> AsyncIterator[AsyncConnection]:
    if connection is not None:
        yield connection
        return
    async with store.engine.connect() as conn:
        yield conn


class InboxWriter:
    """Group commit: deliveries arriving together share one transaction (and one fsync).

    Each caller still waits until its own delivery is committed, so nothing is acknowledged
    before it is durable; a failed commit fails every delivery of its batch.
    """

    def __init__(self, store: Store, max_batch: int = 500) -> None:
        self.store = store
        self.max_batch = max_batch
        self._waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None  # kept between batches

    async def add(self, delivery: Delivery) -> bool:
        """Commit one delivery (with whatever else arrives meanwhile); False for a repeat."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((delivery, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._commit_all())
        return await future

    async def _commit_all(self) -> None:
        """Commit batches until nobody waits (the task ends; the next delivery starts one)."""
        while self._waiting:
            await self._commit_batch()
            if not self._waiting:
                await self._drop_connection()  # idle: the pool gets it back
        # Deliveries arriving while the connection is returned are seen by the `while`: its
        # last check and the task's end have no `await` between them, so none is stranded.

    async def _commit_batch(self) -> None:
        """Commit the next batch and settle its callers' futures."""
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        try:
            if self._connection is None:
                self._connection = await self.store.engine.connect()
            results = await enqueue_many(
                self.store, [delivery for delivery, _ in batch], self._connection
            )
        except Exception as exc:  # noqa: BLE001 - handed to every waiter, who answers 503
            await self._drop_connection()
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


async def claim(store: Store, owner: str, limit: int, lease: timedelta) -> list[InboxEntry]:
    """Lease up to `limit` pending rows (oldest first) that no live lease holds."""
    now = store.clock.now().astimezone(UTC)
    free = and_(
        webhook_inbox.c.processed_at.is_(None),
        or_(webhook_inbox.c.lease_until.is_(None), webhook_inbox.c.lease_until < now),
    )
    async with store.engine.begin() as conn:
        candidates = (
            select(webhook_inbox.c.id)
            .where(free)
            .order_by(webhook_inbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [row.id for row in await conn.execute(candidates)]
        if not ids:
            return []
        await conn.execute(
            update(webhook_inbox)
            .where(webhook_inbox.c.id.in_(ids))
            .values(lease_owner=owner, lease_until=now + lease)
        )
        rows = await conn.execute(
            select(
                webhook_inbox.c.id,
                webhook_inbox.c.entity,
                webhook_inbox.c.record_id,
                webhook_inbox.c.event,
                webhook_inbox.c.received_at,
            )
            .where(webhook_inbox.c.id.in_(ids))
            .order_by(webhook_inbox.c.id)
        )
        return [
            InboxEntry(row.id, row.entity, int(row.record_id), row.event, aware(row.received_at))
            for row in rows
        ]


async def complete(store: Store, outcomes: dict[int, str], owner: str) -> int:
    """Mark leased rows processed with their outcome; return how many this owner still held."""
    now = store.clock.now().astimezone(UTC)
    done = 0
    async with store.engine.begin() as conn:
        for outcome in sorted(set(outcomes.values())):
            ids = [key for key, value in outcomes.items() if value == outcome]
            result = await conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id.in_(ids), webhook_inbox.c.lease_owner == owner)
                .values(processed_at=now, outcome=outcome, lease_until=None)
            )
            done += int(result.rowcount or 0)
    return done


async def release(store: Store, ids: Iterable[int], owner: str) -> None:
    """Give leased rows back unprocessed (they are claimed again later)."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(webhook_inbox)
            .where(webhook_inbox.c.id.in_(list(ids)), webhook_inbox.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


async def inbox_state(store: Store) -> InboxState:
    """Pending rows, the oldest of them, and when the latest delivery arrived."""
    async with store.engine.connect() as conn:
        pending = (
            await conn.execute(
                select(func.count(), func.min(webhook_inbox.c.received_at)).where(
                    webhook_inbox.c.processed_at.is_(None)
                )
            )
        ).one()
        latest = (await conn.execute(select(func.max(webhook_inbox.c.received_at)))).scalar()
    return InboxState(
        int(pending[0]),
        None if pending[1] is None else aware(pending[1]),
        None if latest is None else aware(latest),
    )


async def announced(store: Store, entity: str, ids: Iterable[int], since: datetime) -> set[int]:
    """The ids among `ids` that a delivery for `entity` named since `since`."""
    wanted = sorted(set(ids))
    found: set[int] = set()
    async with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            rows = await conn.execute(
                select(webhook_inbox.c.record_id).where(
                    webhook_inbox.c.entity == entity,
                    webhook_inbox.c.record_id.in_(wanted[start : start + 500]),
                    webhook_inbox.c.received_at >= since.astimezone(UTC),
                )
            )
            found.update(int(row.record_id) for row in rows)
    return found
