"""The receiver's way into the inbox: group commit on the driver's fastest path.

Deliveries arriving together share one transaction and one disk flush; each caller still waits
for its own delivery's commit, so nothing is acknowledged before it is durable. This hot path
talks to the driver directly (one round trip per batch, no statement building per call):
asyncpg with one `INSERT … SELECT FROM unnest(…)` on PostgreSQL, a connection of its own in a
worker thread on SQLite. Everything else in the store goes through SQLAlchemy.

One delivery must never fail its neighbours: each is checked against what the inbox columns
can hold before it joins a batch (`UnstorableDeliveryError`, for its caller alone), and a batch
that fails anyway, unless the database is out of reach, is committed again in ever smaller
parts so that only the delivery at fault fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import structlog
from sqlalchemy import String
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.encoding import integer_problem, text_problem
from connector.store.leadership import INBOX_CHANNEL
from connector.store.schema import webhook_inbox
from connector.store.store import Store

log = structlog.get_logger(__name__)
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


@dataclass(frozen=True)
class Delivery:
    """One verified delivery on its way into the inbox."""

    entity: str
    record_id: int
    record_guid: str | None
    event: str
    delivery_id: str | None


class UnstorableDeliveryError(ValueError):
    """A delivery holds a value its inbox column cannot take; `field` names the column."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


def _length(name: str) -> int:
    """The length bound of one of the inbox's text columns."""
    column = webhook_inbox.c[name].type
    if not isinstance(column, String) or column.length is None:
        raise TypeError(f"webhook_inbox.{name} is not bounded text")
    return column.length


_TEXT_LENGTHS = {name: _length(name) for name in ("delivery_id", "entity", "record_guid", "event")}


def check_storable(delivery: Delivery) -> None:
    """Raise UnstorableDeliveryError unless both SQLite and PostgreSQL can store `delivery`."""
    texts = {
        "delivery_id": delivery.delivery_id,
        "entity": delivery.entity,
        "record_guid": delivery.record_guid,
        "event": delivery.event,
    }
    for name, value in texts.items():
        problem = None if value is None else text_problem(value, _TEXT_LENGTHS[name])
        if problem is not None:
            raise UnstorableDeliveryError(name, problem)
    problem = integer_problem(delivery.record_id)
    if problem is not None:
        raise UnstorableDeliveryError("record_id", problem)


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach (then every row would fail alike)."""
    if isinstance(exc, ValueError):  # a value the driver refused (asyncpg's DataError is one)
        return False
    return isinstance(
        exc,
        (
            OSError,
            TimeoutError,
            sqlite3.OperationalError,
            OperationalError,
            InterfaceError,
            DisconnectionError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.InsufficientResourcesError,
        ),
    )


class InboxConnection(Protocol):
    """A connection that inserts batches of deliveries."""

    async def insert(self, rows: list[Delivery], now: datetime) -> set[str]:
        """Insert and commit `rows`; return the delivery ids that were stored before."""

    async def close(self) -> None:
        """Give the connection back."""


class PostgresInbox:
    """Inserts through asyncpg on a pooled connection, one statement per batch."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._connection: AsyncConnection | None = None

    async def insert(self, rows: list[Delivery], now: datetime) -> set[str]:
        """One statement, atomic by itself (one round trip, no explicit transaction)."""
        if self._connection is None:
            self._connection = await self.store.db.engine.connect()
        driver = (await self._connection.get_raw_connection()).driver_connection
        assert driver is not None  # noqa: S101 - a live pooled connection has its driver
        found = await driver.fetch(
            _POSTGRES_INSERT,
            [r.delivery_id for r in rows],
            [r.entity for r in rows],
            [r.record_id for r in rows],
            [r.record_guid for r in rows],
            [r.event for r in rows],
            now,
        )
        if found:  # wake the leader, whichever replica it is (the rows are committed)
            await driver.execute(f"NOTIFY {INBOX_CHANNEL}")
        inserted = {row["delivery_id"] for row in found}
        return {r.delivery_id for r in rows if r.delivery_id and r.delivery_id not in inserted}

    async def close(self) -> None:
        """Return the pooled connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


class SqliteInbox:
    """Inserts on a SQLite connection of its own, one worker-thread call per batch."""

    def __init__(self, store: Store) -> None:
        dialect = store.db.engine.dialect
        self.path = str(store.db.engine.url.database)
        # SQLAlchemy's own conversion, so that the store reads these stamps back as its own.
        processor = webhook_inbox.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._stamp: Callable[[datetime], Any] = processor or (lambda moment: moment)
        self._connection: sqlite3.Connection | None = None

    async def insert(self, rows: list[Delivery], now: datetime) -> set[str]:
        """Insert and commit in one call on a worker thread."""
        return await asyncio.to_thread(self._insert, rows, self._stamp(now))

    def _insert(self, rows: list[Delivery], stamp: Any) -> set[str]:
        """Insert with executemany and commit; return the ids that were stored before.

        When the count shows skipped repeats (rare), the batch is redone row by row to learn
        which.
        """
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        connection = self._connection
        values = [
            (r.delivery_id, r.entity, r.record_id, r.record_guid, r.event, stamp) for r in rows
        ]
        known: set[str] = set()
        try:
            if connection.executemany(_SQLITE_INSERT, values).rowcount != len(values):
                connection.rollback()
                for row in values:
                    if connection.execute(_SQLITE_INSERT, row).rowcount == 0 and row[0]:
                        known.add(row[0])
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        return known

    async def close(self) -> None:
        """Close the connection (the next batch opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)


