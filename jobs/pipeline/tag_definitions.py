"""The tag definitions a write-back needs: read once per pass, created when missing.

A tag the connector would write is refused when it belongs to someone else or is archived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable

import structlog

from connector.errors import (
    TagRefusedError,
)
from connector.store.vocabulary import StoredTag
from jobs.pipeline.context import SyncContext

log = structlog.get_logger(__name__)


def tag_refusal(name: str, tag: StoredTag | None, adoptable: Collection[str]) -> str | None:
    """Why the owned tag `name` (defined in Wisenet as `tag`) may not be written, naming the fix.

    None when it may: a tag the connector made, or one the mapping adopts, and not archived.
    """
    if tag is None:
        return None
    if not tag.created_by_connector and name not in adoptable:
        return (
            f"tag '{name}' already exists in Wisenet and was not made by the connector; "
            "set adopt_existing: true for it in the mapping (`connector mapping apply`) "
            "to use it, or rename the staff tag in Wisenet"
        )
    if tag.archived:
        return (
            f"owned tag '{name}' is archived in Wisenet; un-archive it there, or rename "
            "the tag in the mapping"
        )
    return None


def blocking_tag(
    add: Iterable[str],
    remove: Iterable[str],
    owned: Collection[str],
    refusal: Callable[[str], str | None],
) -> str | None:
    """The first refused tag a write of these changes needs, if any: then the whole write waits.

    Removing a refused owned tag is refused too (a same-named staff tag is not ours to take
    off; retired tags are only removed, as ever). One PATCH carries all of an enrolment's tags,
    so sending the rest would leave it half-tagged, with a plan the outbox no longer holds.
    """
    needed = set(add) | (set(remove) & set(owned))
    return next((name for name in sorted(needed) if refusal(name) is not None), None)


class TagDefinitions:
    """Owned tag names to Wisenet tag ids, creating a definition only when a write needs it."""

    def __init__(
        self, ctx: SyncContext, known: list[StoredTag], *, trust_recent: bool = False
    ) -> None:
        self.ctx = ctx
        self.by_name = {tag.name: tag for tag in known}
        self.adoptable = {t.name for t in ctx.mapping.spec.tags.owned if t.adopt_existing}
        self.fresh = False
        self.read = False  # read from Wisenet in this write-back
        self.trust_recent = trust_recent
        self._asking = asyncio.Lock()

    async def refresh_once(self) -> None:
        """Read the definitions unless this write-back already did (one request for all batches).

        With `trust_recent` (the inbox drains), definitions this process read less than
        `max_snapshot_age` ago are taken from the store instead, as a snapshot would be.
        """
        if self.fresh:
            return
        read_at = self.ctx.tags_read_at
        recent = (
            read_at is not None
            and self.ctx.store.clock.now() - read_at <= self.ctx.max_snapshot_age
        )
        if self.trust_recent and recent:
            await self.load_stored()
        else:
            await self.refresh()
        self.fresh = True

    async def load_stored(self) -> None:
        """Take the definitions the store last read (no request)."""
        self.by_name = {tag.name: tag for tag in await self.ctx.store.vocabulary.tags()}

    async def refresh(self) -> None:
        """Read the account's tag definitions into the store."""
        began = self.ctx.store.clock.now()
        found = [
            StoredTag(
                t.data.tag_id,
                t.data.name,
                archived=t.data.archived_flag,
                created_by_connector=False,
            )
            for t in await self.ctx.client.tags()
        ]
        await self.ctx.store.vocabulary.save_tags(found)
        self.by_name = {tag.name: tag for tag in await self.ctx.store.vocabulary.tags()}
        self.ctx.tags_read_at = began
        self.read = True

    def refusal(self, name: str) -> str | None:
        """Why the owned tag `name` may not be written, naming the fix; None when it may."""
        return tag_refusal(name, self.by_name.get(name), self.adoptable)

    def blocking(self, add: Iterable[str], remove: Iterable[str]) -> str | None:
        """The refused tag that blocks a write of these changes, if any (real and dry runs)."""
        return blocking_tag(add, remove, self.ctx.ownership.owned, self.refusal)

    async def id_for(self, name: str) -> int:
        """The tag id to write for an owned name (made now if missing); refuses foreign tags.

        Lanes ask one at a time, so a missing definition is read or made once.
        """
        async with self._asking:
            return await self._id_for(name)

    async def _id_for(self, name: str) -> int:
        if name not in self.by_name and not self.read:
            await self.refresh()  # never create a tag on trusted definitions: a staff one may exist
        reason = self.refusal(name)
        if reason is not None:
            raise TagRefusedError(name, reason)
        tag = self.by_name.get(name)
        if tag is None:
            # known as ours if the answer is lost
            await self.ctx.store.vocabulary.creating_tag(name)
            created = await self.ctx.client.create_tag(name)
            tag = StoredTag(created.data.tag_id, name, archived=False, created_by_connector=True)
            await self.ctx.store.vocabulary.save_tags([tag])
            self.by_name[name] = tag
            log.info("tag.created", tag=name, tag_id=tag.tag_id)
        return tag.tag_id
