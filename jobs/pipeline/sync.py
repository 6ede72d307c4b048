"""The sync: poll Wisenet into the store, decide the learners that changed, write tags back.

- **Poll**: each entity's list, modified since its cursor less the overlap; course enrolments
  come oldest-modified first, so their cursor moves with every committed page (a crash resumes
  from the last page); the other lists are ordered by id, so their cursor moves when the list is
  complete. Credentials (no modified filter) and deletes come from the audit log after the first
  full read.
- **Decide**: only learners whose snapshots changed are evaluated; each decision commits with its
  flags, stage history and outbox rows.
- **Write**: the outbox drains by priority; one PATCH per enrolment whose owned tags differ; the
  response becomes the new snapshot; inactive learners are never written. What the writer's own
  reads and PATCH responses show changed besides the tags it wrote (a staff edit landing
  between our read and our write) marks the learner, who is decided again in the same run.
  A write of a tag the connector refuses waits in the outbox as blocked until that is fixed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any, NamedTuple

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connector.bundles import Labels
from connector.errors import (
    ConfigurationError,
    InactiveLearnerError,
    NotFoundError,
    QuotaExhaustedError,
    RejectedError,
    TagRefusedError,
    TransientError,
)
from connector.store.store import (
    CREDENTIAL,
    ENROLMENT,
    BlockedWrites,
    PendingWrite,
    Progress,
    Snapshot,
    Store,
    StoredTag,
    worker_id,
)
from connector.wisenet.client import WisenetClient
from connector.wisenet.endpoints import COURSE_ENROLMENT
from connector.wisenet.entities import ENTITIES, POLLED, Entity, entity_named
from connector.wisenet.timestamps import parse_timestamp
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS, Combo
from connector.wisenet.wire import ComboEntry, Item
from jobs.pipeline.course_offers import refresh_course_offers
from jobs.pipeline.echoes import ExpectedEchoes
from jobs.pipeline.lanes import grouped, in_lanes
from jobs.pipeline.read_costs import Strategy, cheapest, counted, listing_pages
from jobs.pipeline.write_outcomes import FIXES, FailureGroup, failure_key
from mappings.compiler import CompiledMapping
from mappings.decision import Decision
from mappings.evaluate import evaluate
from mappings.plan import Ownership, plan

log = structlog.get_logger(__name__)
AUDIT = "AuditLog"
DELETABLE = frozenset(entity.name for entity in ENTITIES if entity.deletable)
RECENT, BACKLOG = 0, 1
Listing = Callable[[datetime | None, int], AsyncIterator[list[Item[Any]]]]
PageProgress = Callable[[str, int], None]  # entity, records read so far in this listing
PhaseProgress = Callable[[int, int], None]  # done so far in this run, of how many
DECIDE_BATCH = 200
WRITE_BATCH = 200  # outbox rows leased at a time: about 25 s of PATCHes at 8/s
WRITE_LEASE = timedelta(minutes=10)  # ample for a batch with retries; then another may take it
REDECIDE_ROUNDS = 3  # decisions again per learner in one write-back, if Wisenet keeps changing
WRITE_LANES = 4  # learners written at once: the store work of one overlaps the next PATCH


class PlannedWrite(NamedTuple):
    """A write a dry run plans: the owned tags to add to and remove from one enrolment.

    `blocked` names the refused tag when a real run would block the write instead of sending
    it, and `fix` says what releases it.
    """

    learner_id: int
    course_enrolment_id: int
    add: list[str]
    remove: list[str]
    blocked: str | None = None
    fix: str | None = None

    @classmethod
    def of(
        cls, write: PendingWrite | PlannedWrite, blocked: str | None = None, fix: str | None = None
    ) -> PlannedWrite:
        """The plan of an outbox row (or a planned write), blocked by `blocked` if given."""
        return cls(
            write.learner_id,
            write.course_enrolment_id,
            sorted(write.add),
            sorted(write.remove),
            blocked,
            fix,
        )


@dataclass
class SyncReport:
    """What one sync did."""

    records_changed: int = 0
    learners_evaluated: int = 0
    stage_changes: int = 0  # a stored stage that moved to another (learners and enrolments)
    first_placements: int = 0  # a first stage, where none was stored
    learner_placements: Counter[str] = field(default_factory=Counter)  # by the first stage
    learner_changes: Counter[str] = field(default_factory=Counter)  # by the stage moved to
    writes_planned: int = 0
    writes_done: int = 0
    writes_skipped: int = 0
    writes_failed: int = 0
    writes_blocked: int = 0  # queued but held by a refused tag when the run ended
    deleted: int = 0
    paused: str | None = None
    plan: list[PlannedWrite] | None = None  # a dry run's writes (None when not a dry run)
    failures: Counter[str] = field(default_factory=Counter)  # failed writes by reason key
    blocked: dict[str, BlockedWrites] = field(default_factory=dict)  # by tag, at the run's end
    newly_blocked: int = 0  # writes this run found blocked (each left the due list)
    reads: Counter[tuple[str, str]] = field(default_factory=Counter)  # by entity and strategy

    @property
    def writes_handled(self) -> int:
        """Writes that left the outbox's due list: done, skipped, failed or blocked."""
        return self.writes_done + self.writes_skipped + self.writes_failed + self.newly_blocked

    def failure_groups(self) -> list[FailureGroup]:
        """Blocked writes by tag, then failed writes by reason, each with its fix."""
        groups = [
            FailureGroup(f"blocked:{tag}", group.writes, group.reason)
            for tag, group in sorted(self.blocked.items())
        ]
        groups += [FailureGroup(key, n, FIXES[key]) for key, n in sorted(self.failures.items())]
        return groups

    def fail(self, key: str) -> None:
        """Count one failed write under its reason key."""
        self.writes_failed += 1
        self.failures[key] += 1


