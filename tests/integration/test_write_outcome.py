"""A staff edit that lands between our read and our PATCH is decided on in the same run.

The sandbox queues staff edits to land just before its next PATCH of an enrolment
(`POST /_sandbox/records/CourseEnrolment/{id}/before-patch`), so the PATCH response already
holds the edit and its own webhook later finds nothing new: only comparing the response with the
snapshot the write was planned from can catch it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connector.sandbox.app import SandboxServer
from jobs.pipeline.context import SyncReport
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.runs import sync
from jobs.pipeline.write_back import write_back
from jobs.pipeline.write_one import REDECIDE_ROUNDS
from tests.support.clock import FakeClock
from tests.support.receiving import receiving
from tests.support.rig import (
    Rig,
    expected_decisions,
    expected_tags,
    owned_tags_in_wisenet,
    stored_decisions,
)
from tests.support.sandbox import TODAY, control

pytestmark = pytest.mark.integration
OWNER = "test-worker"


async def sandbox(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """The control API, called off the loop (a receiver may be serving on this loop)."""
    return await asyncio.to_thread(control, server, method, path, **kwargs)


def completion(server: SandboxServer) -> dict[str, Any]:
    """A staff completion of an enrolment (its units' end dates date it, as lifecycle.md says)."""
    status = server.sandbox.vocab.id_of("enrolment-statuses", "Completed")
    return {"EnrolmentStatusId": status, "ActualEndDate": TODAY.isoformat()}


async def plan_writes_with_edits_in_between(
    rig: Rig, edits: dict[str, list[dict[str, Any]]]
) -> dict[str, tuple[int, int]]:
    """Remove the USI of each case's learner (a write follows) and queue its enrolment's edits.

    Returns each case's (learner id, enrolment id).
    """
    found = {c["name"]: c for c in await sandbox(rig.server, "GET", "/cases")}
    chosen = {}
    for name, queued in edits.items():
        learner_id, ce = found[name]["learner_id"], found[name]["course_enrolment_ids"][0]
        chosen[name] = (learner_id, ce)
        await sandbox(
            rig.server,
            "POST",
            f"/records/Learner/{learner_id}",
            json={"Personal/UniqueStudentIdentifier": None},
        )
        for edit in queued:
            await sandbox(
                rig.server, "POST", f"/records/CourseEnrolment/{ce}/before-patch", json=edit
            )
    return chosen


async def patched(server: SandboxServer) -> list[int]:
    """The enrolments PATCHed so far, in order."""
    return [p["id"] for p in await sandbox(server, "GET", "/patches")]


async def test_a_staff_completion_landing_before_our_patch_is_decided_in_the_same_sync(
    rig: Rig,
) -> None:
    """Completions in PATCH responses: one sync ends as the reference says, no enrolment re-read."""
    await sync(rig.ctx)
    chosen = await plan_writes_with_edits_in_between(
        rig,
        {
            # Its units ended 151 days ago: certificate-overdue now applies.
            "finalisation-day-14": [completion(rig.server)],
            # Its last unit ended 17 days ago: only the stages move.
            "stage-current": [completion(rig.server)],
            "finalisation-day-15": [],  # no edit: one PATCH, nothing decided again
        },
    )
    before = len(await patched(rig.server))
    await sandbox(rig.server, "POST", "/counters/reset")
    # The first sync's whole credential listing is too old now for a write to trust.
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(rig.ctx.max_snapshot_age.total_seconds() + 60)

    report = await sync(rig.ctx)

    counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    overdue_ce = chosen["finalisation-day-14"][1]
    assert expected_tags(rig.server)[overdue_ce] == {"missing-usi", "certificate-overdue"}
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert await stored_decisions(rig.store) == expected_decisions(rig.server)
    assert await rig.store.snapshots.dirty_learners() == set()
    ces = [ce for _, ce in chosen.values()]
    # The batch's three go in lanes, in no set order; the learner decided again goes after.
    sent = (await patched(rig.server))[before:]
    assert sorted(sent[:3]) == sorted(ces)
    assert sent[3:] == [overdue_ce]
    assert report.writes_done == 4
    # The PATCH responses held the edits: no enrolment is read again; the one credential read
    # is the writer's usual check before a first certificate-overdue.
    assert counts == {
        "GET /learnersAU": 1,
        "GET /course-enrolments": 1,
        "GET /unit-enrolments": 1,
        "GET /checklists": 1,
        "GET /audit-logs": 1,
        "GET /tags": 1,
        "GET /credentials": 1,
        "PATCH /course-enrolments/{id}": 4,
    }
    again = await sync(rig.ctx)
    assert (again.learners_evaluated, again.writes_done) == (0, 0)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the same writer as the sync's
async def test_a_staff_edit_landing_before_a_patch_of_the_inbox_drain_is_decided_in_that_drain(
    rig: Rig,
) -> None:
    """Webhooks plan the write, a completion lands before it: that drain ends as the reference."""
    await sync(rig.ctx)
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url})
        chosen = await plan_writes_with_edits_in_between(
            rig, {"finalisation-day-14": [completion(rig.server)]}
        )
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
        await sandbox(rig.server, "POST", "/counters/reset")

        report = await drain_inbox(rig.ctx, OWNER)

        counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
        assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
        assert await stored_decisions(rig.store) == expected_decisions(rig.server)
        assert report.writes_done == 2
        assert "GET /course-enrolments/{id}" not in counts
        assert counts["PATCH /course-enrolments/{id}"] == 2

        # The edit's own delivery and our PATCHes' echoes: nothing left to read or write. The
        # edit landed before the PATCH, so the PATCH response (the stored snapshot) holds it.
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
        await sandbox(rig.server, "POST", "/counters/reset")
        echoes = await drain_inbox(rig.ctx, OWNER)
        counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    assert sum(echoes.events.values()) >= 3
    assert (echoes.writes_done, echoes.reads_by_id, echoes.learners_evaluated) == (0, 0, 0)
    assert counts == {}
    learner_id, _ = chosen["finalisation-day-14"]
    assert learner_id not in await rig.store.snapshots.dirty_learners()


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the writer's loop: store-neutral
async def test_an_enrolment_that_changes_before_every_patch_stops_the_writer_and_waits(
    rig: Rig,
) -> None:
    """Edits before every PATCH: bounded decisions again, the learner stays marked for next run."""
    await sync(rig.ctx)
    current = rig.server.sandbox.vocab.id_of("enrolment-statuses", "Current")
    flips = [completion(rig.server), {"EnrolmentStatusId": current}] * REDECIDE_ROUNDS
    flips = flips[: REDECIDE_ROUNDS + 1]  # one edit before each PATCH the writer may send
    chosen = await plan_writes_with_edits_in_between(rig, {"finalisation-day-14": flips})
    learner_id, ce = chosen["finalisation-day-14"]
    before = len(await patched(rig.server))

    await sync(rig.ctx)

    assert (await patched(rig.server))[before:] == [ce] * (REDECIDE_ROUNDS + 1)
    assert await rig.store.snapshots.dirty_learners() == {learner_id}
    report = await sync(rig.ctx)  # no more edits queued: the marked learner is decided again
    assert report.learners_evaluated == 1
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert await stored_decisions(rig.store) == expected_decisions(rig.server)
    assert await rig.store.snapshots.dirty_learners() == set()


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the writer's read: store-neutral
async def test_a_read_before_a_write_that_finds_a_staff_edit_holds_the_write_for_a_decision(
    rig: Rig,
) -> None:
    """An hour-old plan: the read before its PATCH finds a completion; one PATCH, the right one."""
    await sync(rig.ctx)
    rig.ctx.dry_run = True
    chosen = await plan_writes_with_edits_in_between(rig, {"finalisation-day-14": []})
    await sync(rig.ctx)  # plans the missing-usi write; sends nothing
    rig.ctx.dry_run = False
    learner_id, ce = chosen["finalisation-day-14"]
    assert isinstance(rig.store.clock, FakeClock)
    rig.store.clock.advance(3600)  # the stored snapshot is too old to write on without a read
    await sandbox(rig.server, "POST", "/clock", json={"advance": {"seconds": 3600}})
    await sandbox(rig.server, "POST", f"/records/CourseEnrolment/{ce}", json=completion(rig.server))
    await sandbox(rig.server, "POST", "/counters/reset")

    report = SyncReport()
    await write_back(rig.ctx, report)

    counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    assert owned_tags_in_wisenet(rig.server)[ce] == {"missing-usi", "certificate-overdue"}
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert await stored_decisions(rig.store) == expected_decisions(rig.server)
    assert (report.writes_done, report.learners_evaluated) == (1, 1)
    assert counts == {
        "GET /tags": 1,
        "GET /course-enrolments/{id}": 1,
        "GET /credentials": 1,
        "PATCH /course-enrolments/{id}": 1,
    }
    assert learner_id not in await rig.store.snapshots.dirty_learners()
