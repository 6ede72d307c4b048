"""The sync: poll Wisenet into the store, decide the learners that changed, write tags back.

- **Poll**: each entity's list, modified since its cursor less the overlap; course enrolments
  come oldest-modified first, so their cursor moves with every committed page (a crash resumes
  from the last page); the other lists are ordered by id, so their cursor moves when the list is
  complete. Credentials (no modified filter) and deletes come from the audit log after the first
  full read.
- **Decide**: only learners whose snapshots changed are evaluated; each decision commits with its
  flags, stage history and outbox rows.
- **Write**: the outbox drains by priority; one PATCH per enrolment whose owned tags differ; the
  response becomes the new snapshot; inactive learners are never written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import structlog

from connector.bundles import Labels, snapshot_values
from connector.errors import (
    ConfigurationError,
    InactiveLearnerError,
    NotFoundError,
    QuotaExhaustedError,
    RejectedError,
    TransientError,
)
from connector.store.store import (
    CHECKLIST,
    CREDENTIAL,
    ENROLMENT,
    LEARNER,
    UNIT,
    PendingWrite,
    Progress,
    Snapshot,
    Store,
    StoredTag,
    worker_id,
)
from connector.wisenet.client import WisenetClient
from connector.wisenet.timestamps import parse_timestamp
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS, Combo
from connector.wisenet.wire import ComboEntry, Item
from mappings.catalogue import Subject
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate
from mappings.plan import Ownership, plan
from mappings.schema import AllOf, AnyOf, FlagRef, TagWhen

log = structlog.get_logger(__name__)
AUDIT = "AuditLog"
DELETABLE = {
    "Learner": LEARNER,
    "CourseEnrolment": ENROLMENT,
    "UnitEnrolment": UNIT,
    "Checklist": CHECKLIST,
}
RECENT, BACKLOG = 0, 1
Listing = Callable[[datetime | None, int], AsyncIterator[list[Item[Any]]]]
PageProgress = Callable[[str, int], None]  # entity, records read so far in this listing
DECIDE_BATCH = 200
WRITE_BATCH = 200  # outbox rows leased at a time: about 25 s of PATCHes at 8/s
WRITE_LEASE = timedelta(minutes=10)  # ample for a batch with retries; then another may take it


@dataclass
class SyncReport:
    """What one sync did."""

    records_changed: int = 0
    learners_evaluated: int = 0
    stage_changes: int = 0
    writes_planned: int = 0
    writes_done: int = 0
    writes_skipped: int = 0
    writes_failed: int = 0
    deleted: int = 0
    paused: str | None = None
    dry_run_patches: list[tuple[int, list[str], list[str]]] = field(default_factory=list)

    @property
    def writes_handled(self) -> int:
        """Writes that left the outbox's due list: done, skipped or failed."""
        return self.writes_done + self.writes_skipped + self.writes_failed


@dataclass(kw_only=True)
class DecisionContext:
    """What deciding needs: the store, the active mapping and the account's day (no client)."""

    store: Store
    mapping: CompiledMapping
    mapping_version: int
    account_tz: tzinfo
    as_of: date | None = None

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
    dry_run: bool = False
    max_snapshot_age: timedelta = timedelta(minutes=10)
    labels: Labels | None = None
    credentials_checked: set[int] = field(default_factory=set)
    on_page: PageProgress | None = None
    seen: dict[str, set[int]] | None = None  # ids of each listing read whole (reconcile)
    # When the last complete course-enrolment listing began: every stored enrolment snapshot is
    # at least that current (one changed since would have been listed and stored again).
    enrolments_verified_at: datetime | None = None
    changed_records: dict[str, set[int]] | None = None  # ids each poll found changed, if asked
    worker: str = field(default_factory=worker_id)  # holds the outbox leases this context takes


# --- poll -------------------------------------------------------------------------------------