def open_inbox(store: Store) -> InboxConnection:
    """The inbox connection for the store's database."""
    if store.db.dialect == "postgresql":
        return PostgresInbox(store)
    return SqliteInbox(store)


async def enqueue_many(
    store: Store, deliveries: list[Delivery], inbox: InboxConnection | None = None
) -> list[bool]:
    """Commit deliveries in one transaction; for each, whether it is new.

    A delivery whose id was stored before (a redelivery, also within the same batch) is not.
    A writer passes the inbox connection it keeps; otherwise one is opened for the call.
    Raises UnstorableDeliveryError, storing nothing, when any delivery cannot be stored.
    """
    for delivery in deliveries:
        check_storable(delivery)
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
    connection = inbox or open_inbox(store)
    try:
        known = await connection.insert(rows, store.clock.now().astimezone(UTC))
    finally:
        if inbox is None:
            await connection.close()
    return [
        new and delivery.delivery_id not in known
        for new, delivery in zip(fresh, deliveries, strict=True)
    ]


class InboxWriter:
    """Group commit for the receiver; one delivery's failure is its own."""

    def __init__(
        self,
        store: Store,
        max_batch: int = 500,
        connect: Callable[[Store], InboxConnection] = open_inbox,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self._connect = connect
        self._waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None
        self._inbox: InboxConnection | None = None  # kept while deliveries keep coming

    async def add(self, delivery: Delivery) -> bool:
        """Commit one delivery (with whatever else arrives meanwhile); False for a repeat.

        Raises UnstorableDeliveryError at once, before the delivery joins a batch.
        """
        check_storable(delivery)
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
                await self._drop_connection()  # idle: give the connection back
        # Deliveries arriving while the connection is given back are seen by the `while`: its
        # last check and the task's end have no `await` between them, so none is stranded.

    async def _commit_batch(self) -> None:
        """Commit the next batch and settle its callers' futures.

        A batch that fails while the database is reachable is committed again in halves, each
        half split again while it fails, so that only the deliveries at fault fail (a few more
        commits for one bad delivery among hundreds, not one per delivery).
        """
        batch = self._waiting[: self.max_batch]
        del self._waiting[: self.max_batch]
        pending = [batch]  # parts still to commit, the next one last
        while pending:
            part = pending.pop()
            try:
                results = await self._enqueue([d for d, _ in part])
            except Exception as exc:  # noqa: BLE001 - settled here, for this part's waiters
                if unreachable(exc):  # every part would fail alike: all answer 503
                    _fail([waiter for rest in (part, *pending) for waiter in rest], exc)
                    return
                if len(part) == 1:
                    _fail(part, exc)
                    continue
                if part is batch:
                    log.warning(
                        "webhook.batch_failed", deliveries=len(batch), error=type(exc).__name__
                    )
                half = len(part) // 2
                pending += [part[half:], part[:half]]
                continue
            for (_, future), result in zip(part, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _enqueue(self, deliveries: list[Delivery]) -> list[bool]:
        """Commit deliveries on the kept connection; a failure gives the connection back."""
        try:
            if self._inbox is None:
                self._inbox = self._connect(self.store)
            return await enqueue_many(self.store, deliveries, self._inbox)
        except Exception:
            await self._drop_connection()
            raise

    async def _drop_connection(self) -> None:
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            with contextlib.suppress(Exception):
                await inbox.close()


def _fail(waiters: list[tuple[Delivery, asyncio.Future[bool]]], exc: Exception) -> None:
    """Hand `exc` to every waiter still waiting."""
    for _, future in waiters:
        if not future.done():
            future.set_exception(exc)
