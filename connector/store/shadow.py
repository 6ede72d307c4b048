"""A dry run's store: the real store's rows copied into session-private tables.

A dry run runs the very same job code as a real run, against a copy that vanishes with it:
one connection copies every table of the store into a temporary table of the same name, which
shadows the real one for that connection (SQLite and PostgreSQL both look up temporary tables
first), so every read and write of the run goes to the copy. The real tables are not writable
on that connection, so a copy that went missing (a dropped connection) fails the run instead
of writing the store:

- SQLite: the file is opened read-only (`mode=ro`); its bytes do not change.
- PostgreSQL: every transaction of the session is read-only except the one that makes the
  copy, and PostgreSQL lets a read-only transaction write temporary tables only. The copy is
  read in one transaction; it holds no lock on the store's rows afterwards, so a service
  running beside a dry run is never held up by it. Serial ids count on in the copy's own
  sequences, not the store's.

A SQLite store that does not exist yet is planned on an empty in-memory store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData, Table, event, false, func, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from connector.errors import ConfigurationError
from connector.store import migrate
from connector.store.schema import metadata

_REAL_SCHEMA = {"sqlite": "main"}  # PostgreSQL's is the session's current schema
_COPY_SCHEMA = {"sqlite": "temp", "postgresql": "pg_temp"}


async def shadow_engine(url: str) -> AsyncEngine:
    """An engine of one connection whose store tables are private copies of those at `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        found = await asyncio.to_thread(_sqlite_file, parsed)
        if found is None:
            return await _empty_sqlite(parsed)
        engine = create_async_engine(
            parsed.set(database=f"file:{quote(found)}", query={"mode": "ro", "uri": "true"}),
            pool_size=1,
            max_overflow=0,
        )
        event.listen(engine.sync_engine, "connect", _wait_for_writers)
    else:
        engine = create_async_engine(
            parsed,
            pool_size=1,
            max_overflow=0,
            connect_args={"server_settings": {"default_transaction_read_only": "on"}},
        )
    try:
        await _require_current_schema(engine)
        async with engine.begin() as conn:
            await _copy_tables(conn)
    except BaseException:
        await engine.dispose()
        raise
    return engine


def _sqlite_file(parsed: URL) -> str | None:
    """The absolute path of the SQLite file, if there is one."""
    if parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    return str(path.resolve()) if path.exists() else None


async def _require_current_schema(engine: AsyncEngine) -> None:
    """Refuse a schema behind the code: the copy is made from the code's tables."""
    if await migrate.current_revision(engine) != migrate.head_revision():
        raise ConfigurationError(
            "the database schema is not current; a dry run changes nothing, "
            "so run `connector db upgrade` (or a real sync) first"
        )


def _wait_for_writers(connection: Any, _: object) -> None:
    """A reader of a SQLite file waits for a writer's lock like the store's own connections."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


async def _empty_sqlite(parsed: URL) -> AsyncEngine:
    """An in-memory store at the current schema, for a dry run before the first sync."""
    engine = create_async_engine(URL.create(parsed.drivername), poolclass=StaticPool)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


async def _copy_tables(conn: AsyncConnection) -> None:
    """Create a temporary copy of every store table (rows, keys, indexes and serial counters)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # One snapshot of every table, in the one transaction of the session that may write.
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE"))
        real_schema = str((await conn.execute(select(func.current_schema()))).scalar_one())
    else:
        await conn.execute(text("BEGIN"))  # one read of the file for all tables
        real_schema = _REAL_SCHEMA[dialect]
    copies, reals = MetaData(), MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(copies, schema=_COPY_SCHEMA[dialect])
        table.to_metadata(reals, schema=real_schema)
    await conn.run_sync(copies.create_all, checkfirst=False)
    for copy in copies.sorted_tables:
        real = reals.tables[f"{real_schema}.{copy.name}"]
        names = [column.name for column in copy.columns]
        await conn.execute(insert(copy).from_select(names, select(*real.c)))
        if dialect == "postgresql":
            await _continue_counter(conn, copy)


async def _continue_counter(conn: AsyncConnection, copy: Table) -> None:
    """Set a copied table's serial counter past the ids copied into it (PostgreSQL)."""
    column = copy.autoincrement_column
    if column is None:
        return
    sequence = func.pg_get_serial_sequence(f"pg_temp.{copy.name}", column.name)
    following = func.coalesce(select(func.max(column)).scalar_subquery(), 0) + 1
    await conn.execute(select(func.setval(sequence, following, false())))
