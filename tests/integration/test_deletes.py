"""Records deleted in Wisenet leave the store whole: no decision, flag, history or write of theirs.

Deletes go through the sandbox's control API, which writes the audit-log entries and webhooks
Wisenet would; the connector learns of them through the real sync, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from connector.bundles import Labels
from connector.store import migrate
from connector.store.outbox import PendingWrite
from connector.store.schema import (
    dead_letters,
    dirty_learners,
    enrolment_state,
    flags,
    learner_state,
    outbox,
    records,
    stage_history,
)
from connector.store.store import Store
from jobs.pipeline.context import SyncReport
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.mapping_apply import impact
from jobs.pipeline.runs import reconcile, sync
from jobs.pipeline.write_back import write_back
from mappings.loader import load_mapping
from tests.reference import Outcome, decide
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, default_mapping
from tests.support.databases import database
from tests.support.receiving import receiving
from tests.support.rig import Rig, expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import TODAY, control
from tests.support.sandbox_bundles import bundle_for, combos

pytestmark = pytest.mark.integration
PATCH = "PATCH /course-enrolments/{id}"


def reference(rig: Rig) -> dict[int, Outcome]:
    """What lifecycle.md decides for every learner the sandbox holds now."""
    sandbox = rig.server.sandbox
    labels = Labels.from_combos(combos(sandbox))
    return {
        learner_id: decide(bundle_for(sandbox, learner_id, labels), TODAY)
        for learner_id in sandbox.db.learners.ids()
    }


async def export(store: Store) -> dict[int, dict[str, Any]]:
    """The export's rows by course enrolment."""
    return {row["course_enrolment_id"]: row async for row in store.runs.export()}


async def derived_from(store: Store, subject: str, ids: set[int]) -> dict[str, int]:
    """Rows of every derived table keyed by these records (ids of one subject), per table."""
    keyed: list[tuple[Table, ColumnElement[bool]]] = [
        (flags, (flags.c.subject == subject) & flags.c.subject_id.in_(ids)),
        (
            stage_history,
            (stage_history.c.subject == subject) & stage_history.c.subject_id.in_(ids),
        ),
    ]
    if subject == "course_enrolment":
        keyed += [
            (table, table.c.course_enrolment_id.in_(ids))
            for table in (enrolment_state, outbox, dead_letters)
        ]
    found = {}
    async with store.db.engine.connect() as conn:
        for table, where in keyed:
            count = await conn.execute(select(func.count()).select_from(table).where(where))
            found[table.name] = int(count.scalar_one())
        decisions = (await conn.execute(select(learner_state.c.decision))).scalars().all()
    found["decisions"] = sum(
        1
        for decision in decisions
        for mentioned in (
            [(ce["id"], "course_enrolment") for ce in decision["course_enrolments"]]
            + [(flag["id"], flag["subject"]) for flag in decision["flags"]]
        )
        if mentioned[1] == subject and mentioned[0] in ids
    )
    return {table: count for table, count in found.items() if count}


async def learner_stages(store: Store) -> dict[int, str | None]:
    """Each decided learner's stage."""
    async with store.db.engine.connect() as conn:
        rows = await conn.execute(select(learner_state.c.learner_id, learner_state.c.stage))
        return {row[0]: row[1] for row in rows}


async def assert_store_agrees_with_wisenet(rig: Rig) -> None:
    """Export, report and preview hold exactly what the reference decides on the sandbox now."""
    wanted = reference(rig)
    rows = await export(rig.store)
    assert {
        ce_id: (row["learner_stage"], row["stage"], set(row["desired_tags"]))
        for ce_id, row in rows.items()
    } == {
        ce_id: (outcome.learner_stage, stage, set(tags))
        for outcome in wanted.values()
        for ce_id, (stage, tags) in outcome.enrolments.items()
    }
    data = await rig.store.report.data()
    assert data.learners_by_stage == Counter(
        str(outcome.learner_stage or "none") for outcome in wanted.values()
    )
    assert {f.flag: f.count for f in data.flags} == Counter(
        flag for outcome in wanted.values() for flag, _, _ in outcome.flags
    )
    assert await rig.store.snapshots.dirty_learners() == set()