async def labels_for(ctx: SyncContext) -> Labels:
    """Labels from the stored combos, loading them from Wisenet when the store has none."""
    if ctx.labels is not None:
        return ctx.labels
    stored = await ctx.store.load_combos()
    if not all(name in stored for name in LIFECYCLE_COMBOS):
        loaded = {
            name: [e.model_dump() for e in await ctx.client.combo(name)]
            for name in LIFECYCLE_COMBOS
        }
        await ctx.store.save_combos(loaded)
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
    value = snapshot_values(item, labels)
    if value is None:
        return None
    data = item.data
    learner_id = {
        LEARNER: getattr(data, "learner_id", None),
        ENROLMENT: getattr(data, "learner_id", None),
    }.get(entity)
    if entity == CHECKLIST and data.entity_name == "Learner":
        learner_id = data.record_id
    parent = {
        UNIT: getattr(data, "course_enrolment_id", None),
        CREDENTIAL: getattr(data, "course_enrolment_id", None),
    }.get(entity)
    if entity == CHECKLIST and data.entity_name == "CourseEnrolment":
        parent = data.record_id
    tags = tuple(t.tag_id for t in data.tag_ids or ()) if entity == ENROLMENT else None
    return Snapshot(
        entity,
        data.key(),
        value,
        getattr(data, "last_modified_time_stamp", None),
        learner_id=learner_id,
        parent_id=parent,
        tag_ids=tags,
    )


async def poll(ctx: SyncContext, report: SyncReport) -> set[int]:
    """Read what changed since each cursor; return the learners whose bundle changed."""
    labels = await labels_for(ctx)
    changed: set[int] = set()
    first_sync = await ctx.store.cursor(AUDIT) is None
    listings: list[tuple[str, Listing, bool]] = [
        (
            LEARNER,
            lambda since, start: ctx.client.learners(modified_since=since, start=start),
            False,
        ),
        (ENROLMENT, _enrolment_listing(ctx), True),
        (
            UNIT,
            lambda since, start: ctx.client.unit_enrolments(modified_since=since, start=start),
            False,
        ),
        (
            CHECKLIST,
            lambda since, start: ctx.client.checklists(modified_since=since, start=start),
            False,
        ),
    ]
    newest: datetime | None = None
    for entity, listing, sorted_by_modified in listings:
        high = await poll_list(ctx, entity, listing, sorted_by_modified, labels, report)
        changed |= await ctx.store.dirty_learners()
        if high is not None:
            newest = max(newest, high) if newest else high
    if first_sync:
        read = 0
        ids: set[int] = set()
        async for page in ctx.client.credentials():
            if ctx.seen is not None:
                ids.update(key for item in page if (key := item.data.key()) is not None)
            snaps = [s for s in (snapshot_of(CREDENTIAL, item, labels) for item in page) if s]
            changed |= await ctx.store.save(snaps, entity=CREDENTIAL, high_water=None)
            read += len(page)
            if ctx.on_page is not None:
                ctx.on_page(CREDENTIAL, read)
        if ctx.seen is not None:
            ctx.seen[CREDENTIAL] = ids
        if newest is not None:
            await ctx.store.save([], entity=AUDIT, high_water=newest)
    else:
        changed |= await _audit(ctx, labels, report)
    return changed


def _enrolment_listing(ctx: SyncContext) -> Listing:
    return lambda since, start: ctx.client.course_enrolments(modified_since=since, start=start)


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
    progress = await ctx.store.progress(entity)
    if progress is not None:
        since, skip, high = progress.since, progress.skip, progress.high
    else:
        cursor = await ctx.store.cursor(entity)
        since, skip, high = (None if cursor is None else cursor - ctx.overlap), 0, cursor
    collect = ctx.seen is not None and since is None and skip == 0  # a whole read, for reconcile
    began = ctx.store.clock.now()
    ids: set[int] = set()
    changed = None if ctx.changed_records is None else ctx.changed_records.setdefault(entity, set())
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
            touched = await ctx.store.save(
                snaps, entity=entity, high_water=high, changed_records=changed
            )
        else:
            touched = await ctx.store.save(
                snaps,
                entity=entity,
                high_water=None,
                resume=Progress(skip, since, high),
                changed_records=changed,
            )
        report.records_changed += len(touched)
        if ctx.on_page is not None:
            ctx.on_page(entity, skip)
    await ctx.store.finish_listing(entity, high)
    if entity == ENROLMENT:
        ctx.enrolments_verified_at = began
    if collect and ctx.seen is not None:
        ctx.seen[entity] = ids
    return high


