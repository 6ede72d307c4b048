"""The inbox worker: turn webhook deliveries into fresh snapshots, decisions and tag writes.

A delivery carries ids only, so every event means a read; the worker keeps reads few:

1. claim a batch of pending rows (leased) and coalesce them per record: repeated events for one
   record count once, and a delete wins over anything else;
2. for each entity touched, run the normal cursor poll, which one list request usually covers;
3. read one by one only the records the poll did not list (credentials, which have no modified
   filter, are always read by id; checklists, which have no read by id, only by the poll); a
   404 is a delete, whatever the event said;
4. decide the learners whose bundle changed, mark the rows processed, write the tags.

The connector's own PATCHes come back as `Updated` events: the poll lists those enrolments
unchanged (the PATCH response is already the snapshot), so they cost no write and no read of
their own. Until the first full read is done the rows wait; while the day's budget is nearly
spent they wait too, and are taken up after the reset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from connector.bundles import Labels
from connector.errors import NotFoundError, QuotaExhaustedError, TransientError
from connector.store.inbox import InboxEntry, announced, claim, complete, release
from connector.store.store import CHECKLIST, CREDENTIAL, ENROLMENT, LEARNER, UNIT
from connector.webhooks.payload import DELETED
from connector.wisenet.wire import Item
from jobs.sync import (
    AUDIT,
    Listing,
    SyncContext,
    SyncReport,
    decide,
    labels_for,
    poll_list,
    snapshot_of,
    write_back,
    write_reserve,
)

log = structlog.get_logger(__name__)
BATCH = 2000
LEASE = timedelta(minutes=5)
POLLED = (LEARNER, ENROLMENT, UNIT, CHECKLIST)  # entities with a modified filter


@dataclass
class InboxReport(SyncReport):
    """What one drain did: the sync counts, plus what became of each inbox row."""

    events: Counter[str] = field(default_factory=Counter)
    reads_by_id: int = 0


@dataclass
class Batch:
    """One claimed batch, coalesced: the records to refresh and to delete, per entity."""

    entries: list[InboxEntry]
    refresh: dict[str, set[int]] = field(default_factory=dict)
    deleted: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[InboxEntry]) -> Batch:
        """Coalesce events per record (a delete wins over created and updated)."""
        batch = cls(entries)
        for entry in entries:
            target = batch.deleted if entry.event == DELETED else batch.refresh
            target.setdefault(entry.entity, set()).add(entry.record_id)
        for entity, ids in batch.deleted.items():
            batch.refresh.get(entity, set()).difference_update(ids)
        return batch

    def outcomes(self, fetched: dict[str, set[int]], gone: dict[str, set[int]]) -> dict[int, str]:
        """Each row's outcome: the first row of a record says how it was handled."""
        outcome: dict[int, str] = {}
        first: set[tuple[str, int]] = set()
        for entry in self.entries:
            key = (entry.entity, entry.record_id)
            if key in first:
                outcome[entry.id] = "coalesced"
                continue
            first.add(key)
            if entry.record_id in gone.get(entry.entity, set()):
                outcome[entry.id] = "deleted"
            elif entry.record_id in fetched.get(entry.entity, set()):
                outcome[entry.id] = "fetched"
            else:
                outcome[entry.id] = "listed"
        return outcome


def webhook_floor(quota: int) -> int:
    """Requests of the day that webhook reads leave for writes (half the write reserve)."""
    return write_reserve(quota) // 2


async def drain_inbox(ctx: SyncContext, owner: str, *, batch_size: int = BATCH) -> InboxReport:
    """Process pending deliveries batch by batch until none is left (or reading must wait)."""
    report = InboxReport()
    while entries := await claim(ctx.store, owner, batch_size, LEASE):
        waiting = await _must_wait(ctx)
        if waiting is not None:
            await release(ctx.store, [e.id for e in entries], owner)
            report.paused = waiting
            break
        try:
            outcomes = await _process(ctx, Batch.of(entries), report)
        except QuotaExhaustedError:
            await release(ctx.store, [e.id for e in entries], owner)
            report.paused = "inbox: the day's budget is spent; deliveries wait for the reset"
            break
        except TransientError:
            # Wisenet is failing: give the rows back now so the next drain retries them.
            await release(ctx.store, [e.id for e in entries], owner)
            raise
        await complete(ctx.store, outcomes, owner)
        report.events.update(outcomes.values())
        if len(entries) < batch_size:
            break
    if report.events:
        await write_back(ctx, report)
        log.info(
            "inbox.drained",
            events=sum(report.events.values()),
            reads_by_id=report.reads_by_id,
            learners=report.learners_evaluated,
            **dict(report.events),
        )
    return report


