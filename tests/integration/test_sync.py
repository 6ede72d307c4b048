"""The sync end to end against a served sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from connector.bundles import Labels
from jobs.pipeline.context import PlannedWrite, SyncReport
from jobs.pipeline.mapping_apply import impact
from jobs.pipeline.runs import backfill, reconcile, sweep, sync
from jobs.pipeline.write_back import write_back
from mappings.loader import load_mapping
from tests.reference import decide
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, default_mapping
from tests.support.clock import FakeClock
from tests.support.rig import (
    OWNED,
    Rig,
    expected_tags,
    human_tags,
    owned_tags_in_wisenet,
)
from tests.support.sandbox import TODAY, control
from tests.support.sandbox_bundles import bundle_for, combos

pytestmark = pytest.mark.integration


async def test_a_first_sync_tags_every_enrolment_as_lifecycle_md_says(rig: Rig) -> None:
    """Backfill, decide and write back: owned tags equal the reference; nothing else moves."""
    before = human_tags(rig.server)
    report = await sync(rig.ctx)
    assert report.writes_failed == 0
    assert report.writes_done > 50
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert human_tags(rig.server) == before
    created = {row["Name"] for row in rig.server.sandbox.db.tags.rows.values()}
    assert created >= OWNED


async def test_a_second_sync_without_changes_writes_nothing_and_reads_little(rig: Rig) -> None:
    """No change in Wisenet: zero writes, at most one read per polled list."""
    await sync(rig.ctx)
    control(rig.server, "POST", "/counters/reset")
    report = await sync(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert report.writes_done == 0
    assert report.learners_evaluated == 0
    assert all(not name.startswith(("PATCH", "POST")) for name in counts)
    assert counts == {
        "GET /learnersAU": 1,
        "GET /course-enrolments": 1,
        "GET /unit-enrolments": 1,
        "GET /checklists": 1,
        "GET /audit-logs": 1,
    }


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_a_completion_and_its_credential_reach_the_tags(rig: Rig) -> None:
    """Staff complete an enrolment and issue its credential: the next sync adds `certified`."""
    await sync(rig.ctx)
    case = next(c for c in control(rig.server, "GET", "/cases") if c["name"] == "stage-current")
    ce = case["course_enrolment_ids"][0]
    control(rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Completed"})
    control(rig.server, "POST", f"/course-enrolments/{ce}/credentials", json={"status": "Issued"})
    report = await sync(rig.ctx)
    assert report.writes_done == 1
    assert owned_tags_in_wisenet(rig.server)[ce] == {"certified"}
    flags = (await rig.store.bundles.one(case["learner_id"])) is not None
    assert flags


async def test_a_dry_run_plans_and_sends_nothing(rig: Rig) -> None:
    """Dry run: the planned patches are recorded and no PATCH or tag POST reaches Wisenet."""
    rig.ctx.dry_run = True
    report = await sync(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert report.plan
    assert not any(name.startswith(("PATCH", "POST")) for name in counts)
    assert all(not tags for tags in owned_tags_in_wisenet(rig.server).values())


async def test_a_write_back_in_many_batches_reads_the_tag_definitions_once(rig: Rig) -> None:
    """Batches of 20 leased rows: one GET /tags for them all, one PATCH per planned write."""
    rig.ctx.dry_run = True
    planned = len((await sync(rig.ctx)).plan or [])
    rig.ctx.dry_run = False
    control(rig.server, "POST", "/counters/reset")
    report = SyncReport()
    await write_back(rig.ctx, report, limit=20)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert planned > 100
    assert report.writes_done == planned
    assert counts["GET /tags"] == 1
    assert counts["PATCH /course-enrolments/{id}"] == planned
    assert await rig.store.outbox.size() == 0
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


def advance(rig: Rig, days: int) -> None:
    """Move the connector's and the sandbox's clocks on together."""
    assert isinstance(rig.store.clock, FakeClock)
    rig.store.clock.advance(days * 86400)
    control(rig.server, "POST", "/clock", json={"advance": {"days": days}})


OVERDUE_RULE = "when: {flag: certificate-overdue}"
OVERDUE_RULES = {  # the same tag, its flag tested directly or through other constructs
    "direct": OVERDUE_RULE,
    "through-not": "when: {not: {not: {flag: certificate-overdue}}}",
    "through-a-scope": "when: {some: units, where: {enrolment: {flag: certificate-overdue}}}",
}


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
@pytest.mark.parametrize("rule", OVERDUE_RULES.values(), ids=OVERDUE_RULES.keys())
async def test_a_certificate_issued_without_other_change_is_never_reported_late(
    rig: Rig, rule: str
) -> None:
    """On day 31 a credential read before certificate-overdue finds the certificate instead."""
    text = DEFAULT_MAPPING.read_text()
    assert OVERDUE_RULE in text
    rig.ctx.mapping = load_mapping(text.replace(OVERDUE_RULE, rule), "variant.yaml", CALENDAR)
    case = next(c for c in control(rig.server, "GET", "/cases") if c["name"] == "stage-current")
    ce = case["course_enrolment_ids"][0]
    control(rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Completed"})
    await sync(rig.ctx)
    assert owned_tags_in_wisenet(rig.server)[ce] == set()
    control(rig.server, "POST", f"/course-enrolments/{ce}/credentials", json={"status": "Issued"})
    advance(rig, 31)
    control(rig.server, "POST", "/counters/reset")
    report = await sweep(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert owned_tags_in_wisenet(rig.server)[ce] == {"certified"}
    # A sweep reads no list but what writing needs (credentials before a flag-driven tag, the
    # enrolments changed since snapshots went stale, the tag definitions).
    assert set(counts) <= {
        "GET /credentials",
        "GET /course-enrolments",
        "GET /course-enrolments/{id}",
        "GET /tags",
        "PATCH /course-enrolments/{id}",
        "POST /tags",
    }
    assert counts["GET /credentials"] >= 1
    assert report.writes_failed == 0


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_sweep_as_of_plans_with_one_read_and_the_real_sweep_writes(rig: Rig) -> None:
    """Sweep as of two days on plans reconnect-eligible, sending nothing; on the day, writes it.

    The plan reads the tag definitions once, as the real sweep's write-back does.
    """
    await sync(rig.ctx)
    case = next(c for c in control(rig.server, "GET", "/cases") if c["name"] == "reconnect-day-59")
    ce = case["course_enrolment_ids"][0]
    control(rig.server, "POST", "/counters/reset")
    rig.ctx.as_of = TODAY + timedelta(days=2)
    planned = await sweep(rig.ctx)
    assert PlannedWrite(case["learner_id"], ce, ["reconnect-eligible"], []) in (planned.plan or [])
    assert control(rig.server, "GET", "/counters")["by_endpoint"] == {"GET /tags": 1}
    assert owned_tags_in_wisenet(rig.server)[ce] == {"certified"}
    rig.ctx.as_of = None
    advance(rig, 2)
    await sweep(rig.ctx)
    assert owned_tags_in_wisenet(rig.server)[ce] == {"certified", "reconnect-eligible"}


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_the_impact_of_a_new_mapping_counts_exactly_the_crossings(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconnect after 30 days instead of 60: the moves are those the reference predicts."""
    await sync(rig.ctx)
    proposed = load_mapping(
        DEFAULT_MAPPING.read_text().replace("reconnect_after_days: 60", "reconnect_after_days: 30"),
        "proposed.yaml",
        CALENDAR,
    )
    found = await impact(rig.store, default_mapping(), proposed, TODAY)
    labels = Labels.from_combos(combos(rig.server.sandbox))
    bundles = [
        bundle_for(rig.server.sandbox, learner_id, labels)
        for learner_id in rig.server.sandbox.db.learners.ids()
    ]
    before = [decide(b, TODAY) for b in bundles]
    monkeypatch.setattr("tests.reference.RECONNECT_AFTER", 30)
    after = [decide(b, TODAY) for b in bundles]
    crossings = sum(
        1
        for old, new in zip(before, after, strict=True)
        for ce_id, (stage, _) in new.enrolments.items()
        if stage != old.enrolments[ce_id][0]
    )
    assert crossings > 0
    assert sum(found.stage_moves.values()) == crossings
    assert set(found.stage_moves) == {("Completion", "Reconnect")}