async def _audit(
    ctx: SyncContext, labels: Labels, report: SyncReport, *, credentials_too: bool = True
) -> set[int]:
    """Credentials and deletes since the audit cursor (neither shows in modified lists)."""
    cursor = await ctx.store.cursor(AUDIT)
    assert cursor is not None  # noqa: S101 - set by the first sync
    changed: set[int] = set()
    high = cursor
    credentials: set[int] = set()
    deletes: dict[str, set[int]] = {}
    async for page in ctx.client.audit_logs(modified_since=cursor - ctx.overlap):
        for item in page:
            entry = item.data
            stamp = _stamp(item, ctx.account_tz)
            high = max(high, stamp) if stamp else high
            if entry.audit_action == "D" and entry.entity_name in DELETABLE:
                deletes.setdefault(DELETABLE[entry.entity_name], set()).add(entry.record_id)
            elif entry.entity_name == "Credential" and credentials_too:
                credentials.add(entry.record_id)
    for credential_id in sorted(credentials):
        try:
            credential = await ctx.client.get_credential(credential_id)
        except NotFoundError:
            continue
        snapshot = snapshot_of(CREDENTIAL, credential, labels)
        if snapshot is not None:
            changed |= await ctx.store.save([snapshot], entity=CREDENTIAL, high_water=None)
    for entity, ids in deletes.items():
        changed |= await ctx.store.forget(entity, ids)
        report.deleted += len(ids)
    await ctx.store.save([], entity=AUDIT, high_water=high)
    return changed


# --- decide -----------------------------------------------------------------------------------


async def decide(
    ctx: DecisionContext, learner_ids: Iterable[int], report: SyncReport, *, priority: int = RECENT
) -> None:
    """Evaluate learners and queue the tag changes their decisions call for (in batches).

    With `as_of` set nothing is stored: the patches are only listed in the report.
    """
    catalogue = {tag.tag_id: tag.name for tag in await ctx.store.tags()}
    today = ctx.today()
    ownership = ctx.ownership
    ordered = sorted(learner_ids)
    for start in range(0, len(ordered), DECIDE_BATCH):
        loaded = await ctx.store.bundles(ordered[start : start + DECIDE_BATCH])
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
            report.learners_evaluated += len(decided)
            report.dry_run_patches += [
                (w.course_enrolment_id, sorted(w.add), sorted(w.remove))
                for _, writes, _ in decided
                for w in writes
            ]
            continue
        changes = await ctx.store.record_decisions(
            decided, mapping_version=ctx.mapping_version, today=today
        )
        report.learners_evaluated += len(decided)
        for (decision, _, _), moved in zip(decided, changes, strict=True):
            report.stage_changes += len(moved)
            for subject, subject_id, old, new in moved:
                log.info(
                    "stage.changed",
                    subject=subject,
                    id=subject_id,
                    learner_id=decision.learner_id,
                    from_stage=old,
                    to_stage=new,
                    correlation_id=correlations[decision.learner_id],
                )


# --- write ------------------------------------------------------------------------------------


class TagDefinitions:
    """Owned tag names to Wisenet tag ids, creating a definition only when a write needs it."""

    def __init__(self, ctx: SyncContext, known: list[StoredTag]) -> None:
        self.ctx = ctx
        self.by_name = {tag.name: tag for tag in known}
        self.adoptable = {t.name for t in ctx.mapping.spec.tags.owned if t.adopt_existing}
        self.fresh = False

    async def refresh_once(self) -> None:
        """Read the definitions unless this write-back already did (one request for all batches)."""
        if not self.fresh:
            await self.refresh()
            self.fresh = True

    async def refresh(self) -> None:
        """Read the account's tag definitions into the store."""
        found = [
            StoredTag(
                t.data.tag_id,
                t.data.name,
                archived=t.data.archived_flag,
                created_by_connector=False,
            )
            for t in await self.ctx.client.tags()
        ]
        await self.ctx.store.save_tags(found)
        self.by_name = {tag.name: tag for tag in await self.ctx.store.tags()}

    async def id_for(self, name: str) -> int:
        """The tag id to write for an owned name (made now if missing); refuses foreign tags."""
        tag = self.by_name.get(name)
        if tag is None:
            created = await self.ctx.client.create_tag(name)
            tag = StoredTag(created.data.tag_id, name, archived=False, created_by_connector=True)
            await self.ctx.store.save_tags([tag])
            self.by_name[name] = tag
            log.info("tag.created", tag=name, tag_id=tag.tag_id)
            return tag.tag_id
        if not tag.created_by_connector and name not in self.adoptable:
            raise ConfigurationError(
                f"tag '{name}' already exists in Wisenet and was not made by the connector; "
                "set adopt_existing: true for it in the mapping to use it"
            )
        if tag.archived:
            raise ConfigurationError(f"owned tag '{name}' is archived in Wisenet; its writes stop")
        return tag.tag_id


