"""Decisions: each learner's stages, flags, stage history and planned writes, stored together.

A batch of decisions is one transaction of a fixed number of statements: the learners' and
enrolments' state, the stage changes seen, the flags raised (keeping when each was first
raised: that is its age), and the outbox rows planned or cancelled. The learners decided are no
longer marked for a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connector.store.database import Database
from connector.store.outbox import PendingWrite
from connector.store.schema import (
    dirty_learners,
    enrolment_state,
    flags,
    learner_state,
    outbox,
    stage_history,
)
from connector.store.sql import upsert_many
from mappings.decision import Decision
from mappings.explain import decision_json

_ABSENT = object()  # no row before


class Decisions:
    """The `learner_state`, `enrolment_state`, `flags` and `stage_history` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        decision: Decision,
        *,
        mapping_version: int,
        today: date,
        writes: Sequence[PendingWrite],
        cancel_writes: Iterable[int],
    ) -> list[tuple[str, int, str | None, str | None]]:
        """Store a learner's decision, its flags, stage history and outbox rows, together.

        Returns the stage changes as (subject, id, from, to).
        """
        return (
            await self.record_many(
                [(decision, writes, cancel_writes)], mapping_version=mapping_version, today=today
            )
        )[0]

    async def record_many(
        self,
        decided: Sequence[tuple[Decision, Sequence[PendingWrite], Iterable[int]]],
        *,
        mapping_version: int,
        today: date,
    ) -> list[list[tuple[str, int, str | None, str | None]]]:
        """Store several learners' decisions in one transaction; their stage changes, in order.

        The batch costs a fixed number of statements, however many learners it holds.
        """
        rows = [(decision, list(writes), list(cancels)) for decision, writes, cancels in decided]
        if len({decision.learner_id for decision, _, _ in rows}) != len(rows):
            raise ValueError("a batch of decisions names a learner twice")
        if not rows:
            return []
        async with self._db.transaction() as conn:
            recorded = await self._record_many(conn, rows, mapping_version, today)
            await conn.execute(
                delete(dirty_learners).where(
                    dirty_learners.c.learner_id.in_([d.learner_id for d, _, _ in rows])
                )
            )
            return recorded

    async def _record_many(
        self,
        conn: AsyncConnection,
        decided: list[tuple[Decision, list[PendingWrite], list[int]]],
        mapping_version: int,
        today: date,
    ) -> list[list[tuple[str, int, str | None, str | None]]]:
        now = self._db.clock.now()
        ids = [decision.learner_id for decision, _, _ in decided]
        stage_before = {
            row.learner_id: row.stage
            for row in await conn.execute(
                select(learner_state.c.learner_id, learner_state.c.stage).where(
                    learner_state.c.learner_id.in_(ids)
                )
            )
        }
        previous = {
            row.course_enrolment_id: row
            for row in await conn.execute(
                select(enrolment_state).where(enrolment_state.c.learner_id.in_(ids))
            )
        }
        # A flag raised before keeps the moment it was first raised: that is its age.
        raised_before = {
            (row.learner_id, row.flag, row.subject, row.subject_id): row.raised_at
            for row in await conn.execute(
                select(
                    flags.c.learner_id,
                    flags.c.flag,
                    flags.c.subject,
                    flags.c.subject_id,
                    flags.c.raised_at,
                ).where(flags.c.learner_id.in_(ids))
            )
        }
        recorded: list[list[tuple[str, int, str | None, str | None]]] = []
        states: list[dict[str, Any]] = []
        enrolments: list[dict[str, Any]] = []
        raised: list[dict[str, Any]] = []
        planned: list[dict[str, Any]] = []
        cancelled: list[int] = []
        for decision, writes, cancels in decided:
            learner_id = decision.learner_id
            changes: list[tuple[str, int, str | None, str | None]] = []
            before = stage_before.get(learner_id, _ABSENT)
            if before is _ABSENT or before != decision.learner_stage:
                old_stage = None if before is _ABSENT else before
                changes.append(("learner", learner_id, old_stage, decision.learner_stage))
            states.append(
                {
                    "learner_id": learner_id,
                    "stage": decision.learner_stage,
                    "mapping_version": mapping_version,
                    "decided_on": today,
                    "decision": decision_json(decision),
                }
            )
            for ce in decision.course_enrolments:
                old = previous.get(ce.id)
                moved = old is None or old.stage != ce.stage
                if moved:
                    changes.append(
                        ("course_enrolment", ce.id, old.stage if old else None, ce.stage)
                    )
                enrolments.append(
                    {
                        "course_enrolment_id": ce.id,
                        "learner_id": learner_id,
                        "stage": ce.stage,
                        "desired_tags": sorted(ce.desired_tags),
                        "stage_since": now if moved or old is None else old.stage_since,
                    }
                )
            for flag in decision.flags:
                key = (learner_id, flag.flag, flag.subject.value, flag.subject_id)
                raised.append(
                    {
                        "flag": flag.flag,
                        "subject": flag.subject.value,
                        "subject_id": flag.subject_id,
                        "learner_id": learner_id,
                        "rule": flag.rule,
                        "reason": flag.reason,
                        "raised_at": raised_before.get(key, now),
                        "kind": flag.kind,
                        "due": flag.due,
                        "course_enrolment_id": flag.course_enrolment_id,
                        "owner_id": flag.owner_id,
                    }
                )
            cancelled.extend(cancels)
            planned.extend(
                {
                    "course_enrolment_id": write.course_enrolment_id,
                    "learner_id": learner_id,
                    "add_tags": sorted(write.add),
                    "remove_tags": sorted(write.remove),
                    "priority": write.priority,
                    "correlation_id": write.correlation_id,
                    "created_at": now,
                    "attempts": 0,
                    "not_before": None,
                    "lease_owner": None,  # a new plan: a write in flight must not drop it
                    "lease_until": None,
                    "blocked_tag": None,  # a new plan is checked again before it is sent
                    "blocked_reason": None,
                }
                for write in writes
            )
            recorded.append(changes)
        await upsert_many(conn, learner_state, states, ("learner_id",))
        if enrolments:
            await upsert_many(conn, enrolment_state, enrolments, ("course_enrolment_id",))
        # A decision holds every enrolment its learner has: the state of any other is stale.
        await conn.execute(
            delete(enrolment_state).where(
                enrolment_state.c.learner_id.in_(ids),
                enrolment_state.c.course_enrolment_id.not_in(
                    [row["course_enrolment_id"] for row in enrolments]
                ),
            )
        )
        history = [
            {
                "subject": subject,
                "subject_id": subject_id,
                "learner_id": decision.learner_id,
                "from_stage": old_stage,
                "to_stage": new_stage,
                "observed_at": now,
            }
            for (decision, _, _), changes in zip(decided, recorded, strict=True)
            for subject, subject_id, old_stage, new_stage in changes
        ]
        if history:
            await conn.execute(stage_history.insert(), history)
        await conn.execute(delete(flags).where(flags.c.learner_id.in_(ids)))
        if raised:
            await conn.execute(flags.insert(), raised)
        if cancelled:
            await conn.execute(delete(outbox).where(outbox.c.course_enrolment_id.in_(cancelled)))
        if planned:
            await upsert_many(conn, outbox, planned, ("course_enrolment_id",))
        return recorded

    async def summary(self) -> dict[str, dict[str, int]]:
        """Learners per stage and flags per kind, for reports (counts only, no personal data)."""
        async with self._db.connect() as conn:
            stages = await conn.execute(
                select(learner_state.c.stage, func.count()).group_by(learner_state.c.stage)
            )
            raised = await conn.execute(select(flags.c.flag, func.count()).group_by(flags.c.flag))
            return {
                "stages": {str(stage or "none"): int(count) for stage, count in stages},
                "flags": {str(flag): int(count) for flag, count in raised},
            }
