"""What a burst of staff edits costs in reads, counted by the sandbox: close to the floor.

A trainer finalises a class and an officer issues its certificates: 40 enrolments completed and
certified are 80 edits, announced by signed deliveries with duplicates, reordering and, after
the writes, the connector's own echoes. The floor is one modified-since page per entity and the
whole credential listing in one page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.metrics import ConnectorMetrics
from connector.sandbox.app import SandboxServer
from connector.store.inbox_writer import Delivery, enqueue_many
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.timestamps import format_body_timestamp
from jobs.pipeline.inbox import InboxReport, drain_inbox
from jobs.pipeline.read_costs import listing_pages
from jobs.pipeline.runs import sync
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner
from tests.support.clock import FakeClock
from tests.support.receiving import Receiving, receiving
from tests.support.rig import SYDNEY, Rig, expected_tags, owned_tags_in_wisenet, wired
from tests.support.sandbox import TODAY, control

pytestmark = pytest.mark.integration
OWNER = "test-worker"
HOOK = {"duplicate_rate": 0.3, "reorder": True, "delay_ms": [0, 30]}


async def sandbox(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """The control API, called off the loop (the receiver serves on this loop meanwhile)."""
    return await asyncio.to_thread(control, server, method, path, **kwargs)


def reads(counts: dict[str, int]) -> dict[str, int]:
    """The GET requests among the sandbox's counters, by endpoint."""
    return {endpoint: n for endpoint, n in counts.items() if endpoint.startswith("GET ")}


def current_enrolments(server: SandboxServer, count: int, status: str = "Current") -> list[int]:
    """`count` enrolments of `status` (still in progress by default), with no credential yet."""
    db = server.sandbox.db
    current = server.sandbox.vocab.id_of("enrolment-statuses", status)
    certified = {row["CourseEnrolmentId"] for row in db.credentials.rows.values()}
    found = [
        ce
        for ce, row in sorted(db.course_enrolments.rows.items())
        if row["EnrolmentStatusId"] == current and ce not in certified
    ]
    assert len(found) >= count
    return found[:count]


async def synced(rig: Rig) -> None:
    """The first full read and its writes, then three minutes.

    The webhooks are set up after it, as on a new install.
    """
    await sync(rig.ctx)
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(180)


@asynccontextmanager
async def synced_in_pages_of_40(rig: Rig, folder: Path) -> AsyncIterator[Rig]:
    """A rig on the same sandbox whose listings come in pages of 40, after its first sync."""
    async with wired(
        rig.server,
        f"sqlite+aiosqlite:///{folder / 'pages.db'}",
        rig.store.clock,
        rate_limit=500.0,
        retry=RetryPolicy(initial_backoff=0.01),
        page_size=40,
    ) as small:
        await synced(small)
        yield small


async def drain_until_quiet(rig: Rig, served: Receiving) -> list[InboxReport]:
    """Deliver what the sandbox holds and drain, until no delivery is left (echoes included)."""
    drains: list[InboxReport] = []
    while True:
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"] is not None
        delivered = await sandbox(rig.server, "GET", "/webhooks/deliveries?limit=100000")
        assert len(served.accepted) == len(delivered)
        if not (await rig.store.inbox.state()).depth:
            return drains
        drains.append(await drain_inbox(rig.ctx, OWNER))
        assert len(drains) < 5, "the echoes of the echoes never settle"


async def one_edit(
    rig: Rig, path: str, body: dict[str, Any]
) -> tuple[list[InboxReport], dict[str, int]]:
    """Make one staff edit with webhooks on, drain until quiet; the drains and request counts."""
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url, **HOOK})
        await sandbox(rig.server, "POST", "/counters/reset")
        await sandbox(rig.server, "POST", path, json=body)
        drains = await drain_until_quiet(rig, served)
        counts: dict[str, int] = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    return drains, counts