async def write_back(ctx: SyncContext, report: SyncReport, *, limit: int = WRITE_BATCH) -> None:
    """Drain the outbox: one PATCH per enrolment whose owned tags differ.

    The outbox is read `limit` rows at a time until it is empty (or only postponed rows are
    left); when the day's budget runs out the rest waits in the outbox for the reset.
    """
    definitions = TagDefinitions(ctx, [])
    try:
        while True:
            handled = report.writes_handled
            drained = await _drain(ctx, report, limit, definitions)
            if drained < limit or report.writes_handled == handled:
                return
    except QuotaExhaustedError:
        log.warning("write.paused", reason="quota")
        report.paused = "writes: the day's budget is spent; they continue after the reset"


async def _drain(
    ctx: SyncContext, report: SyncReport, limit: int, definitions: TagDefinitions
) -> int:
    """Send one batch of due writes; return how many rows the batch held (0 on a dry run).

    The batch is leased; whatever it does not finish (a quota stop, a failure) is given back.
    """
    if ctx.dry_run:
        for write in await ctx.store.pending_writes(limit):
            report.dry_run_patches.append(
                (write.course_enrolment_id, sorted(write.add), sorted(write.remove))
            )
        return 0
    pending = await ctx.store.claim_writes(ctx.worker, limit, WRITE_LEASE)
    if not pending:
        return 0
    try:
        return await _send(ctx, report, limit, pending, definitions)
    finally:
        await ctx.store.release_writes(ctx.worker)


async def _send(
    ctx: SyncContext,
    report: SyncReport,
    limit: int,
    pending: list[PendingWrite],
    definitions: TagDefinitions,
) -> int:
    await definitions.refresh_once()
    refresh_before = flag_driven_tags(ctx.mapping)
    stale: set[int] = set()
    for index, write in enumerate(pending):
        if len(pending) - index > 1 and _unverified(ctx) and await ctx.store.cursor(ENROLMENT):
            # One poll of the enrolments modified since the cursor is cheaper than reading each
            # of the remaining enrolments before its PATCH.
            await poll_list(
                ctx,
                ENROLMENT,
                _enrolment_listing(ctx),
                sorted_by_modified=True,
                labels=await labels_for(ctx),
                report=report,
            )
        unchecked = write.course_enrolment_id not in ctx.credentials_checked
        if write.add & refresh_before and unchecked and await _credentials_changed(ctx, write):
            stale.add(write.learner_id)
            continue
        if not await _attempt(ctx, definitions, write, report):
            raise QuotaExhaustedError(
                "the day's budget is spent", method="PATCH", endpoint="/course-enrolments/{id}"
            )
    if stale:
        await decide(ctx, stale, report)
        await _drain(ctx, report, limit, definitions)
    return len(pending)


def _unverified(ctx: SyncContext) -> bool:
    """Whether the stored enrolment snapshots may be older than a write may trust."""
    verified = ctx.enrolments_verified_at
    return verified is None or ctx.store.clock.now() - verified > ctx.max_snapshot_age


async def _attempt(
    ctx: SyncContext, definitions: TagDefinitions, write: PendingWrite, report: SyncReport
) -> bool:
    """Send one write and count its outcome; False when the day's quota stops all writing."""
    try:
        done = await _write_one(ctx, definitions, write)
    except QuotaExhaustedError:
        return False
    except InactiveLearnerError:
        await ctx.store.finish_write(write, None)
        report.writes_skipped += 1
    except (ConfigurationError, RejectedError) as exc:
        await ctx.store.dead_letter(write, str(exc))
        report.writes_failed += 1
    except TransientError:
        await ctx.store.postpone_write(write, ctx.store.clock.now() + timedelta(minutes=5))
        report.writes_failed += 1
    else:
        if done:
            report.writes_done += 1
        else:
            report.writes_skipped += 1
    return True


