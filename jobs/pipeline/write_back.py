"""Write-back: the outbox drains by priority; one PATCH per enrolment whose owned tags differ.

The response becomes the new snapshot; inactive learners are never written. What the writer's
own reads and PATCH responses show changed besides the tags it wrote (a staff edit landing
between our read and our write) marks the learner, who is decided again in the same run. A
write of a tag the connector refuses waits in the outbox as blocked until that is fixed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import (
    ConfigurationError,
    InactiveLearnerError,
    NotFoundError,
    QuotaExhaustedError,
    RejectedError,
    TagRefusedError,
    TransientError,
)
from connector.store.entities import ENROLMENT
from connector.store.outbox import PendingWrite
from connector.wisenet.endpoints import COURSE_ENROLMENT
from jobs.pipeline.context import PlannedWrite, SyncContext, SyncReport
from jobs.pipeline.decide import decide
from jobs.pipeline.lanes import grouped, in_lanes
from jobs.pipeline.poll import enrolment_listing, labels_for, poll_list
from jobs.pipeline.tag_definitions import TagDefinitions
from jobs.pipeline.write_one import (
    WritePass,
    Written,
    credentials_changed,
    credentials_fresh,
    read_credentials_for,
    write_one,
)
from jobs.pipeline.write_outcomes import failure_key

log = structlog.get_logger(__name__)
WRITE_BATCH = 200  # outbox rows leased at a time: about 25 s of PATCHes at 8/s
WRITE_LEASE = timedelta(minutes=10)  # ample for a batch with retries; then another may take it
WRITE_LANES = 4  # learners written at once: the store work of one overlaps the next PATCH


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
    await read_credentials_for(ctx, report, state, [w for w in pending if w.add & refresh_before])
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
                    enrolment_listing(ctx),
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
        unchecked = unchecked and not credentials_fresh(ctx)
        if (
            write.add & refresh_before
            and unchecked
            and await credentials_changed(ctx, state, write, report)
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
        written = await write_one(ctx, state.definitions, write, report)
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
