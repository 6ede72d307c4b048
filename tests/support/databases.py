"""Databases for store tests: a SQLite file, or a fresh PostgreSQL database per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

PG_HOST = "127.0.0.1"
PG_USER = "postgres"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for processes a synchronous test starts, dropped afterwards."""
    name = f"connector_{uuid.uuid4().hex[:12]}"
    asyncio.run(_administer(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}/{name}"
    finally:
        asyncio.run(_administer(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _administer(statement: str) -> None:
    admin = await asyncpg.connect(host=PG_HOST, user=PG_USER, database="test")
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def database(kind: str, folder: Path) -> AsyncIterator[str]:
    """A database URL of `kind` (`sqlite` or `postgresql`), removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'store.db'}"
        return
    name = f"connector_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host=PG_HOST, user=PG_USER, database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