async def assert_preview_counts_what_wisenet_holds(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview (Reconnect after 30 days, not 60) moves what the reference moves on Wisenet now."""
    proposed = load_mapping(
        DEFAULT_MAPPING.read_text().replace("reconnect_after_days: 60", "reconnect_after_days: 30"),
        "proposed.yaml",
        CALENDAR,
    )
    preview = await impact(rig.store, default_mapping(), proposed, TODAY)
    now = reference(rig)
    monkeypatch.setattr("tests.reference.RECONNECT_AFTER", 30)
    then = reference(rig)
    moved = Counter(
        (now[learner].enrolments[ce][0], stage)
        for learner, outcome in then.items()
        for ce, (stage, _) in outcome.enrolments.items()
        if stage != now[learner].enrolments[ce][0]
    )
    assert preview.learners == len(now)
    assert preview.stage_moves == moved


async def test_a_deleted_course_enrolment_leaves_decisions_flags_export_report_and_writes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three Reconnect enrolments deleted in Wisenet (learners kept): gone after one sync.

    Their learners are decided again in that sync (one drops out of Reconnect, others see
    `reconnect-eligible` move to their remaining enrolment: legitimate writes), and not one
    request names a deleted enrolment.
    """
    rig.ctx.dry_run = True  # decide everything, send nothing: every planned write waits
    await sync(rig.ctx)
    before = await export(rig.store)
    per_learner = Counter(row["learner_id"] for row in before.values())
    chosen = sorted(
        ce_id
        for ce_id, row in before.items()
        if row["stage"] == "Reconnect"
        and "reconnect-eligible" in row["desired_tags"]
        and per_learner[row["learner_id"]] > 1
    )[:3]
    assert len(chosen) == 3
    learners = {before[ce_id]["learner_id"] for ce_id in chosen}
    assert len(learners) == 3
    assert await derived_from(rig.store, "course_enrolment", set(chosen))  # decided, queued
    refused = PendingWrite(
        chosen[0], before[chosen[0]]["learner_id"], frozenset(), frozenset(), 0, "earlier", 0
    )
    await rig.store.outbox.dead_letter(refused, "rejected with 400")
    db = rig.server.sandbox.db
    units = {u for ce in chosen for u in db.unit_enrolments.ids_where("CourseEnrolmentId", ce)}
    stages_before = await learner_stages(rig.store)

    for ce_id in chosen:
        control(rig.server, "DELETE", f"/records/CourseEnrolment/{ce_id}")
    report = await sync(rig.ctx)  # still a dry run: what would be sent is listed
    assert report.deleted >= 3
    assert not {write.course_enrolment_id for write in report.plan or []} & set(chosen)

    rig.ctx.dry_run = False
    control(rig.server, "POST", "/counters/reset")
    patched_before = len(control(rig.server, "GET", "/patches"))
    report = await sync(rig.ctx)
    patched = control(rig.server, "GET", "/patches")[patched_before:]
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert report.writes_failed == 0
    assert counts.get(PATCH, 0) == len(patched) == report.writes_done > 0  # none refused (404)
    assert not {entry["id"] for entry in patched} & set(chosen)
    assert "GET /course-enrolments/{id}" not in counts
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)

    assert await derived_from(rig.store, "course_enrolment", set(chosen)) == {}
    assert await derived_from(rig.store, "unit_enrolment", units) == {}
    assert not set(chosen) & set(await rig.store.snapshots.record_ids("CourseEnrolment"))
    assert not units & set(await rig.store.snapshots.record_ids("UnitEnrolment"))
    stages_after = await learner_stages(rig.store)
    assert any(stages_after[i] != stages_before[i] for i in learners)  # decided again
    assert set(stages_after) >= learners  # the learners stay
    await assert_store_agrees_with_wisenet(rig)

    await assert_preview_counts_what_wisenet_holds(rig, monkeypatch)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the same path as above, per entity
@pytest.mark.parametrize(
    ("flag", "entity", "subject"),
    [
        ("outcome-overdue", "UnitEnrolment", "unit_enrolment"),
        ("checklist-overdue", "Checklist", "checklist"),
    ],
)
async def test_a_deleted_record_takes_its_flag_with_it(
    rig: Rig, flag: str, entity: str, subject: str
) -> None:
    """A unit enrolment or checklist deleted in Wisenet: its overdue flag goes in the next sync."""
    await sync(rig.ctx)
    async with rig.store.db.engine.connect() as conn:
        raised = (
            (
                await conn.execute(
                    select(flags.c.subject_id)
                    .where(flags.c.flag == flag, flags.c.subject == subject)
                    .order_by(flags.c.subject_id)
                )
            )
            .scalars()
            .all()
        )
    assert raised
    gone = raised[0]
    control(rig.server, "DELETE", f"/records/{entity}/{gone}")
    control(rig.server, "POST", "/counters/reset")
    report = await sync(rig.ctx)
    assert report.deleted == 1
    assert report.learners_evaluated == 1
    assert await derived_from(rig.store, subject, {gone}) == {}
    assert gone not in await rig.store.snapshots.record_ids(entity)
    assert not any(
        f"{flag}@{subject}:{gone}" in row["flags"] for row in (await export(rig.store)).values()
    )
    await assert_store_agrees_with_wisenet(rig)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # writer logic: store-neutral
