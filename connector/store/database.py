"""The database handle every table family is built on: engine, clock, writer turns.

`Database.open` connects, migrates (SQLite) or checks the schema (PostgreSQL); failures are one
line naming CONNECTOR_DATABASE_URL (`connector.store.opening`). Writes go through
`transaction()`, which takes the writer's turn first (`connector.store.writer_turns`); reads
use `connect()`, which takes no turn.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from connector.clock import Clock
from connector.errors import ConfigurationError, MissingStoreError
from connector.store import migrate
from connector.store.opening import missing_store, store_opening, where
from connector.store.shadow import shadow_engine
from connector.store.writer_turns import WriterTurns


class Database:
    """The store's engine and clock; transactions take their turn to write."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._turns = WriterTurns(enabled=engine.dialect.name == "sqlite")

    @property
    def dialect(self) -> str:
        """The database's dialect name: "sqlite" or "postgresql"."""
        return str(self.engine.dialect.name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends (its turn taken first)."""
        async with self._turns.turn(), self.engine.begin() as conn:
            yield conn

    def connect(self) -> AsyncConnection:
        """A connection for reads (no turn taken; what it reads is rolled back at its end)."""
        return self.engine.connect()

    async def ping(self) -> None:
        """One round trip to the database (raises when it does not answer)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Release the connection pool."""
        await self.engine.dispose()

    @classmethod
    async def open(cls, url: str, clock: Clock, *, create: bool, dry_run: bool) -> Database:
        """Connect to the store at `url`: created (when `create`) and migrated, or checked.

        A dry run's database is a private copy that vanishes when it is closed
        (`connector.store.shadow`).
        """
        with store_opening(url):
            parsed = make_url(url)
            on_sqlite = parsed.get_backend_name() == "sqlite"
            file = parsed.database if on_sqlite and parsed.database != ":memory:" else None
            if file and not create:
                _require_sqlite_file(Path(file), url)
            if dry_run:  # the copy checks the schema itself and creates nothing
                return cls(await shadow_engine(url), clock)
            if file and create:
                _create_private_file(Path(file), url)
            # A connection cut while the database was away is replaced, not handed out broken.
            engine = create_async_engine(url, pool_pre_ping=not on_sqlite)
            if on_sqlite:
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            try:
                if not create:
                    await _require_tables(engine, url)
                if on_sqlite:
                    await migrate.upgrade(engine)
                else:
                    await _require_current_schema(engine)
            except BaseException:
                await engine.dispose()
                raise
            return cls(engine, clock)


async def _require_tables(engine: AsyncEngine, url: str) -> None:
    """Refuse a database no migration has run on: it holds no store."""
    if await migrate.current_revision(engine) is None:
        raise MissingStoreError(missing_store(url, "without the store's tables"))


async def _require_current_schema(engine: AsyncEngine) -> None:
    """Refuse a PostgreSQL schema that `connector db upgrade` has not brought to the head."""
    if await migrate.current_revision(engine) != migrate.head_revision():
        raise ConfigurationError(
            "the database schema is not current; run `connector db upgrade` first"
        )


def _sqlite_pragmas(connection: Any, _: object) -> None:
    """SQLite settings for a service with a receiver and a worker sharing the file.

    Write-ahead logging, so inserts and reads do not block each other; a commit still reaches
    the disk before it returns (synchronous FULL); a writer waits for the lock, never fails at
    once.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _require_sqlite_file(path: Path, url: str) -> None:
    """Refuse a SQLite file that does not exist or is empty, before a connection creates it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MissingStoreError(missing_store(url, "")) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{where(url)}: cannot read the SQLite file ({exc.strerror})"
        ) from exc
    if size == 0:
        raise MissingStoreError(missing_store(url, "(an empty file)"))


def _create_private_file(path: Path, url: str) -> None:
    """Create the SQLite file readable by its owner only (it holds personal data)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise ConfigurationError(
            f"{where(url)}: cannot create the SQLite file ({exc.strerror})"
        ) from exc
