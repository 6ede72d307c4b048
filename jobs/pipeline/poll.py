"""Poll: each entity's list modified since its cursor, the audit log, credentials.

Course enrolments come oldest-modified first, so their cursor moves with every committed page (a
crash resumes from the last page); the other lists are ordered by id, so their cursor moves when
the list is complete. Credentials (no modified filter) and deletes come from the audit log after
the first full read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from datetime import datetime, tzinfo
from typing import Any

import structlog

from connector.bundles import Labels
from connector.errors import (
    NotFoundError,
)
from connector.store.cursors import Progress
from connector.store.entities import CREDENTIAL, ENROLMENT
from connector.store.snapshots import Snapshot
from connector.wisenet.entities import ENTITIES, POLLED, Entity, entity_named
from connector.wisenet.timestamps import parse_timestamp
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS, Combo
from connector.wisenet.wire import ComboEntry, Item
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.read_costs import Strategy, cheapest, counted, listing_pages

log = structlog.get_logger(__name__)
AUDIT = "AuditLog"
DELETABLE = frozenset(entity.name for entity in ENTITIES if entity.deletable)
Listing = Callable[[datetime | None, int], AsyncIterator[list[Item[Any]]]]


async def labels_for(ctx: SyncContext) -> Labels:
    """Labels from the stored combos, loading them from Wisenet when the store has none."""
    if ctx.labels is not None:
        return ctx.labels
    stored = await ctx.store.vocabulary.combos()
    if not all(name in stored for name in LIFECYCLE_COMBOS):
        loaded = {
            name: [e.model_dump() for e in await ctx.client.combo(name)]
            for name in LIFECYCLE_COMBOS
        }
        await ctx.store.vocabulary.save_combos(loaded)
        stored = loaded
    ctx.labels = Labels.from_combos(
        {
            name: Combo.of(name, [ComboEntry.model_validate(e) for e in entries])
            for name, entries in stored.items()
        }
    )
    return ctx.labels


def _stamp(item: Item[Any], zone: tzinfo) -> datetime | None:
    raw = getattr(item.data, "last_modified_time_stamp", None)
    return None if raw is None else parse_timestamp(raw, zone)


def snapshot_of(entity: str, item: Item[Any], labels: Labels) -> Snapshot | None:
    """What the store keeps of one listed or fetched record (None for one it does not keep)."""
    kind = entity_named(entity)
    value = kind.bundle_value(item, labels)
    if value is None:
        return None
    data = item.data
    return Snapshot(
        entity,
        data.key(),
        value,
        getattr(data, "last_modified_time_stamp", None),
        learner_id=kind.learner_id(data),
        parent_id=kind.parent_id(data),
        tag_ids=kind.tag_ids(data),
    )


async def poll(ctx: SyncContext, report: SyncReport) -> set[int]:
    """Read what changed since each cursor; return the learners whose bundle changed."""
    labels = await labels_for(ctx)
    changed: set[int] = set()
    first_sync = await ctx.store.cursors.high_water(AUDIT) is None
    listings = [(e.name, _listing(ctx, e), e.sorted_by_modified) for e in POLLED]
    newest: datetime | None = None
    for entity, listing, sorted_by_modified in listings:
        high = await poll_list(ctx, entity, listing, sorted_by_modified, labels, report)
        changed |= await ctx.store.snapshots.dirty_learners()
        if high is not None:
            newest = max(newest, high) if newest else high
    if first_sync:
        learners, ids = await list_credentials(ctx, labels, report)
        changed |= learners
        if report.listed_whole is not None:
            report.listed_whole[CREDENTIAL] = ids
        if newest is not None:
            await ctx.store.snapshots.save([], entity=AUDIT, high_water=newest)
    else:
        changed |= await read_audit_log(ctx, labels, report)
    return changed


def _listing(ctx: SyncContext, entity: Entity[Any]) -> Listing:
    return lambda since, start: ctx.client.pages(entity, modified_since=since, start=start)


def enrolment_listing(ctx: SyncContext) -> Listing:
    """The course-enrolment listing, oldest-modified first."""
    return _listing(ctx, entity_named(ENROLMENT))


async def poll_list(
    ctx: SyncContext,
    entity: str,
    listing: Listing,
    sorted_by_modified: bool,
    labels: Labels,
    report: SyncReport,
    *,
    listed: set[int] | None = None,
) -> datetime | None:
    """Read one list since its cursor (or from where an unfinished listing stopped).

    A list sorted by modification moves its cursor with each page; an id-ordered list records
    its progress with each page and moves its cursor once complete. Returns the new cursor;
    the ids read are added to `listed` when it is given.
    """
    progress = await ctx.store.cursors.progress(entity)
    if progress is not None:
        since, skip, high = progress.since, progress.skip, progress.high
    else:
        cursor = await ctx.store.cursors.high_water(entity)
        since, skip, high = (None if cursor is None else cursor - ctx.overlap), 0, cursor
    whole = report.listed_whole
    collect = whole is not None and since is None and skip == 0  # a whole read, for reconcile
    began = ctx.store.clock.now()
    ids: set[int] = set()
    changed = None if report.changed_ids is None else report.changed_ids.setdefault(entity, set())
    strategy = Strategy.WHOLE_LISTING if since is None else Strategy.MODIFIED_SINCE
    with counted(report.reads, entity, strategy):
        async for page in listing(since, skip):
            if collect:
                ids.update(item.data.key() for item in page)
            if listed is not None:
                listed.update(item.data.key() for item in page)
            stamps = [s for s in (_stamp(item, ctx.account_tz) for item in page) if s]
            high = max([*stamps, *([high] if high else [])], default=None)
            skip += len(page)
            snaps = [s for s in (snapshot_of(entity, item, labels) for item in page) if s]
            if sorted_by_modified:
                touched = await ctx.store.snapshots.save(
                    snaps, entity=entity, high_water=high, changed_records=changed
                )
            else:
                touched = await ctx.store.snapshots.save(
                    snaps,
                    entity=entity,
                    high_water=None,
                    resume=Progress(skip, since, high),
                    changed_records=changed,
                )
            report.records_changed += len(touched)
            if ctx.on_page is not None:
                ctx.on_page(entity, skip)
    await ctx.store.cursors.finish_listing(entity, high)
    if entity == ENROLMENT:
        ctx.enrolments_verified_at = began
    if collect and whole is not None:
        whole[entity] = ids
    return high


async def read_audit_log(
    ctx: SyncContext, labels: Labels, report: SyncReport, *, credentials_too: bool = True
) -> set[int]:
    """Credentials and deletes since the audit cursor (neither shows in modified lists)."""
    cursor = await ctx.store.cursors.high_water(AUDIT)
    assert cursor is not None  # noqa: S101 - set by the first sync
    changed: set[int] = set()
    high = cursor
    credentials: set[int] = set()
    deletes: dict[str, set[int]] = {}
    with counted(report.reads, AUDIT, Strategy.MODIFIED_SINCE):
        async for page in ctx.client.audit_logs(modified_since=cursor - ctx.overlap):
            for item in page:
                entry = item.data
                stamp = _stamp(item, ctx.account_tz)
                high = max(high, stamp) if stamp else high
                if entry.audit_action == "D" and entry.entity_name in DELETABLE:
                    deletes.setdefault(entry.entity_name, set()).add(entry.record_id)
                elif entry.entity_name == CREDENTIAL and credentials_too:
                    credentials.add(entry.record_id)
    wanted = credentials - deletes.get(CREDENTIAL, set())
    learners, gone = await read_credentials(ctx, wanted, labels, report)
    changed |= learners
    if gone:  # gone since their entries were written
        deletes.setdefault(CREDENTIAL, set()).update(gone)
    for entity, ids in deletes.items():
        changed |= await ctx.store.snapshots.forget(entity, ids)
        report.deleted += len(ids)
    await ctx.store.snapshots.save([], entity=AUDIT, high_water=high)
    return changed


async def read_credentials(
    ctx: SyncContext, ids: Collection[int], labels: Labels, report: SyncReport
) -> tuple[set[int], set[int]]:
    """Refresh these credentials the cheapest way: one GET each, or the whole listing.

    Credentials have no modified filter, so the whole listing is the only listing; the store's
    count of credentials says how many pages it takes. Returns the learners whose bundle
    changed and the ids Wisenet no longer has.
    """
    if not ids:
        return set(), set()
    stored = await ctx.store.snapshots.count(CREDENTIAL)
    pages = listing_pages(stored + len(ids), ctx.client.page_size)
    choice = cheapest(CREDENTIAL, by_id=len(ids), whole_listing=pages)
    if choice.strategy is Strategy.WHOLE_LISTING:
        changed, listed = await list_credentials(ctx, labels, report)
        return changed, set(ids) - listed
    changed, gone = set(), set()
    with counted(report.reads, CREDENTIAL, Strategy.BY_ID):
        for credential_id in sorted(ids):
            try:
                credential = await ctx.client.get_credential(credential_id)
            except NotFoundError:
                gone.add(credential_id)
                continue
            snapshot = snapshot_of(CREDENTIAL, credential, labels)
            if snapshot is not None:
                changed |= await ctx.store.snapshots.save(
                    [snapshot], entity=CREDENTIAL, high_water=None
                )
    return changed, gone


async def list_credentials(
    ctx: SyncContext, labels: Labels, report: SyncReport
) -> tuple[set[int], set[int]]:
    """Read the whole credential listing into the store; the learners changed and the ids read.

    Every stored credential is then current as of when the listing began.
    """
    began = ctx.store.clock.now()
    changed: set[int] = set()
    ids: set[int] = set()
    with counted(report.reads, CREDENTIAL, Strategy.WHOLE_LISTING):
        async for page in ctx.client.credentials():
            ids.update(key for item in page if (key := item.data.key()) is not None)
            snaps = [s for s in (snapshot_of(CREDENTIAL, item, labels) for item in page) if s]
            changed |= await ctx.store.snapshots.save(snaps, entity=CREDENTIAL, high_water=None)
            if ctx.on_page is not None:
                ctx.on_page(CREDENTIAL, len(ids))
    ctx.credentials_verified_at = began
    return changed, ids
