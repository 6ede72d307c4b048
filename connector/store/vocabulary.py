"""The account's vocabulary as the store caches it: combos, and tag definitions.

The connector records a tag's name before asking Wisenet to create it, so a tag it made is
known as its own even when the answer to the creation was lost with the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.database import Database
from connector.store.schema import combos, tag_creations, tags
from connector.store.sql import upsert


@dataclass(frozen=True)
class StoredTag:
    """A tag definition as the store knows it."""

    tag_id: int
    name: str
    archived: bool
    created_by_connector: bool


class Vocabulary:
    """The `combos`, `tags` and `tag_creations` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_combos(self, loaded: dict[str, list[dict[str, Any]]]) -> None:
        """Keep the account's combos."""
        async with self._db.transaction() as conn:
            for name, entries in loaded.items():
                await upsert(
                    conn,
                    combos,
                    {"name": name, "entries": entries, "loaded_at": self._db.clock.now()},
                    ("name",),
                )

    async def combos(self) -> dict[str, list[dict[str, Any]]]:
        """The stored combos."""
        async with self._db.connect() as conn:
            return {
                row[0]: row[1]
                for row in await conn.execute(select(combos.c.name, combos.c.entries))
            }

    async def creating_tag(self, name: str) -> None:
        """Record that the connector is about to create a tag of this name (before the request)."""
        async with self._db.transaction() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            await conn.execute(
                dialect.insert(tag_creations)
                .values(name=name, started_at=self._db.clock.now())
                .on_conflict_do_nothing()
            )

    async def save_tags(self, found: Iterable[StoredTag]) -> None:
        """Keep tag definitions (keeping the record of which ones the connector made).

        A tag new to the store whose name the connector was creating (`creating_tag`) is the
        connector's own, even when the answer to its creation was lost with the process.
        """
        async with self._db.transaction() as conn:
            creating = set((await conn.execute(select(tag_creations.c.name))).scalars())
            for tag in found:
                existing = (
                    await conn.execute(
                        select(tags.c.created_by_connector).where(tags.c.tag_id == tag.tag_id)
                    )
                ).first()
                made = (
                    tag.created_by_connector
                    or bool(existing and existing[0])
                    or (existing is None and tag.name in creating)
                )
                if made and tag.name in creating:
                    creating.discard(tag.name)
                    await conn.execute(
                        delete(tag_creations).where(tag_creations.c.name == tag.name)
                    )
                await upsert(
                    conn,
                    tags,
                    {
                        "tag_id": tag.tag_id,
                        "name": tag.name,
                        "archived": tag.archived,
                        "created_by_connector": made,
                    },
                    ("tag_id",),
                )

    async def tags(self) -> list[StoredTag]:
        """Every known tag definition."""
        async with self._db.connect() as conn:
            rows = await conn.execute(select(tags).order_by(tags.c.tag_id))
            return [StoredTag(r.tag_id, r.name, r.archived, r.created_by_connector) for r in rows]
