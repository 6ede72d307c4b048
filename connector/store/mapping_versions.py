"""Mapping versions: every mapping ever activated, and which one is active.

`connector mapping apply` is the only switch; every decision records the version that made it.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select, update

from connector.store.database import Database
from connector.store.schema import mapping_versions


class MappingVersions:
    """The `mapping_versions` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def active(self) -> tuple[int, str, str] | None:
        """The active mapping: (version, source, text)."""
        async with self._db.connect() as conn:
            found = (
                await conn.execute(
                    select(
                        mapping_versions.c.version,
                        mapping_versions.c.source,
                        mapping_versions.c.text,
                    ).where(mapping_versions.c.active.is_(True))
                )
            ).first()
        return None if found is None else (found[0], found[1], found[2])

    async def activate(self, text: str, source: str) -> int:
        """Make `text` the active mapping; return its version."""
        checksum = hashlib.sha256(text.encode()).hexdigest()
        async with self._db.transaction() as conn:
            await conn.execute(update(mapping_versions).values(active=False))
            result = await conn.execute(
                mapping_versions.insert().values(
                    checksum=checksum,
                    source=source,
                    text=text,
                    activated_at=self._db.clock.now(),
                    active=True,
                )
            )
            version = result.inserted_primary_key
            assert version is not None  # noqa: S101 - an insert always has a key
            return int(version[0])