async def test_a_class_finalised_and_certified_costs_at_most_ten_reads(rig: Rig) -> None:
    """40 completions and 40 new credentials (~100 deliveries, then echoes): ≤ 10 reads.

    After it, a staff edit of one of those enrolments is read.
    """
    await synced(rig)
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url, **HOOK})
        await sandbox(rig.server, "POST", "/counters/reset")
        finalised = current_enrolments(rig.server, 40)
        for index, ce in enumerate(finalised):
            ended = TODAY.fromordinal(TODAY.toordinal() - 3 - index).isoformat()
            status = {"status": "Completed", "actual_end_date": ended}
            await sandbox(rig.server, "POST", f"/course-enrolments/{ce}/status", json=status)
            await sandbox(rig.server, "POST", f"/course-enrolments/{ce}/credentials", json={})
        drains = await drain_until_quiet(rig, served)
        made = reads((await sandbox(rig.server, "GET", "/counters"))["by_endpoint"])
        assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)

        await sandbox(rig.server, "POST", "/counters/reset")
        withdrawn = {"status": "Withdrawn"}
        await sandbox(
            rig.server, "POST", f"/course-enrolments/{finalised[0]}/status", json=withdrawn
        )
        after = await drain_until_quiet(rig, served)
        again = reads((await sandbox(rig.server, "GET", "/counters"))["by_endpoint"])
    print(f"deliveries {[dict(d.events) for d in drains]}, reads {made}")  # noqa: T201
    assert sum(made.values()) <= 10, made
    assert not any(endpoint.endswith("}") for endpoint in made), made  # nothing read one by one
    assert sum(d.writes_done for d in drains) > 30
    assert again == {"GET /course-enrolments": 1}, again  # the edit; the echo of its write: none
    assert sum(d.events["listed"] for d in after) == 1
    assert sum(d.events["echo"] for d in after) == 1
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def test_a_single_edit_costs_at_most_two_reads(rig: Rig) -> None:
    """One completion, announced and echoed: one listing page, and no read of its own."""
    await synced(rig)
    (ce,) = current_enrolments(rig.server, 1)
    ended = TODAY.fromordinal(TODAY.toordinal() - 40).isoformat()  # the certificate is late
    status = {"status": "Completed", "actual_end_date": ended}
    _, counts = await one_edit(rig, f"/course-enrolments/{ce}/status", status)
    assert sum(reads(counts).values()) <= 2, counts
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def test_a_single_new_credential_costs_at_most_two_reads(rig: Rig) -> None:
    """One certificate issued and tagged: one read of it; the echo of the write costs none."""
    await synced(rig)
    (ce,) = current_enrolments(rig.server, 1, "Completed")
    drains, counts = await one_edit(rig, f"/course-enrolments/{ce}/credentials", {})
    # The tag definitions the first sync read are recent enough to trust; the PATCH response
    # is the enrolment's snapshot, so its echo is not read.
    assert reads(counts) == {"GET /credentials/{id}": 1}, counts
    assert sum(d.events["echo"] for d in drains) == 1
    assert "certified" in owned_tags_in_wisenet(rig.server)[ce]
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
    assert sum(d.writes_done for d in drains) == 1


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_reads_by_strategy_in_the_metrics_add_up_to_the_requests_sent(rig: Rig) -> None:
    """The service's jobs count every GET under its entity and strategy, as the sandbox saw."""
    metrics = ConnectorMetrics()
    state = ServiceState(mapping_file=Path("absent.yaml"), webhook_silence=timedelta(hours=2))
    runner = JobRunner(rig.ctx, OWNER, metrics, state)
    await runner.guarded("sync", runner.sync_watching_webhooks)
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url, **HOOK})
        for ce in current_enrolments(rig.server, 5, "Completed"):
            await sandbox(rig.server, "POST", f"/course-enrolments/{ce}/credentials", json={})
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"] is not None
        await runner.guarded("drain", runner.drain)
    counted = {
        (sample.labels["entity"], sample.labels["strategy"]): sample.value
        for metric in metrics.registry.collect()
        if metric.name == "connector_wisenet_reads"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    made = reads((await sandbox(rig.server, "GET", "/counters"))["by_endpoint"])
    records = {e: n for e, n in made.items() if not e.startswith(("GET /combos", "GET /tags"))}
    assert counted[("CourseEnrolment", "whole_listing")] >= 1  # the first full read
    # Five new credentials: the whole listing is one page, fewer requests than five GETs.
    assert counted[("Credential", "whole_listing")] == 2  # the first full read, and the drain
    assert ("Credential", "by_id") not in counted
    assert sum(counted.values()) == sum(records.values()), (counted, made)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_record_read_in_one_batch_of_a_drain_is_not_read_again_in_the_next(
    rig: Rig,
) -> None:
    """Repeats of 30 deliveries claimed in a second batch: the first batch's poll covered them.

    A delivery received after that poll began would be read again (it may announce a newer
    edit); these were all received before it.
    """
    await synced(rig)
    ces = current_enrolments(rig.server, 30)
    for ce in ces:
        await sandbox(
            rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Withdrawn"}
        )
    twice = [
        Delivery("CourseEnrolment", ce, None, "Updated", f"msg_{n}_{ce}")
        for n in (1, 2)
        for ce in ces
    ]
    await enqueue_many(rig.store, twice)
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(1)  # the drain's reads begin after the deliveries were received
    await sandbox(rig.server, "POST", "/counters/reset")
    report = await drain_inbox(rig.ctx, OWNER, batch_size=len(ces))
    made = reads((await sandbox(rig.server, "GET", "/counters"))["by_endpoint"])
    assert made.get("GET /course-enrolments") == 1, made
    assert report.events["listed"] == 2 * len(ces)
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_drain_reads_the_tag_definitions_again_once_they_are_too_old_to_trust(
    rig: Rig,
) -> None:
    """Past `max_snapshot_age` the definitions are read before a write, as a snapshot would be."""
    await synced(rig)
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    clock.advance(rig.ctx.max_snapshot_age.total_seconds())
    (ce,) = current_enrolments(rig.server, 1, "Completed")
    _, counts = await one_edit(rig, f"/course-enrolments/{ce}/credentials", {})
    # The enrolment's own snapshot is as old: it is read again before the PATCH too.
    expected = {
        "GET /credentials/{id}": 1,
        "GET /tags": 1,
        "GET /course-enrolments/{id}": 1,
    }
    assert reads(counts) == expected, counts
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_after_a_large_write_back_a_few_edits_are_read_by_id_not_by_paging(
    tmp_path: Path, rig: Rig
) -> None:
    """The poll would page through the write-back's own PATCHes again: reading by id is cheaper.

    Pages of 40 records: the first sync's write-back stamped about 126 enrolments within the
    poll's overlap, so its poll takes 4 pages; 3 edited enrolments are 3 reads, and 4 are
    still read by the poll (a tie goes to the poll, which also moves the cursor).
    """
    async with synced_in_pages_of_40(rig, tmp_path) as small:
        edited = current_enrolments(small.server, 7)
        for ce in edited:
            await sandbox(
                small.server,
                "POST",
                f"/course-enrolments/{ce}/status",
                json={"status": "Withdrawn"},
            )
        cursor = await small.store.cursors.high_water("CourseEnrolment")
        assert cursor is not None
        since = format_body_timestamp(cursor - small.ctx.overlap, SYDNEY)
        again = await small.store.snapshots.count_modified_since("CourseEnrolment", since)
        assert listing_pages(again + 3, 40) == listing_pages(again + 4, 40) == 4
        for chosen, expected in (
            (edited[:3], {"GET /course-enrolments/{id}": 3}),
            (edited[3:], {"GET /course-enrolments": 4}),
        ):
            await enqueue_many(
                small.store,
                [Delivery("CourseEnrolment", ce, None, "Updated", f"m{ce}") for ce in chosen],
            )
            await sandbox(small.server, "POST", "/counters/reset")
            await drain_inbox(small.ctx, OWNER)
            made = reads((await sandbox(small.server, "GET", "/counters"))["by_endpoint"])
            assert {e: n for e, n in made.items() if "course-enrolments" in e} == expected, made
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_units_of_one_enrolment_are_read_by_one_listing_of_its_units(
    tmp_path: Path, rig: Rig
) -> None:
    """Outcomes set on 3 units of one enrolment, when the unit poll would take 2 pages: 1 read.

    Pages of 40 records: 45 units given outcomes and read by a sync sit within the poll's
    overlap, so its poll would take 2 pages; by id the 3 units are 3 reads; the listing
    filtered by their enrolment reads all 3 at once.
    """
    async with synced_in_pages_of_40(rig, tmp_path) as small:
        units_of: dict[int, list[int]] = {}
        for unit_id, row in sorted(small.server.sandbox.db.unit_enrolments.rows.items()):
            units_of.setdefault(row["CourseEnrolmentId"], []).append(unit_id)
        target = next(ce for ce, units in units_of.items() if len(units) >= 4)
        others = [u for ce, units in units_of.items() if ce != target for u in units][:45]
        for unit_id in others:
            await sandbox(small.server, "POST", f"/unit-enrolments/{unit_id}/outcome", json={})
        await sync(small.ctx)
        cursor = await small.store.cursors.high_water("UnitEnrolment")
        assert cursor is not None
        since = format_body_timestamp(cursor - small.ctx.overlap, SYDNEY)
        again = await small.store.snapshots.count_modified_since("UnitEnrolment", since)
        assert listing_pages(again + 3, 40) >= 2

        edited = units_of[target][:3]
        for unit_id in edited:
            await sandbox(
                small.server, "POST", f"/unit-enrolments/{unit_id}/outcome", json={"code": "20"}
            )
        await enqueue_many(
            small.store,
            [Delivery("UnitEnrolment", u, None, "Updated", f"u{u}") for u in edited],
        )
        await sandbox(small.server, "POST", "/counters/reset")
        report = await drain_inbox(small.ctx, OWNER)
        made = reads((await sandbox(small.server, "GET", "/counters"))["by_endpoint"])
        learner = small.server.sandbox.db.course_enrolments.rows[target]["LearnerId"]
        bundle = await small.store.bundles.one(learner)
    assert {e: n for e, n in made.items() if "unit-enrolments" in e} == {
        "GET /unit-enrolments": 1
    }, made
    assert report.reads[("UnitEnrolment", "by_parent")] == 1
    assert bundle is not None
    outcomes = {unit.id: unit.outcome for unit in bundle.unit_enrolments}
    assert all(outcomes[u] == "20" for u in edited), outcomes