@dataclass(kw_only=True)
class DecisionContext:
    """What deciding needs: the store, the active mapping and the account's day (no client)."""

    store: Store
    mapping: CompiledMapping
    mapping_version: int
    account_tz: tzinfo
    as_of: date | None = None
    on_decided: PhaseProgress | None = None  # learners decided, of those to decide

    def today(self) -> date:
        """The account's calendar date (or the `--as-of` date)."""
        if self.as_of is not None:
            return self.as_of
        return self.store.clock.now().astimezone(self.account_tz).date()

    @property
    def ownership(self) -> Ownership:
        """The tags this mapping owns and retires."""
        tags = self.mapping.spec.tags
        return Ownership(frozenset(t.name for t in tags.owned), frozenset(tags.retired))


@dataclass(kw_only=True)
class SyncContext(DecisionContext):
    """What a sync needs besides: the client and how it polls and writes."""

    client: WisenetClient
    overlap: timedelta
    # Decide and queue, send nothing: the due writes become the report's plan. The commands'
    # dry runs set it on a private copy of the store (`connector.store.shadow`).
    dry_run: bool = False
    max_snapshot_age: timedelta = timedelta(minutes=10)
    labels: Labels | None = None
    on_page: PageProgress | None = None
    on_written: PhaseProgress | None = None  # writes handled, of those queued
    seen: dict[str, set[int]] | None = None  # ids of each listing read whole (reconcile)
    # When the last complete course-enrolment listing began: every stored enrolment snapshot is
    # at least that current (one changed since would have been listed and stored again).
    enrolments_verified_at: datetime | None = None
    # When the last whole credential listing began: every stored credential is that current.
    credentials_verified_at: datetime | None = None
    tags_read_at: datetime | None = None  # when this process last read the tag definitions
    echoes: ExpectedEchoes = field(default_factory=ExpectedEchoes)  # our PATCHes' deliveries
    changed_records: dict[str, set[int]] | None = None  # ids each poll found changed, if asked
    worker: str = field(default_factory=worker_id)  # holds the outbox leases this context takes


# --- poll -------------------------------------------------------------------------------------


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
        if ctx.seen is not None:
            ctx.seen[CREDENTIAL] = ids
        if newest is not None:
            await ctx.store.snapshots.save([], entity=AUDIT, high_water=newest)
    else:
        changed |= await _audit(ctx, labels, report)
    return changed