async def test_a_write_to_an_enrolment_deleted_since_the_poll_forgets_it(rig: Rig) -> None:
    """A PATCH answered 404 forgets the enrolment and re-decides its learner; the rest is sent."""
    rig.ctx.dry_run = True
    await sync(rig.ctx)
    rig.ctx.dry_run = False
    planned = {write.course_enrolment_id: write for write in await rig.store.outbox.pending(10_000)}
    rows = await export(rig.store)
    per_learner = Counter(row["learner_id"] for row in rows.values())
    gone = min(ce for ce in planned if per_learner[rows[ce]["learner_id"]] > 1)
    db = rig.server.sandbox.db
    for unit in sorted(db.unit_enrolments.ids_where("CourseEnrolmentId", gone)):
        db.unit_enrolments.delete(unit)
    assert db.course_enrolments.delete(gone) is not None  # no audit entry: only the PATCH tells
    control(rig.server, "POST", "/counters/reset")
    report = await write_back_only(rig)
    counts = control(rig.server, "GET", "/counters")["by_status"]
    assert report.writes_failed == 0
    assert report.deleted == 1
    assert counts.get("404", 0) == 1
    assert await derived_from(rig.store, "course_enrolment", {gone}) == {}
    assert await rig.store.outbox.size() == 0
    await assert_store_agrees_with_wisenet(rig)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def write_back_only(rig: Rig) -> SyncReport:
    """Drain the outbox (no poll), as the service's writer does."""
    report = SyncReport()
    await write_back(rig.ctx, report)
    return report


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the same forgetting as above
async def test_reconcile_forgets_an_enrolment_the_audit_log_never_reported(rig: Rig) -> None:
    """A course enrolment gone from Wisenet without an audit entry: reconcile drops it whole."""
    await sync(rig.ctx)
    rows = await export(rig.store)
    per_learner = Counter(row["learner_id"] for row in rows.values())
    gone = min(ce for ce, row in rows.items() if per_learner[row["learner_id"]] > 1)
    db = rig.server.sandbox.db
    units = set(db.unit_enrolments.ids_where("CourseEnrolmentId", gone))
    for unit in units:
        db.unit_enrolments.delete(unit)
    assert db.course_enrolments.delete(gone) is not None  # straight from the table
    report = await reconcile(rig.ctx)
    assert report.deleted == 1  # its unit enrolments went with it, before their listing's turn
    assert await derived_from(rig.store, "course_enrolment", {gone}) == {}
    assert await derived_from(rig.store, "unit_enrolment", units) == {}
    await assert_store_agrees_with_wisenet(rig)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_an_upgrade_scrubs_what_earlier_deletes_left_behind(
    kind: str, tmp_path: Path
) -> None:
    """Migration 0008: rows of forgotten records go, kept ones stay, their learner is re-decided."""
    now = datetime(2026, 11, 28, tzinfo=UTC)
    async with database(kind, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            await migrate.upgrade(engine, "0006")
            async with engine.begin() as conn:
                await conn.execute(
                    records.insert(),
                    [
                        {
                            "entity": entity,
                            "id": ident,
                            "learner_id": 1,
                            "parent_id": None,
                            "modified": None,
                            "content_hash": "h",
                            "fields": {},
                            "tag_ids": None,
                            "fetched_at": now,
                        }
                        for entity, ident in (("Learner", 1), ("CourseEnrolment", 10))
                    ],
                )
                await conn.execute(
                    enrolment_state.insert(),
                    [
                        {
                            "course_enrolment_id": ce,
                            "learner_id": 1,
                            "stage": "Reconnect",
                            "desired_tags": [],
                            "stage_since": now,
                        }
                        for ce in (10, 11)
                    ],
                )
                await conn.execute(
                    outbox.insert().values(
                        course_enrolment_id=11,
                        learner_id=1,
                        add_tags=["certified"],
                        remove_tags=[],
                        priority=0,
                        correlation_id="c",
                        created_at=now,
                        attempts=0,
                    )
                )
                await conn.execute(
                    dead_letters.insert().values(
                        course_enrolment_id=11,
                        reason="r",
                        attempts=1,
                        payload={},
                        created_at=now,
                    )
                )
                await conn.execute(
                    flags.insert(),
                    [
                        {
                            "flag": "f",
                            "subject": subject,
                            "subject_id": ident,
                            "learner_id": 1,
                            "rule": "r",
                            "reason": "r",
                            "raised_at": now,
                        }
                        for subject, ident in (
                            ("course_enrolment", 10),
                            ("course_enrolment", 11),
                            ("unit_enrolment", 20),
                            ("learner", 1),
                        )
                    ],
                )
                await conn.execute(
                    stage_history.insert(),
                    [
                        {
                            "subject": subject,
                            "subject_id": ident,
                            "learner_id": 1,
                            "from_stage": None,
                            "to_stage": "Reconnect",
                            "observed_at": now,
                        }
                        for subject, ident in (("course_enrolment", 11), ("learner", 1))
                    ],
                )
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                kept = {
                    table.name: sorted(tuple(row) for row in await conn.execute(select(*columns)))
                    for table, columns in (
                        (enrolment_state, [enrolment_state.c.course_enrolment_id]),
                        (outbox, [outbox.c.course_enrolment_id]),
                        (dead_letters, [dead_letters.c.course_enrolment_id]),
                        (flags, [flags.c.subject, flags.c.subject_id]),
                        (stage_history, [stage_history.c.subject, stage_history.c.subject_id]),
                        (dirty_learners, [dirty_learners.c.learner_id]),
                    )
                }
        finally:
            await engine.dispose()
    assert kept == {
        "enrolment_state": [(10,)],
        "outbox": [],
        "dead_letters": [],
        "flags": [("course_enrolment", 10), ("learner", 1)],
        "stage_history": [("learner", 1)],
        "dirty_learners": [(1,)],
    }


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the same forgetting as above
async def test_a_deleted_webhook_forgets_the_enrolment_whole(rig: Rig) -> None:
    """A `Deleted` delivery, drained by the inbox worker, leaves nothing of the enrolment."""
    await sync(rig.ctx)
    rows = await export(rig.store)
    per_learner = Counter(row["learner_id"] for row in rows.values())
    gone = min(ce for ce, row in rows.items() if per_learner[row["learner_id"]] > 1)
    units = set(rig.server.sandbox.db.unit_enrolments.ids_where("CourseEnrolmentId", gone))
    async with receiving(rig.store) as served:
        await off_loop(rig, "POST", "/webhooks", json={"url": served.url})
        await off_loop(rig, "DELETE", f"/records/CourseEnrolment/{gone}")
        await off_loop(rig, "POST", "/webhooks/flush")
    report = await drain_inbox(rig.ctx, "test-worker")
    assert report.events["deleted"] >= 1
    assert await derived_from(rig.store, "course_enrolment", {gone}) == {}
    assert await derived_from(rig.store, "unit_enrolment", units) == {}
    await assert_store_agrees_with_wisenet(rig)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def off_loop(rig: Rig, method: str, path: str, **kwargs: Any) -> Any:
    """The control API, called off the loop (the receiver serves on this loop meanwhile)."""
    return await asyncio.to_thread(control, rig.server, method, path, **kwargs)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the same forgetting as above
async def test_a_deleted_credential_takes_certified_off_its_enrolment(rig: Rig) -> None:
    """A CE's only credential deleted in Wisenet: the next sync takes `certified` off, one write."""
    await sync(rig.ctx)
    db = rig.server.sandbox.db
    tags = owned_tags_in_wisenet(rig.server)
    by_enrolment = Counter(row["CourseEnrolmentId"] for row in db.credentials.rows.values())
    gone, ce = next(
        (credential, row["CourseEnrolmentId"])
        for credential, row in sorted(db.credentials.rows.items())
        if "certified" in tags[row["CourseEnrolmentId"]]
        and by_enrolment[row["CourseEnrolmentId"]] == 1
        and not db.course_enrolments.rows[row["CourseEnrolmentId"]].get("QualificationIssuedFlag")
    )
    control(rig.server, "DELETE", f"/records/Credential/{gone}")
    patched_before = len(control(rig.server, "GET", "/patches"))
    report = await sync(rig.ctx)
    patched = control(rig.server, "GET", "/patches")[patched_before:]
    assert report.deleted == 1
    assert [entry["id"] for entry in patched] == [ce]
    assert "certified" not in owned_tags_in_wisenet(rig.server)[ce]
    assert await derived_from(rig.store, "credential", {gone}) == {}
    assert gone not in await rig.store.snapshots.record_ids("Credential")
    await assert_store_agrees_with_wisenet(rig)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