async def _must_wait(ctx: SyncContext) -> str | None:
    """Why deliveries cannot be processed now, or None."""
    if await ctx.store.cursor(AUDIT) is None:
        return "inbox: deliveries wait for the first full read"
    state = await ctx.client.budget.state()
    if state.remaining < webhook_floor(state.quota):
        return "inbox: the day's budget is kept for writes; deliveries wait for the reset"
    return None


async def _process(ctx: SyncContext, batch: Batch, report: InboxReport) -> dict[int, str]:
    """Refresh and delete the batch's records, decide their learners; return row outcomes."""
    labels = await labels_for(ctx)
    fetched: dict[str, set[int]] = {}
    gone: dict[str, set[int]] = {entity: set(ids) for entity, ids in batch.deleted.items()}
    for entity in POLLED:
        wanted = batch.refresh.get(entity)
        if not wanted:
            continue
        listed: set[int] = set()
        if await _can_poll(ctx, entity):
            await poll_list(
                ctx,
                entity,
                _listing(ctx, entity),
                sorted_by_modified=entity == ENROLMENT,
                labels=labels,
                report=report,
                listed=listed,
            )
        if entity != CHECKLIST:  # no read by id exists for checklists; the poll covers them
            await _read_each(ctx, entity, wanted - listed, labels, report, fetched, gone)
    credentials = batch.refresh.get(CREDENTIAL, set())
    await _read_each(ctx, CREDENTIAL, credentials, labels, report, fetched, gone)
    for entity, ids in gone.items():
        await ctx.store.forget(entity, ids)
        report.deleted += len(ids)
    await decide(ctx, await ctx.store.dirty_learners(), report)
    return batch.outcomes(fetched, gone)


async def _can_poll(ctx: SyncContext, entity: str) -> bool:
    """Whether a cheap cursor poll is possible: a cursor, and no full listing half done."""
    return await ctx.store.cursor(entity) is not None and await ctx.store.progress(entity) is None


def _listing(ctx: SyncContext, entity: str) -> Listing:
    client = ctx.client
    if entity == LEARNER:
        return lambda since, start: client.learners(modified_since=since, start=start)
    if entity == ENROLMENT:
        return lambda since, start: client.course_enrolments(modified_since=since, start=start)
    if entity == UNIT:
        return lambda since, start: client.unit_enrolments(modified_since=since, start=start)
    return lambda since, start: client.checklists(modified_since=since, start=start)


async def _read_each(
    ctx: SyncContext,
    entity: str,
    ids: set[int],
    labels: Labels,
    report: InboxReport,
    fetched: dict[str, set[int]],
    gone: dict[str, set[int]],
) -> None:
    """Read records by id, one request each, sorting them into fetched and gone."""
    for record_id in sorted(ids):
        found = await _read_one(ctx, entity, record_id, labels, report)
        (fetched if found else gone).setdefault(entity, set()).add(record_id)


async def _get(ctx: SyncContext, entity: str, record_id: int) -> Item[Any]:
    client = ctx.client
    if entity == LEARNER:
        return await client.get_learner(record_id)
    if entity == ENROLMENT:
        return await client.get_course_enrolment(record_id)
    if entity == UNIT:
        return await client.get_unit_enrolment(record_id)
    return await client.get_credential(record_id)


async def _read_one(
    ctx: SyncContext, entity: str, record_id: int, labels: Labels, report: InboxReport
) -> bool:
    """Read one record by id into the store; False when Wisenet no longer has it."""
    report.reads_by_id += 1
    try:
        item = await _get(ctx, entity, record_id)
    except NotFoundError:
        return False
    snapshot = snapshot_of(entity, item, labels)
    if snapshot is not None:
        report.records_changed += len(
            await ctx.store.save([snapshot], entity=entity, high_water=None)
        )
    return True


async def unannounced_changes(
    ctx: SyncContext, changed: dict[str, set[int]], since: datetime
) -> dict[str, int]:
    """Per entity, how many records a poll found changed that no delivery since `since` named."""
    return {
        entity: len(ids - await announced(ctx.store, entity, ids, since))
        for entity, ids in changed.items()
        if ids
    }