class KilledError(Exception):
    """Stands for the process dying right after a committed page."""


async def test_a_backfill_rereads_every_list_takes_deletes_and_writes_nothing_new(
    rig: Rig,
) -> None:
    """A full read after a sync: every list read again, a learner deleted meanwhile forgotten."""
    await sync(rig.ctx)
    gone = min(await rig.store.snapshots.learner_ids())
    control(rig.server, "DELETE", f"/records/Learner/{gone}")
    control(rig.server, "POST", "/counters/reset")
    pages: list[tuple[str, int]] = []
    rig.ctx.on_page = lambda entity, read: pages.append((entity, read))
    report = await backfill(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert report.deleted >= 1
    assert gone not in await rig.store.snapshots.learner_ids()
    assert report.writes_done == 0
    assert counts == {
        "GET /learnersAU": 1,
        "GET /course-enrolments": 1,
        "GET /unit-enrolments": counts["GET /unit-enrolments"],
        "GET /checklists": 1,
        "GET /credentials": 1,
        "GET /audit-logs": 1,
    }
    assert counts["GET /unit-enrolments"] >= 2  # more than one page of units: a real re-read
    assert {entity for entity, _ in pages} == {
        "Learner",
        "CourseEnrolment",
        "UnitEnrolment",
        "Checklist",
        "Credential",
    }
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def test_an_interrupted_backfill_resumes_where_it_stopped(rig: Rig) -> None:
    """Killed after the first committed page of units, the next backfill goes on from there.

    Learners and course enrolments are only polled since their new cursors (one page each),
    units continue from the second page, and the audit log is not read to reset again.
    """
    await sync(rig.ctx)

    def die_in_units(entity: str, read: int) -> None:
        if entity == "UnitEnrolment":
            raise KilledError

    rig.ctx.on_page = die_in_units
    with pytest.raises(KilledError):
        await backfill(rig.ctx)
    # The next page was already asked for when the process died; let the sandbox finish it.
    await asyncio.to_thread(rig.server.wait_idle)
    control(rig.server, "POST", "/counters/reset")
    rig.ctx.on_page = None
    report = await backfill(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    units = len(rig.server.sandbox.db.unit_enrolments.rows)
    assert counts["GET /learnersAU"] == 1
    assert counts["GET /course-enrolments"] == 1
    assert counts["GET /unit-enrolments"] == units // 1000  # pages after the first
    assert "GET /audit-logs" not in counts
    assert counts["GET /credentials"] == 1
    assert report.writes_failed == 0
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert await rig.store.cursors.high_water("AuditLog") is not None


async def test_reconcile_forgets_what_wisenet_lost_without_an_audit_entry(rig: Rig) -> None:
    """A unit enrolment gone from Wisenet with no audit entry: backfill keeps it, reconcile not."""
    await sync(rig.ctx)
    units = rig.server.sandbox.db.unit_enrolments
    lost = min(units.ids())
    assert units.delete(lost) is not None  # straight from the table: no audit entry, no webhook
    await backfill(rig.ctx)
    assert lost in await rig.store.snapshots.record_ids("UnitEnrolment")
    control(rig.server, "POST", "/counters/reset")
    report = await reconcile(rig.ctx)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert lost not in await rig.store.snapshots.record_ids("UnitEnrolment")
    assert report.deleted == 1
    assert report.learners_evaluated >= 1
    assert set(await rig.store.snapshots.record_ids("UnitEnrolment")) == set(units.ids())
    assert counts["GET /learnersAU"] == 1
    assert counts["GET /credentials"] == 1
    assert counts["GET /audit-logs"] == 1
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_reconcile_forgets_nothing_from_a_listing_it_did_not_read_whole(rig: Rig) -> None:
    """An interrupted reconcile resumes its unit listing, so it compares and forgets no unit."""
    await sync(rig.ctx)
    stored = await rig.store.snapshots.record_ids("UnitEnrolment")
    rig.server.sandbox.db.unit_enrolments.delete(stored[0])

    def die_in_units(entity: str, read: int) -> None:
        if entity == "UnitEnrolment":
            raise KilledError

    rig.ctx.on_page = die_in_units
    with pytest.raises(KilledError):
        await reconcile(rig.ctx)
    rig.ctx.on_page = None
    report = await reconcile(rig.ctx)  # resumes the units: that listing is not whole
    assert report.deleted == 0
    assert await rig.store.snapshots.record_ids("UnitEnrolment") == stored


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_a_backlog_older_than_its_snapshots_is_verified_by_one_poll_not_a_read_each(
    rig: Rig,
) -> None:
    """An hour after planning, the writer polls the changed enrolments once, then PATCHes.

    A human tag added meanwhile is seen by that poll and kept by the PATCH.
    """
    rig.ctx.dry_run = True
    await sync(rig.ctx)  # plans every write; sends none
    rig.ctx.dry_run = False
    advance_hours = 1
    assert isinstance(rig.store.clock, FakeClock)
    rig.store.clock.advance(advance_hours * 3600)
    control(rig.server, "POST", "/clock", json={"advance": {"hours": advance_hours}})
    expected = expected_tags(rig.server)
    db = rig.server.sandbox.db
    human = next(
        tag_id
        for tag_id, row in db.tags.rows.items()
        if row["Name"] not in OWNED and not row.get("ArchivedFlag")
    )
    ce = next(ce_id for ce_id, tags in expected.items() if tags)
    before = [{"TagId": t["TagId"]} for t in db.course_enrolments.rows[ce].get("TagIds", [])]
    control(
        rig.server,
        "POST",
        f"/records/CourseEnrolment/{ce}",
        json={"TagIds": [*before, {"TagId": human}]},
    )
    control(rig.server, "POST", "/counters/reset")
    report = SyncReport()
    await write_back(rig.ctx, report)
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    assert counts["GET /course-enrolments"] == 1
    assert "GET /course-enrolments/{id}" not in counts
    assert counts["PATCH /course-enrolments/{id}"] == report.writes_done > 50
    assert owned_tags_in_wisenet(rig.server) == expected
    assert human in {t["TagId"] for t in db.course_enrolments.rows[ce]["TagIds"]}


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_the_writer_drains_a_backlog_larger_than_one_batch(rig: Rig) -> None:
    """Batches of 20: the writer goes on until the outbox is empty."""
    rig.ctx.dry_run = True
    planned = await sync(rig.ctx)
    rig.ctx.dry_run = False
    report = SyncReport()
    await write_back(rig.ctx, report, limit=20)
    assert report.writes_done == planned.writes_planned > 40
    assert await rig.store.outbox.pending(1) == []
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
