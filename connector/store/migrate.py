"""Applying and checking the store's Alembic migrations.

On SQLite they are applied automatically at start-up, all of them in one transaction (SQLite's
DDL is transactional once the driver stops managing transactions itself), so a process killed
halfway leaves the file as it was. On PostgreSQL `connector db upgrade` applies them under an
advisory lock, and the service refuses to run on a schema that is not at the head revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from connector.store.opening import store_opening

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 7_201_455  # advisory lock id of schema upgrades
ERASING_REVISION = "0007"  # turns stored USIs into facts, in place


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # noqa: S101 - there is always an initial revision
    return head


def _upgrade(connection: Connection, target: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    command.upgrade(_config(connection), target)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    """Bring the schema to `target` (the head revision unless told otherwise), atomically.

    When the upgrade erased personal data in place (revision 0007 on a store that had data), the
    old row versions are dropped from disk too, in the same transaction.
    """
    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            before = await connection.run_sync(_current)
            await connection.run_sync(_upgrade, target)
            after = await connection.run_sync(_current)
            if _erased_personal_data(before, after):
                await connection.run_sync(_rewrite_tables)
        return
    atomic = create_async_engine(engine.url, poolclass=NullPool)
    event.listen(atomic.sync_engine, "connect", _driver_leaves_transactions_to_us)
    event.listen(atomic.sync_engine, "begin", _begin_immediate)
    try:
        async with atomic.begin() as connection:
            await connection.run_sync(_upgrade, target)
    finally:
        await atomic.dispose()
    await _checkpoint(engine)


def _erased_personal_data(before: str | None, after: str | None) -> bool:
    """Whether the upgrade from `before` to `after` ran a revision that erases data in place."""
    return before is not None and after is not None and before < ERASING_REVISION <= after


def _rewrite_tables(connection: Connection) -> None:
    """Give every table new files holding only its live rows, in the upgrade's own transaction.

    PostgreSQL keeps replaced row versions on disk until a table is rewritten. `VACUUM FULL`
    keeps the versions an open snapshot might still see (a session elsewhere on the server still
    starting, say), so a USI could survive it. `TRUNCATE` ignores snapshots: the old files are
    dropped at commit, and the copied live rows are all the new ones hold.
    """
    for name in inspect(connection).get_table_names():
        table = connection.dialect.identifier_preparer.quote(name)
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE _live ON COMMIT DROP AS TABLE {table}")
        connection.exec_driver_sql(f"TRUNCATE {table}")
        connection.exec_driver_sql(f"INSERT INTO {table} OVERRIDING SYSTEM VALUE TABLE _live")
        connection.exec_driver_sql("DROP TABLE _live")


async def _checkpoint(engine: AsyncEngine) -> None:
    """Move the write-ahead log into the file and empty it.

    No page a migration replaced (one holding a USI it erased, say) stays behind in the log.
    """
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _driver_leaves_transactions_to_us(connection: Any, _: object) -> None:
    """The sqlite3 driver commits before DDL by itself unless told to leave transactions be."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # a second process starting waits its turn
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """One write transaction for every migration (taking the write lock at once)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade_database(url: str) -> str:
    """`connector db upgrade`: bring the database at `url` to the head revision; return it."""
    with store_opening(url):
        engine = create_async_engine(url)
        try:
            await upgrade(engine)
            current = await current_revision(engine)
        finally:
            await engine.dispose()
    return current or ""
