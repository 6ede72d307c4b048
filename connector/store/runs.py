"""The run log, and the queries over the whole store: status facts, export and retention.

Runs are recorded with counts only. `status` reads cursors, the latest run of each job, queue
depths and dead letters; the export streams one row per course enrolment; retention deletes
the run log, dead letters, stage history and handled webhooks older than a moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from connector.store.database import Database
from connector.store.entities import LEARNER
from connector.store.outbox import Outbox
from connector.store.schema import (
    cursors,
    dead_letters,
    enrolment_state,
    flags,
    learner_state,
    outbox,
    records,
    runs,
    stage_history,
    webhook_inbox,
)
from connector.store.sql import aware


class Runs:
    """The `runs` table, and status, export and retention across the store's tables."""

    def __init__(self, db: Database, writes: Outbox) -> None:
        self._db = db
        self._outbox = writes

    async def start(self, job: str) -> int:
        """Record that a job started; return its run id."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                runs.insert().values(job=job, started_at=self._db.clock.now())
            )
            key = result.inserted_primary_key
            assert key is not None  # noqa: S101 - an insert always has a key
            return int(key[0])

    async def finish(self, run_id: int, outcome: str, detail: dict[str, Any]) -> None:
        """Record how a job ended (counts only)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(finished_at=self._db.clock.now(), outcome=outcome, detail=detail)
            )

    async def status_facts(self) -> dict[str, Any]:
        """Cursors, the latest run of each job, queue depths and dead letters, for `status`.

        `outbox` counts the writes that will be sent (now or after the budget's reset); `blocked`
        the writes held by a refused tag, by tag and reason.
        """
        async with self._db.connect() as conn:
            cursor_rows = await conn.execute(select(cursors.c.entity, cursors.c.high_water))
            latest = await conn.execute(
                select(
                    runs.c.job, runs.c.started_at, runs.c.finished_at, runs.c.outcome, runs.c.detail
                ).order_by(runs.c.id)
            )
            outbox_count = (
                await conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.blocked_tag.is_(None))
                )
            ).scalar_one()
            letters = (
                await conn.execute(select(func.count()).select_from(dead_letters))
            ).scalar_one()
            learners = (
                await conn.execute(
                    select(func.count()).select_from(records).where(records.c.entity == LEARNER)
                )
            ).scalar_one()
        last_runs: dict[str, dict[str, Any]] = {}
        for job, started, finished, outcome, detail in latest:
            last_runs[job] = {
                "started_at": aware(started).isoformat(timespec="seconds"),
                "finished_at": aware(finished).isoformat(timespec="seconds") if finished else None,
                "outcome": outcome,
                "detail": detail or {},
            }
        return {
            "learners": int(learners),
            "cursors": {
                entity: aware(mark).isoformat(timespec="seconds") for entity, mark in cursor_rows
            },
            "last_runs": last_runs,
            "outbox": int(outbox_count),
            "blocked": [
                {"tag": group.tag, "reason": group.reason, "writes": group.writes}
                for group in await self._outbox.blocked()
            ],
            "dead_letters": int(letters),
        }

    async def export(self, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """One row per course enrolment, streamed in batches (constant memory)."""
        last = -1
        while True:
            async with self._db.connect() as conn:
                rows = (
                    await conn.execute(
                        select(enrolment_state, learner_state.c.stage.label("learner_stage"))
                        .join(
                            learner_state,
                            learner_state.c.learner_id == enrolment_state.c.learner_id,
                        )
                        .where(enrolment_state.c.course_enrolment_id > last)
                        .order_by(enrolment_state.c.course_enrolment_id)
                        .limit(batch)
                    )
                ).all()
                if not rows:
                    return
                learners = {row.learner_id for row in rows}
                raised = await conn.execute(select(flags).where(flags.c.learner_id.in_(learners)))
                by_learner: dict[int, list[str]] = {}
                for flag in raised:
                    by_learner.setdefault(flag.learner_id, []).append(
                        f"{flag.flag}@{flag.subject}:{flag.subject_id}"
                    )
            for row in rows:
                yield {
                    "learner_id": row.learner_id,
                    "learner_stage": row.learner_stage,
                    "course_enrolment_id": row.course_enrolment_id,
                    "stage": row.stage,
                    "flags": sorted(by_learner.get(row.learner_id, [])),
                    "desired_tags": sorted(row.desired_tags),
                    "stage_since": aware(row.stage_since).isoformat(timespec="seconds"),
                }
            last = rows[-1].course_enrolment_id

    async def purge(self, before: datetime) -> dict[str, int]:
        """Delete run log, dead letters, stage history and handled webhooks older than `before`."""
        removed = {}
        async with self._db.transaction() as conn:
            for name, table, column in (
                ("runs", runs, runs.c.started_at),
                ("dead_letters", dead_letters, dead_letters.c.created_at),
                ("stage_history", stage_history, stage_history.c.observed_at),
            ):
                result = await conn.execute(delete(table).where(column < before.astimezone(UTC)))
                removed[name] = int(result.rowcount or 0)
            handled = await conn.execute(
                delete(webhook_inbox).where(
                    webhook_inbox.c.processed_at.is_not(None),
                    webhook_inbox.c.received_at < before.astimezone(UTC),
                )
            )
            removed["webhook_inbox"] = int(handled.rowcount or 0)
        return removed