def flag_driven_tags(mapping: CompiledMapping) -> frozenset[str]:
    """Owned tags written because of a course-enrolment flag (like certificate-overdue).

    Such flags can be raised by time alone, so before a tag of this kind is first written the
    enrolment's credentials are read again: a certificate issued with no other change must not
    be reported late.
    """
    enrolment_flags = {f.id for f in mapping.spec.flags if f.subject is Subject.COURSE_ENROLMENT}
    driven = set()
    for rule in mapping.spec.tags.rules:
        if isinstance(rule, TagWhen) and enrolment_flags & _flags_in(rule.when):
            driven.add(rule.tag)
    return frozenset(driven)


def _flags_in(condition: Any) -> set[str]:
    if isinstance(condition, FlagRef):
        return {condition.flag}
    if isinstance(condition, AllOf | AnyOf):
        parts = condition.all if isinstance(condition, AllOf) else condition.any
        return set().union(*(_flags_in(part) for part in parts))
    return set()


async def _credentials_changed(ctx: SyncContext, write: PendingWrite) -> bool:
    """Read one enrolment's credentials (one request); whether the store learned something."""
    ctx.credentials_checked.add(write.course_enrolment_id)
    labels = await labels_for(ctx)
    changed: set[int] = set()
    async for page in ctx.client.credentials(course_enrolment_id=write.course_enrolment_id):
        snaps = [s for s in (snapshot_of(CREDENTIAL, item, labels) for item in page) if s]
        changed |= await ctx.store.save(snaps, entity=CREDENTIAL, high_water=None)
    return bool(changed)


async def _write_one(ctx: SyncContext, definitions: TagDefinitions, write: PendingWrite) -> bool:
    """PATCH one enrolment's tags; False when nothing needed sending."""
    if not await ctx.store.learner_is_active(write.learner_id):
        await ctx.store.finish_write(write, None)
        return False
    snapshot = await ctx.store.enrolment_snapshot(write.course_enrolment_id)
    if snapshot is None:
        await ctx.store.finish_write(write, None)
        return False
    current, fetched_at = snapshot
    verified = max(fetched_at, ctx.enrolments_verified_at or fetched_at)
    if ctx.store.clock.now() - verified > ctx.max_snapshot_age:
        fresh = await ctx.client.get_course_enrolment(write.course_enrolment_id)
        current = tuple(t.tag_id for t in fresh.data.tag_ids or ())
    remove_ids = {definitions.by_name[n].tag_id for n in write.remove if n in definitions.by_name}
    add_ids = [await definitions.id_for(name) for name in sorted(write.add)]
    wanted = [t for t in current if t not in remove_ids]
    wanted += [t for t in add_ids if t not in wanted]
    if wanted == list(current):
        await ctx.store.finish_write(write, None)
        return False
    item = await ctx.client.set_course_enrolment_tags(
        write.course_enrolment_id, wanted, learner_id=write.learner_id
    )
    labels = await labels_for(ctx)
    await ctx.store.finish_write(write, snapshot_of(ENROLMENT, item, labels))
    log.info(
        "tags.written",
        course_enrolment_id=write.course_enrolment_id,
        learner_id=write.learner_id,
        added=sorted(write.add),
        removed=sorted(write.remove),
        correlation_id=write.correlation_id,
    )
    return True


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
    backfill = await ctx.store.cursor(AUDIT) is None
    try:
        changed = await poll(ctx, report)
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
    if await ctx.store.cursor(AUDIT) is not None:
        await _audit(ctx, await labels_for(ctx), report, credentials_too=False)
        await ctx.store.reset_cursors()
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
        stale = set(await ctx.store.record_ids(entity)) - ids
        if stale:
            log.info("reconcile.forgotten", entity=entity, ids=sorted(stale)[:50], count=len(stale))
            touched |= await ctx.store.forget(entity, stale)
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

    With `as_of` the sweep only plans: nothing is stored and nothing is sent.
    """
    report = SyncReport()
    await decide(ctx, await ctx.store.learner_ids(), report, priority=BACKLOG)
    if ctx.as_of is None:
        await write_back(ctx, report)
    return report
