"""The webhook inbox: verified deliveries, durable before they are acknowledged.

The receiver inserts one row per delivery through `inbox_writer` (a repeated delivery id is
recognised and not stored twice). The inbox worker claims pending rows with a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas share the work), and marks them processed
once their effects are committed; a row whose lease ran out is claimed again, which is harmless
since processing is idempotent. Processed rows stay for the retention period as the log of what
was handled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from connector.store.database import Database
from connector.store.schema import webhook_inbox
from connector.store.sql import aware


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


class Inbox:
    """The `webhook_inbox` table, as the inbox worker and `status` use it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, owner: str, limit: int, lease: timedelta) -> list[InboxEntry]:
        """Lease up to `limit` pending rows (oldest first) that no live lease holds."""
        now = self._db.clock.now().astimezone(UTC)
        free = and_(
            webhook_inbox.c.processed_at.is_(None),
            or_(webhook_inbox.c.lease_until.is_(None), webhook_inbox.c.lease_until < now),
        )
        async with self._db.transaction() as conn:
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
                InboxEntry(
                    row.id, row.entity, int(row.record_id), row.event, aware(row.received_at)
                )
                for row in rows
            ]

    async def complete(self, outcomes: dict[int, str], owner: str) -> int:
        """Mark leased rows processed with their outcome; return how many this owner still held."""
        now = self._db.clock.now().astimezone(UTC)
        done = 0
        async with self._db.transaction() as conn:
            for outcome in sorted(set(outcomes.values())):
                ids = [key for key, value in outcomes.items() if value == outcome]
                result = await conn.execute(
                    update(webhook_inbox)
                    .where(webhook_inbox.c.id.in_(ids), webhook_inbox.c.lease_owner == owner)
                    .values(processed_at=now, outcome=outcome, lease_until=None)
                )
                done += int(result.rowcount or 0)
        return done

    async def release(self, ids: Iterable[int], owner: str) -> None:
        """Give leased rows back unprocessed (they are claimed again later)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id.in_(list(ids)), webhook_inbox.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def state(self) -> InboxState:
        """Pending rows, the oldest of them, and when the latest delivery arrived."""
        async with self._db.connect() as conn:
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

    async def announced(self, entity: str, ids: Iterable[int], since: datetime) -> set[int]:
        """The ids among `ids` that a delivery for `entity` named since `since`."""
        wanted = sorted(set(ids))
        found: set[int] = set()
        async with self._db.connect() as conn:
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
