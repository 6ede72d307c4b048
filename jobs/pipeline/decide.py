"""Decide: evaluate the learners whose snapshots changed.

Each decision commits with its flags, stage history and outbox rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

import structlog

from connector.store.outbox import PendingWrite
from jobs.pipeline.context import DecisionContext, PlannedWrite, SyncReport
from mappings.decision import Decision
from mappings.evaluate import evaluate
from mappings.plan import plan

log = structlog.get_logger(__name__)
RECENT, BACKLOG = 0, 1
DECIDE_BATCH = 200


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
