"""Statement helpers that work on SQLite and PostgreSQL alike, and stored moments in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(
    conn: AsyncConnection,
    table: Any,
    values: dict[str, Any],
    keys: tuple[str, ...],
    *,
    update_only: tuple[str, ...] | None = None,
) -> None:
    """Insert or update by primary key, on SQLite and PostgreSQL alike."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    columns = update_only or tuple(k for k in values if k not in keys)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    await conn.execute(statement)


async def upsert_many(
    conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> None:
    """Insert or update many rows by primary key: one statement, executed for every row.

    The statement's text is the same whatever the rows, so SQLAlchemy compiles it once and
    caches it; a multi-row VALUES clause was compiled again for every batch (most of a
    backfill's own CPU time).
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    columns = [c for c in rows[0] if c not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    await conn.execute(statement, rows)


def utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC (None stays None)."""
    return None if moment is None else moment.astimezone(UTC)


def aware(moment: datetime) -> datetime:
    """Datetimes are stored in UTC; SQLite returns them without their zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
