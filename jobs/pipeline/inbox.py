"""The inbox worker: turn webhook deliveries into fresh snapshots, decisions and tag writes.

A delivery carries ids only, so every event means a read; the worker keeps reads few:

1. claim a batch of pending rows (leased) and coalesce them per record: repeated events for one
   record count once, and a delete wins over anything else;
2. leave out the records this drain already read after their deliveries came;
3. for each entity touched, take the cheaper of the cursor poll (one list request usually
   covers a batch) and one read per id (`jobs.pipeline.read_costs`); read by id what the poll
   did not list. Credentials, which have no modified filter, are read by id or by the whole listing;
   checklists, which have no read by id, only by the poll. A 404 is a delete, whatever the
   event said;
4. decide the learners whose bundle changed, mark the rows processed, write the tags.

The connector's own PATCHes come back as `Updated` events. The PATCH response is already the
snapshot, so an enrolment whose deliveries in a batch are all echoes of this process's PATCHes
(`jobs.pipeline.echoes`) is not read at all; the next list poll confirms it. A PATCH response that
shows a staff edit made meanwhile marks its learner, who is decided again by the same drain's
write-back. Until the first full read is done the rows wait; while the day's budget is nearly
spent they wait too, and are taken up after the reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from connector.bundles import Labels
from connector.errors import NotFoundError, QuotaExhaustedError, TransientError
from connector.store.entities import CREDENTIAL, ENROLMENT, UNIT
from connector.store.inbox import InboxEntry
from connector.webhooks.payload import DELETED, UPDATED
from connector.wisenet.entities import POLLED, entity_named
from connector.wisenet.timestamps import format_body_timestamp
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.course_offers import refresh_course_offers
from jobs.pipeline.decide import decide
from jobs.pipeline.echoes import ExpectedEchoes
from jobs.pipeline.poll import AUDIT, Listing, labels_for, poll_list, read_credentials, snapshot_of
from jobs.pipeline.read_costs import Strategy, cheapest, counted, listing_pages
from jobs.pipeline.runs import write_reserve
from jobs.pipeline.write_back import write_back

log = structlog.get_logger(__name__)
BATCH = 2000
LEASE = timedelta(minutes=5)
POLLED_NAMES = tuple(entity.name for entity in POLLED)  # entities with a modified filter


@dataclass
class InboxReport(SyncReport):
    """What one drain did: the sync counts, plus what became of each inbox row."""

    events: Counter[str] = field(default_factory=Counter)
    reads_by_id: int = 0
    # Records listed or read in this drain, by entity, with when that read began: a later batch
    # does not read them again for deliveries received before it.
    refreshed: dict[str, dict[int, datetime]] = field(default_factory=dict)

    def note_read(self, entity: str, ids: Iterable[int], began: datetime) -> None:
        """Note records read (or listed) by a read that began at `began`."""
        self.refreshed.setdefault(entity, {}).update(dict.fromkeys(ids, began))


@dataclass
class Batch:
    """One claimed batch, coalesced: the records to refresh and to delete, per entity."""

    entries: list[InboxEntry]
    refresh: dict[str, set[int]] = field(default_factory=dict)
    deleted: dict[str, set[int]] = field(default_factory=dict)
    received: dict[tuple[str, int], datetime] = field(default_factory=dict)  # latest, per record
    arrivals: dict[tuple[str, int], list[InboxEntry]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[InboxEntry]) -> Batch:
        """Coalesce events per record (a delete wins over created and updated)."""
        batch = cls(entries)
        for entry in entries:
            target = batch.deleted if entry.event == DELETED else batch.refresh
            target.setdefault(entry.entity, set()).add(entry.record_id)
            key = (entry.entity, entry.record_id)
            batch.received[key] = max(entry.received_at, batch.received.get(key, entry.received_at))
            batch.arrivals.setdefault(key, []).append(entry)
        for entity, ids in batch.deleted.items():
            batch.refresh.get(entity, set()).difference_update(ids)
        return batch

    def echoes_of(self, expected: ExpectedEchoes) -> set[int]:
        """Take out the enrolments whose deliveries are all echoes of our PATCHes; their ids."""
        echoed = set()
        for record_id in sorted(self.refresh.get(ENROLMENT, set())):
            arrivals = self.arrivals[(ENROLMENT, record_id)]
            if any(entry.event != UPDATED for entry in arrivals):
                expected.drop(record_id)
            elif expected.all_echoes(record_id, [entry.received_at for entry in arrivals]):
                echoed.add(record_id)
        self.refresh.get(ENROLMENT, set()).difference_update(echoed)
        return echoed

    def outcomes(
        self,
        fetched: dict[str, set[int]],
        gone: dict[str, set[int]],
        echoed: set[int] | None = None,
    ) -> dict[int, str]:
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
            elif entry.entity == ENROLMENT and entry.record_id in (echoed or set()):
                outcome[entry.id] = "echo"
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
    while entries := await ctx.store.inbox.claim(owner, batch_size, LEASE):
        waiting = await _must_wait(ctx)
        if waiting is not None:
            await ctx.store.inbox.release([e.id for e in entries], owner)
            report.paused = waiting
            break
        try:
            outcomes = await _process(ctx, Batch.of(entries), report)
        except QuotaExhaustedError:
            await ctx.store.inbox.release([e.id for e in entries], owner)
            report.paused = "inbox: the day's budget is spent; deliveries wait for the reset"
            break
        except TransientError:
            # Wisenet is failing: give the rows back now so the next drain retries them.
            await ctx.store.inbox.release([e.id for e in entries], owner)
            raise
        await ctx.store.inbox.complete(outcomes, owner)
        report.events.update(outcomes.values())
        if len(entries) < batch_size:
            break
    if report.events:
        await write_back(ctx, report, recheck_blocked=False)
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
    if await ctx.store.cursors.high_water(AUDIT) is None:
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
    ctx.echoes.forget_before(ctx.store.clock.now())
    echoed = batch.echoes_of(ctx.echoes)
    for entity in POLLED_NAMES:
        wanted = _still_wanted(batch, entity, report)
        if not wanted:
            continue
        listed: set[int] = set()
        began = ctx.store.clock.now()
        by_parent = await _by_parent(ctx, wanted) if entity == UNIT else None
        if await _poll_is_cheaper(ctx, entity, len(wanted), by_parent):
            await poll_list(
                ctx,
                entity,
                _listing(ctx, entity),
                sorted_by_modified=entity_named(entity).sorted_by_modified,
                labels=labels,
                report=report,
                listed=listed,
            )
        report.note_read(entity, listed, began)
        if by_parent is not None:
            listed |= await _read_by_parent(ctx, by_parent, wanted - listed, labels, report)
        if entity_named(entity).readable_by_id:  # not checklists: the poll covers them
            await _read_each(ctx, entity, wanted - listed, labels, report, fetched, gone)
    credentials = _still_wanted(batch, CREDENTIAL, report)
    began = ctx.store.clock.now()
    changed, missing = await read_credentials(ctx, credentials, labels, report)
    report.records_changed += len(changed)
    report.note_read(CREDENTIAL, credentials, began)
    fetched.setdefault(CREDENTIAL, set()).update(credentials - missing)
    gone.setdefault(CREDENTIAL, set()).update(missing)
    for entity, ids in gone.items():
        await ctx.store.snapshots.forget(entity, ids)
        report.deleted += len(ids)
    dirty = await ctx.store.snapshots.dirty_learners()
    await refresh_course_offers(ctx.store, ctx.client, ctx.account_tz, report.reads, dirty)
    await decide(ctx, dirty, report)
    return batch.outcomes(fetched, gone, echoed)


def _still_wanted(batch: Batch, entity: str, report: InboxReport) -> set[int]:
    """The batch's records of `entity` that need a read.

    Not those read already in this drain after every delivery of them in the batch was
    received.
    """
    read_at = report.refreshed.get(entity, {})
    return {
        record_id
        for record_id in batch.refresh.get(entity, set())
        if record_id not in read_at or batch.received[(entity, record_id)] >= read_at[record_id]
    }


async def _poll_is_cheaper(
    ctx: SyncContext, entity: str, wanted: int, by_parent: ParentPlan | None = None
) -> bool:
    """Whether the cursor poll costs no more than reading the `wanted` records one by one.

    No poll without a cursor, or while a full listing is half done. Its pages are estimated
    from the stored records Wisenet stamped within the overlap before the cursor (the poll
    lists them again: after a large write-back, our own PATCHes), plus the wanted ones. Units
    can also be read by a listing per enrolment (`by_parent`). On a tie the poll wins: it
    finds unannounced changes too, and moves the cursor. Checklists have no read by id: they
    are always polled.
    """
    cursor = await ctx.store.cursors.high_water(entity)
    if cursor is None or await ctx.store.cursors.progress(entity) is not None:
        return False
    if not entity_named(entity).readable_by_id:
        return True
    since = format_body_timestamp(cursor - ctx.overlap, ctx.account_tz)
    again = await ctx.store.snapshots.count_modified_since(entity, since)
    pages = listing_pages(again + wanted, ctx.client.page_size)
    choice = cheapest(
        entity,
        modified_since=pages,
        by_id=wanted,
        by_parent=None if by_parent is None else by_parent.cost,
    )
    return choice.strategy is Strategy.MODIFIED_SINCE


def _listing(ctx: SyncContext, entity: str) -> Listing:
    kind = entity_named(entity)
    return lambda since, start: ctx.client.pages(kind, modified_since=since, start=start)


@dataclass(frozen=True)
class ParentPlan:
    """Wanted units by their stored enrolment, the enrolments worth a listing, and the cost.

    A listing by enrolment costs the pages of its stored units (one, unless it has a
    thousand); it is worth it where it reads more wanted units than that. The cost counts
    those listings and one GET for every other wanted unit.
    """

    listings: dict[int, set[int]]  # enrolment id -> the wanted units it lists
    cost: int


async def _by_parent(ctx: SyncContext, wanted: set[int]) -> ParentPlan:
    children: dict[int, set[int]] = {}
    for unit_id, parent in (await ctx.store.snapshots.parents(UNIT, wanted)).items():
        children.setdefault(parent, set()).add(unit_id)
    siblings = await ctx.store.snapshots.count_children(UNIT, children)
    listings: dict[int, set[int]] = {}
    cost = len(wanted)
    for parent, units in children.items():
        pages = listing_pages(siblings.get(parent, len(units)), ctx.client.page_size)
        if cheapest(UNIT, by_id=len(units), by_parent=pages).strategy is Strategy.BY_PARENT:
            listings[parent] = units
            cost += pages - len(units)
    return ParentPlan(listings, cost)


async def _read_by_parent(
    ctx: SyncContext, plan: ParentPlan, wanted: set[int], labels: Labels, report: InboxReport
) -> set[int]:
    """Read the planned enrolments' units by one listing each; return the wanted ones listed.

    Units listed already (by a poll) are not read again. A wanted unit the listing does not
    show (deleted, or moved to another enrolment) is left to its read by id.
    """
    read: set[int] = set()
    for parent, units in sorted(plan.listings.items()):
        if not units & wanted:
            continue
        began = ctx.store.clock.now()
        listed: set[int] = set()
        with counted(report.reads, UNIT, Strategy.BY_PARENT):
            async for page in ctx.client.unit_enrolments(course_enrolment_id=parent):
                snaps = [s for s in (snapshot_of(UNIT, item, labels) for item in page) if s]
                listed.update(key for key in (item.data.key() for item in page) if key is not None)
                report.records_changed += len(
                    await ctx.store.snapshots.save(snaps, entity=UNIT, high_water=None)
                )
        report.note_read(UNIT, units & wanted & listed, began)
        read |= units & wanted & listed
    return read


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
    with counted(report.reads, entity, Strategy.BY_ID):
        for record_id in sorted(ids):
            began = ctx.store.clock.now()
            found = await _read_one(ctx, entity, record_id, labels, report)
            (fetched if found else gone).setdefault(entity, set()).add(record_id)
            report.note_read(entity, [record_id], began)


async def _read_one(
    ctx: SyncContext, entity: str, record_id: int, labels: Labels, report: InboxReport
) -> bool:
    """Read one record by id into the store; False when Wisenet no longer has it."""
    report.reads_by_id += 1
    try:
        item = await ctx.client.get(entity_named(entity), record_id)
    except NotFoundError:
        return False
    snapshot = snapshot_of(entity, item, labels)
    if snapshot is not None:
        report.records_changed += len(
            await ctx.store.snapshots.save([snapshot], entity=entity, high_water=None)
        )
    return True


async def unannounced_changes(
    ctx: SyncContext, changed: dict[str, set[int]], since: datetime
) -> dict[str, int]:
    """Per entity, how many records a poll found changed that no delivery since `since` named."""
    return {
        entity: len(ids - await ctx.store.inbox.announced(entity, ids, since))
        for entity, ids in changed.items()
        if ids
    }
