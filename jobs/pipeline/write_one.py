"""Writing one enrolment's tags, and the credential re-check a flag-driven tag needs first.

Before the PATCH the snapshot's freshness is checked; the response becomes the new snapshot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

import structlog

from connector.store.entities import CREDENTIAL, ENROLMENT
from connector.store.outbox import PendingWrite
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.poll import labels_for, list_credentials, snapshot_of
from jobs.pipeline.read_costs import Strategy, cheapest, counted, listing_pages
from jobs.pipeline.tag_definitions import TagDefinitions

log = structlog.get_logger(__name__)
REDECIDE_ROUNDS = 3  # decisions again per learner in one write-back, if Wisenet keeps changing


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


def credentials_fresh(ctx: SyncContext) -> bool:
    """Whether a whole credential listing was read recently enough for a write to trust."""
    verified = ctx.credentials_verified_at
    return verified is not None and ctx.store.clock.now() - verified <= ctx.max_snapshot_age


async def read_credentials_for(
    ctx: SyncContext, report: SyncReport, state: WritePass, writes: list[PendingWrite]
) -> None:
    """Before flag-driven writes, read the whole credential listing if that is cheaper.

    The other way is one listing filtered by learner per learner, just before their write is
    sent (by learner, not by enrolment: a rule may test a flag of another of their enrolments).
    """
    unchecked = {w.learner_id for w in writes} - state.credentials_checked
    if not unchecked or credentials_fresh(ctx):
        return
    pages = listing_pages(await ctx.store.snapshots.count(CREDENTIAL), ctx.client.page_size)
    choice = cheapest(CREDENTIAL, by_parent=len(unchecked), whole_listing=pages)
    if choice.strategy is Strategy.WHOLE_LISTING:
        await list_credentials(ctx, await labels_for(ctx), report)


async def credentials_changed(
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


async def write_one(
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