def _listing(ctx: SyncContext, entity: Entity[Any]) -> Listing:
    return lambda since, start: ctx.client.pages(entity, modified_since=since, start=start)


def _enrolment_listing(ctx: SyncContext) -> Listing:
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
    collect = ctx.seen is not None and since is None and skip == 0  # a whole read, for reconcile
    began = ctx.store.clock.now()
    ids: set[int] = set()
    changed = None if ctx.changed_records is None else ctx.changed_records.setdefault(entity, set())
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
    if collect and ctx.seen is not None:
        ctx.seen[entity] = ids
    return high


async def _audit(
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


# --- decide -----------------------------------------------------------------------------------


async def decide(
    ctx: DecisionContext, learner_ids: Iterable[int], report: SyncReport, *, priority: int = RECENT
) -> None:
    """Evaluate learners and queue the tag changes their decisions call for (in batches).

    With `as_of` set nothing is stored: the patches are only listed in the report.
    """
    catalogue = {tag.tag_id: tag.name for tag in await ctx.store.vocabulary.tags()}
    today = ctx.today()
    ownership = ctx.ownership
    ordered = sorted(learner_ids)
    to_decide = report.learners_evaluated + len(ordered)
    for start in range(0, len(ordered), DECIDE_BATCH):
        loaded = await ctx.store.bundles.many(ordered[start : start + DECIDE_BATCH])
        decided = []
        correlations = {}
        for learner_id, (bundle, tag_ids) in sorted(loaded.items()):
            decision = evaluate(bundle, ctx.mapping, today)
            active = bundle.learner.is_active is True
            correlations[learner_id] = correlation = uuid.uuid4().hex[:12]
            writes, cancels = [], []
            for ce in decision.course_enrolments:
                current = {catalogue[t] for t in tag_ids.get(ce.id, ()) if t in catalogue}
                patch = plan(current, ce.desired_tags, ownership) if active else None
                if patch is None:
                    cancels.append(ce.id)
                    continue
                writes.append(
                    PendingWrite(
                        ce.id, learner_id, patch.add, patch.remove, priority, correlation, 0
                    )
                )
            decided.append((decision, writes, cancels))
            report.writes_planned += len(writes)
        if ctx.as_of is not None:
            report.plan = (report.plan or []) + [
                PlannedWrite.of(w) for _, writes, _ in decided for w in writes
            ]
        else:
            await _record(ctx, decided, correlations, report, today)
        report.learners_evaluated += len(decided)
        if ctx.on_decided is not None:
            ctx.on_decided(report.learners_evaluated, to_decide)


async def _record(
    ctx: DecisionContext,
    decided: list[tuple[Decision, list[PendingWrite], list[int]]],
    correlations: dict[int, str],
    report: SyncReport,
    today: date,
) -> None:
    """Store a batch of decisions; count and log the stage moves they make."""
    changes = await ctx.store.decisions.record_many(
        decided, mapping_version=ctx.mapping_version, today=today
    )
    for (decision, _, _), moved in zip(decided, changes, strict=True):
        for subject, subject_id, old, new in moved:
            if old == new:  # first seen with no stage: nothing happened
                continue
            _count_stage_move(report, subject, old, new)
            log.info(
                "stage.placed" if old is None else "stage.changed",
                subject=subject,
                id=subject_id,
                learner_id=decision.learner_id,
                from_stage=old,
                to_stage=new,
                correlation_id=correlations[decision.learner_id],
            )


def _count_stage_move(report: SyncReport, subject: str, old: str | None, new: str | None) -> None:
    """Count a stage move: a first placement (from no stage) or a real change."""
    stage = new or "none"
    if old is None:
        report.first_placements += 1
        if subject == "learner":
            report.learner_placements[stage] += 1
    else:
        report.stage_changes += 1
        if subject == "learner":
            report.learner_changes[stage] += 1


# --- write ------------------------------------------------------------------------------------


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


async def write_back(
    ctx: SyncContext, report: SyncReport, *, limit: int = WRITE_BATCH, recheck_blocked: bool = True
) -> None:
    """Drain the outbox: one PATCH per enrolment whose owned tags differ.

    The outbox is read `limit` rows at a time until it is empty (or only postponed rows are
    left); when the day's budget runs out the rest waits in the outbox for the reset. Learners
    whose records this write-back found changed (by its own reads or in a PATCH response) are
    decided again before their next write, each at most `REDECIDE_ROUNDS` times; past that they
    stay marked for the next run.

    A write that needs a tag the connector refuses (a same-named staff tag not adopted, an
    archived owned tag) is blocked: it stays queued, out of the due list, until the mapping or
    Wisenet no longer refuses the tag; a write-back releases what was fixed before it sends. With
    `recheck_blocked` false (the frequent writer and inbox drains) it spends no request on that
    and trusts the definitions the store last read; to send, it trusts them too when this
    process read them less than `max_snapshot_age` ago (never to create a tag).
    """
    state = WritePass(TagDefinitions(ctx, [], trust_recent=not recheck_blocked))
    try:
        await _release_fixed(ctx, report, state.definitions, read=recheck_blocked)
        while True:
            handled = report.writes_handled
            if ctx.on_written is not None:
                state.queued = handled + await ctx.store.outbox.size()
                ctx.on_written(handled, state.queued)
            drained, stale = await _drain(ctx, report, limit, state)
            if stale:
                state.redecided.update(stale)
                await decide(ctx, stale, report)
                continue
            if drained < limit or report.writes_handled == handled:
                break
    except QuotaExhaustedError:
        log.warning("write.paused", reason="quota")
        report.paused = "writes: the day's budget is spent; they continue after the reset"
    await _count_blocked(ctx, report, state)


async def _release_fixed(
    ctx: SyncContext, report: SyncReport, definitions: TagDefinitions, *, read: bool
) -> None:
    """Make blocked writes due again whose tag is now allowed, or no longer owned.

    With `read`, the tag definitions are read from Wisenet for it (the read the write-back makes
    anyway once it sends); otherwise the store's copy decides. Writes of a tag the mapping no
    longer owns are planned again from the current mapping.
    """
    blocked = await ctx.store.outbox.blocked()
    if not blocked:
        return
    if read:
        await definitions.refresh_once()
    else:
        await definitions.load_stored()
    owned = ctx.ownership.owned
    for tag in sorted({group.tag for group in blocked}):
        if tag in owned and definitions.refusal(tag) is not None:
            continue
        learners = await ctx.store.outbox.release_blocked(tag)
        log.info("write.released", tag=tag, learners=len(learners))
        if tag not in owned:
            await decide(ctx, learners, report)


async def _count_blocked(ctx: SyncContext, report: SyncReport, state: WritePass) -> None:
    """Put the writes still blocked in the report: one error per tag newly refused in this run."""
    groups = await ctx.store.outbox.blocked()
    for group in groups:
        if group.tag in state.refused and group.tag not in report.blocked and not ctx.dry_run:
            log.error("write.blocked", tag=group.tag, writes=group.writes, fix=group.reason)
    report.blocked = {group.tag: group for group in groups}
    report.writes_blocked = sum(group.writes for group in groups)


@dataclass
class WritePass:
    """One write-back's tag definitions, and how often it decided each learner again."""

    definitions: TagDefinitions
    redecided: Counter[int] = field(default_factory=Counter)
    queued: int = 0  # writes handled before this batch and waiting at its start (for progress)
    refused: set[str] = field(default_factory=set)  # tags whose writes this pass blocked
    # Learners whose credentials this pass read before a flag-driven tag of theirs.
    credentials_checked: set[int] = field(default_factory=set)

    def may_redecide(self, learner_id: int) -> bool:
        """Whether the learner may be decided again within this write-back."""
        return self.redecided[learner_id] < REDECIDE_ROUNDS


class Written(Enum):
    """What became of one write."""

    SENT = "sent"  # PATCHed; the answer was what the plan expected
    DRIFTED = "drifted"  # PATCHed; the answer showed another change: the learner is marked
    UNNEEDED = "unneeded"  # nothing to send
    STALE = "stale"  # not sent: the read before it found the enrolment changed (marked)


async def _drain(
    ctx: SyncContext, report: SyncReport, limit: int, state: WritePass
) -> tuple[int, set[int]]:
    """Send one batch of due writes; how many rows it held (0 on a dry run), whom to decide again.

    The batch is leased; whatever it does not finish (a quota stop, a failure, a write held
    for a new decision) is given back. A dry run sends nothing: its plan is every due write.
    """
    if ctx.dry_run:
        await _plan(ctx, report, state)
        return 0, set()
    pending = await ctx.store.outbox.claim(ctx.worker, limit, WRITE_LEASE)
    if not pending:
        return 0, set()
    try:
        return len(pending), await _send(ctx, report, pending, state)
    finally:
        try:
            await ctx.store.outbox.release(ctx.worker)
        except (SQLAlchemyError, OSError) as exc:
            # Raised here it would hide the batch's own outcome, a cancellation included; the
            # leases end by themselves after WRITE_LEASE and the next job takes them over.
            log.warning("write.leases_kept", error=type(exc).__name__)


async def _plan(ctx: SyncContext, report: SyncReport, state: WritePass) -> None:
    """A dry run's plan: the due writes a real run would send, then those it leaves blocked.

    The due writes a real run would block are blocked as it would block them (on the dry run's
    private copy of the store), after the same one read of the tag definitions.
    """
    due = await ctx.store.outbox.pending()
    if due:
        await state.definitions.refresh_once()
    to_send = []
    for write in due:
        refused = state.definitions.blocking(write.add, write.remove)
        if refused is None:
            to_send.append(PlannedWrite.of(write))
        else:
            await _block(ctx, report, state, write, refused)
    blocked = [
        PlannedWrite.of(write, tag, reason)
        for write, tag, reason in await ctx.store.outbox.blocked_rows()
    ]
    report.plan = to_send + blocked


async def _send(
    ctx: SyncContext, report: SyncReport, pending: list[PendingWrite], state: WritePass
) -> set[int]:
    """Send a claimed batch in `WRITE_LANES` lanes; return the learners to decide again.

    A learner's writes go in order in one lane; other learners' writes go meanwhile. A write
    whose learner is marked for a decision (its records changed since its plan, as a read of
    this batch or an earlier PATCH response showed) is held: its plan is stale.
    """
    await state.definitions.refresh_once()
    refresh_before = ctx.mapping.flag_driven_tags
    learners = {write.learner_id for write in pending}
    await _credentials_for(ctx, report, state, [w for w in pending if w.add & refresh_before])
    marked = await ctx.store.snapshots.dirty_learners(among=learners)
    not_started = len(pending)
    verifying = asyncio.Lock()

    async def verified_enough() -> None:
        """Poll the enrolments once if the snapshots are too old and other writes follow.

        One poll of the enrolments modified since the cursor is cheaper than reading each of
        the remaining enrolments before its PATCH. (It may list a lane's write in flight; its
        learner is then decided again, which costs no request.)
        """
        nonlocal not_started
        async with verifying:
            others_follow = not_started > 1
            not_started -= 1
            if others_follow and _unverified(ctx) and await ctx.store.cursors.high_water(ENROLMENT):
                await poll_list(
                    ctx,
                    ENROLMENT,
                    _enrolment_listing(ctx),
                    sorted_by_modified=True,
                    labels=await labels_for(ctx),
                    report=report,
                )
                marked.update(await ctx.store.snapshots.dirty_learners(among=learners))

    async def send_one(write: PendingWrite) -> None:
        refused = state.definitions.blocking(write.add, write.remove)
        if refused is not None:
            await _block(ctx, report, state, write, refused)
            return
        await verified_enough()
        if write.learner_id in marked:
            return
        unchecked = write.learner_id not in state.credentials_checked
        unchecked = unchecked and not _credentials_fresh(ctx)
        if (
            write.add & refresh_before
            and unchecked
            and await _credentials_changed(ctx, state, write, report)
        ):
            marked.add(write.learner_id)
            return
        if await _attempt(ctx, state, write, report):
            marked.add(write.learner_id)
        if ctx.on_written is not None:
            ctx.on_written(report.writes_handled, state.queued)

    await in_lanes(grouped(pending, lambda w: w.learner_id), WRITE_LANES, send_one)
    return {learner for learner in marked if state.may_redecide(learner)}


def _unverified(ctx: SyncContext) -> bool:
    """Whether the stored enrolment snapshots may be older than a write may trust."""
    verified = ctx.enrolments_verified_at
    return verified is None or ctx.store.clock.now() - verified > ctx.max_snapshot_age


async def _block(
    ctx: SyncContext, report: SyncReport, state: WritePass, write: PendingWrite, tag: str
) -> None:
    """Keep a write queued as blocked by its refused tag (no request is spent on it)."""
    await ctx.store.outbox.block(write, tag, state.definitions.refusal(tag) or "refused")
    state.refused.add(tag)
    report.newly_blocked += 1


def _failed(report: SyncReport, write: PendingWrite, exc: Exception) -> None:
    """Count a failed write and log it with its reason (ids only)."""
    key = failure_key(exc)
    report.fail(key)
    log.warning(
        "write.failed",
        course_enrolment_id=write.course_enrolment_id,
        learner_id=write.learner_id,
        reason=key,
        error=str(exc),
        correlation_id=write.correlation_id,
    )


async def _attempt(
    ctx: SyncContext, state: WritePass, write: PendingWrite, report: SyncReport
) -> bool:
    """Send one write and count its outcome; whether its learner is now marked for a decision.

    A quota stop is raised: it ends all writing. An enrolment Wisenet no longer has is
    forgotten, which marks its learner. A refused tag blocks the write.
    """
    try:
        written = await _write_one(ctx, state.definitions, write, report)
    except NotFoundError as exc:
        if exc.endpoint != COURSE_ENROLMENT.template:  # a tag or the learner went missing
            await ctx.store.outbox.dead_letter(write, str(exc))
            _failed(report, write, exc)
            return False
        # The enrolment was deleted since the last poll (the audit log will say so too).
        await ctx.store.snapshots.forget(ENROLMENT, [write.course_enrolment_id])
        report.deleted += 1
        report.writes_skipped += 1
        return True
    except InactiveLearnerError:
        await ctx.store.outbox.finish(write)
        report.writes_skipped += 1
    except TagRefusedError as exc:
        await _block(ctx, report, state, write, exc.tag)
    except (ConfigurationError, RejectedError) as exc:
        await ctx.store.outbox.dead_letter(write, str(exc))
        _failed(report, write, exc)
    except TransientError as exc:
        await ctx.store.outbox.postpone(write, ctx.store.clock.now() + timedelta(minutes=5))
        _failed(report, write, exc)
    else:
        if written in (Written.SENT, Written.DRIFTED):
            report.writes_done += 1
        elif written is Written.UNNEEDED:
            report.writes_skipped += 1
        return written in (Written.DRIFTED, Written.STALE)
    return False


def _credentials_fresh(ctx: SyncContext) -> bool:
    """Whether a whole credential listing was read recently enough for a write to trust."""
    verified = ctx.credentials_verified_at
    return verified is not None and ctx.store.clock.now() - verified <= ctx.max_snapshot_age


async def _credentials_for(
    ctx: SyncContext, report: SyncReport, state: WritePass, writes: list[PendingWrite]
) -> None:
    """Before flag-driven writes, read the whole credential listing if that is cheaper.

    The other way is one listing filtered by learner per learner, just before their write is
    sent (by learner, not by enrolment: a rule may test a flag of another of their enrolments).
    """
    unchecked = {w.learner_id for w in writes} - state.credentials_checked
    if not unchecked or _credentials_fresh(ctx):
        return
    pages = listing_pages(await ctx.store.snapshots.count(CREDENTIAL), ctx.client.page_size)
    choice = cheapest(CREDENTIAL, by_parent=len(unchecked), whole_listing=pages)
    if choice.strategy is Strategy.WHOLE_LISTING:
        await list_credentials(ctx, await labels_for(ctx), report)


async def _credentials_changed(
    ctx: SyncContext, state: WritePass, write: PendingWrite, report: SyncReport
) -> bool:
    """Read the write's learner's credentials (one request); whether the store learned anything."""
    state.credentials_checked.add(write.learner_id)
    labels = await labels_for(ctx)
    changed: set[int] = set()
    with counted(report.reads, CREDENTIAL, Strategy.BY_PARENT):
        async for page in ctx.client.credentials(learner_id=write.learner_id):
            snaps = [s for s in (snapshot_of(CREDENTIAL, item, labels) for item in page) if s]
            changed |= await ctx.store.snapshots.save(snaps, entity=CREDENTIAL, high_water=None)
    return bool(changed)


async def _write_one(
    ctx: SyncContext, definitions: TagDefinitions, write: PendingWrite, report: SyncReport
) -> Written:
    """PATCH one enrolment's tags unless nothing needs sending or its plan proves stale.

    A snapshot too old to trust is read again first; if the read differs from it, the read is
    stored and the learner marked, and nothing is sent. The PATCH response becomes the
    snapshot; if it differs from the stored one other than in the tags sent, the learner is
    marked.
    """
    # Read just before the PATCH, not with the batch: a snapshot stored meanwhile (a poll of
    # this write-back, another process) holds tags the PATCH must keep.
    if not await ctx.store.snapshots.learner_is_active(write.learner_id):
        await ctx.store.outbox.finish(write)
        return Written.UNNEEDED
    snapshot = await ctx.store.snapshots.enrolment_tags(write.course_enrolment_id)
    if snapshot is None:
        await ctx.store.outbox.finish(write)
        return Written.UNNEEDED
    current, fetched_at = snapshot
    labels = await labels_for(ctx)
    verified = max(fetched_at, ctx.enrolments_verified_at or fetched_at)
    if ctx.store.clock.now() - verified > ctx.max_snapshot_age:
        with counted(report.reads, ENROLMENT, Strategy.BY_ID):
            fresh = await ctx.client.get_course_enrolment(write.course_enrolment_id)
        current = tuple(t.tag_id for t in fresh.data.tag_ids or ())
        read = snapshot_of(ENROLMENT, fresh, labels)
        if read is not None and await ctx.store.snapshots.save(
            [read], entity=ENROLMENT, high_water=None
        ):
            return Written.STALE
    remove_ids = {definitions.by_name[n].tag_id for n in write.remove if n in definitions.by_name}
    add_ids = [await definitions.id_for(name) for name in sorted(write.add)]
    wanted = [t for t in current if t not in remove_ids]
    wanted += [t for t in add_ids if t not in wanted]
    if wanted == list(current):
        await ctx.store.outbox.finish(write)
        return Written.UNNEEDED
    sent_at = ctx.store.clock.now()
    item = await ctx.client.set_course_enrolment_tags(
        write.course_enrolment_id, wanted, learner_id=write.learner_id
    )
    ctx.echoes.expect(write.course_enrolment_id, sent_at)
    drifted = await ctx.store.outbox.finish(
        write, snapshot_of(ENROLMENT, item, labels), sent=wanted, day=ctx.today()
    )
    log.info(
        "tags.written",
        course_enrolment_id=write.course_enrolment_id,
        learner_id=write.learner_id,
        added=sorted(write.add),
        removed=sorted(write.remove),
        correlation_id=write.correlation_id,
        decide_again=drifted,
    )
    return Written.DRIFTED if drifted else Written.SENT


async def sync(ctx: SyncContext) -> SyncReport:
    """Poll, decide the changed learners, write back, within the day's budget.

    Polling pauses while less than the reserve is left, which keeps it for writes; the first
    full read queues its writes as the historical backlog, after recent changes.
    """
    report = SyncReport()
    state = await ctx.client.budget.state()
    if state.exhausted:
        if not await quota_is_back(ctx):
            report.paused = "poll: Wisenet says the day's quota is spent; probing hourly"
            return report
        state = await ctx.client.budget.state()  # the probe went through: spending resumed
    if state.remaining < write_reserve(state.quota):
        report.paused = "poll: the day's budget is kept for writes"
        await write_back(ctx, report)
        return report
    backfill = await ctx.store.cursors.high_water(AUDIT) is None
    try:
        changed = await poll(ctx, report)
        await refresh_course_offers(
            ctx.store, ctx.client, ctx.account_tz, report.reads, None if backfill else changed
        )
    except QuotaExhaustedError:
        report.paused = "poll: the day's budget is spent; it continues after the reset"
        return report
    await decide(ctx, changed, report, priority=BACKLOG if backfill else RECENT)
    await write_back(ctx, report)
    return report


async def backfill(ctx: SyncContext) -> SyncReport:
    """Read everything again (unchanged records are skipped by hash), then decide and write.

    Deletes since the audit cursor are taken first, since a full read cannot see them. An
    unfinished backfill (or first sync) is resumed rather than restarted.
    """
    report = SyncReport()
    if await ctx.store.cursors.high_water(AUDIT) is not None:
        await _audit(ctx, await labels_for(ctx), report, credentials_too=False)
        await ctx.store.cursors.reset()
    result = await sync(ctx)
    result.deleted += report.deleted
    result.records_changed += report.records_changed
    return result


async def reconcile(ctx: SyncContext) -> SyncReport:
    """A backfill that also forgets what Wisenet no longer has (deletes the audit log missed).

    Only listings read whole in this run are compared; a paused or resumed listing is not, so
    nothing is forgotten on partial knowledge. Owned tags that drifted without a modification
    time are caught by the full read itself (the enrolment's tags are part of its hash).
    """
    ctx.seen = {}
    try:
        report = await backfill(ctx)
    finally:
        seen, ctx.seen = ctx.seen, None
    if report.paused:
        return report
    touched: set[int] = set()
    for entity, ids in seen.items():
        stale = set(await ctx.store.snapshots.record_ids(entity)) - ids
        if stale:
            log.info("reconcile.forgotten", entity=entity, ids=sorted(stale)[:50], count=len(stale))
            touched |= await ctx.store.snapshots.forget(entity, stale)
            report.deleted += len(stale)
    if touched:
        await decide(ctx, touched, report, priority=BACKLOG)
        await write_back(ctx, report)
    return report


async def quota_is_back(ctx: SyncContext) -> bool:
    """While Wisenet says the quota is spent, send the hour's probe (one small request) if due.

    Whether calls may resume; nothing is sent when no probe is due.
    """
    try:
        await ctx.client.tags()
    except QuotaExhaustedError:
        return False
    return True


def write_reserve(quota: int) -> int:
    """Requests of the day kept for writes: polls and backfill stop short of them."""
    return max(10, quota // 5)


async def sweep(ctx: SyncContext) -> SyncReport:
    """Re-decide every stored learner for today (no reads), so time-driven flags appear; write.

    With `as_of` the sweep only plans: nothing is stored and nothing is sent; the writes a
    real write-back would block are planned as blocked (after the one read of the tag
    definitions that write-back would make).
    """
    report = SyncReport()
    await decide(ctx, await ctx.store.snapshots.learner_ids(), report, priority=BACKLOG)
    if ctx.as_of is None:
        await write_back(ctx, report)
    else:
        report.plan = await _refusals_applied(ctx, report.plan or [])
        report.writes_blocked = sum(1 for write in report.plan if write.blocked is not None)
    return report


async def _refusals_applied(ctx: SyncContext, planned: list[PlannedWrite]) -> list[PlannedWrite]:
    """Planned writes with those a real write-back would block marked with their tag and fix."""
    if not planned:
        return []
    definitions = TagDefinitions(ctx, [])
    await definitions.refresh_once()
    marked = []
    for write in planned:
        refused = definitions.blocking(write.add, write.remove)
        fix = None if refused is None else definitions.refusal(refused)
        marked.append(PlannedWrite.of(write, refused, fix))
    return marked
