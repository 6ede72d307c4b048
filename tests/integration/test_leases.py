"""Which leases the next lock holder takes over: its own and those of owners that are gone."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from connector.metrics import ConnectorMetrics
from connector.store import migrate
from connector.store.schema import outbox, webhook_inbox
from connector.store.store import Store
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner
from tests.support.clock import FakeClock
from tests.support.databases import database
from tests.support.rig import Rig

pytestmark = pytest.mark.integration
LEASE = timedelta(minutes=10)
HOST = socket.gethostname()
ALIVE = f"{HOST}:{os.getpid()}:alive"  # this test process
ME = f"{HOST}:{os.getpid()}:me"


def dead_owner() -> str:
    """The owner id of a process of this host that has ended."""
    process = subprocess.Popen(["true"])  # noqa: S607 - a coreutils no-op
    process.wait()  # reaped: its pid names no process now
    return f"{HOST}:{process.pid}:dead"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty, migrated store of each kind on a fake clock."""
    async with database(request.param, tmp_path) as url:
        if request.param == "postgresql":
            await migrate.upgrade_database(url)
        opened = await Store.open(
            url,
            FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC)),
            base_url="https://wisenet.test/v1",
            account_number=None,
        )
        try:
            yield opened
        finally:
            await opened.close()


async def lease_rows(store: Store, owners: dict[int, str]) -> None:
    """One outbox row and one pending delivery per id, leased to the given owner."""
    now = store.clock.now()
    async with store.db.engine.begin() as conn:
        for key, owner in owners.items():
            await conn.execute(
                outbox.insert().values(
                    course_enrolment_id=key,
                    learner_id=key,
                    add_tags=["certified"],
                    remove_tags=[],
                    priority=0,
                    correlation_id=f"c-{key}",
                    created_at=now,
                    attempts=0,
                    lease_owner=owner,
                    lease_until=now + LEASE,
                )
            )
            await conn.execute(
                webhook_inbox.insert().values(
                    delivery_id=f"d-{key}",
                    entity="Learner",
                    record_id=key,
                    event="Updated",
                    received_at=now,
                    lease_owner=owner,
                    lease_until=now + LEASE,
                )
            )


async def owners(store: Store) -> dict[str, dict[int, str | None]]:
    """Each queue's rows and who leases them now."""
    async with store.db.engine.connect() as conn:
        writes = await conn.execute(select(outbox.c.course_enrolment_id, outbox.c.lease_owner))
        deliveries = await conn.execute(
            select(webhook_inbox.c.record_id, webhook_inbox.c.lease_owner)
        )
        return {
            "outbox": {int(k): o for k, o in writes},
            "webhook_inbox": {int(k): o for k, o in deliveries},
        }


async def test_the_lock_holder_takes_over_its_own_leases_and_those_of_gone_owners(
    store: Store,
) -> None:
    """Own, lockless, expired-lock and dead-process leases are freed; a live holder's stay."""
    dead = dead_owner()
    expired = "elsewhere:1:expired"
    await store.locks.acquire("write", ALIVE, LEASE)
    await store.locks.acquire("sweep", expired, timedelta(seconds=30))
    await store.locks.acquire("sync", dead, LEASE)  # unexpired, but its process has ended
    await lease_rows(store, {1: ME, 2: ALIVE, 3: "elsewhere:2:lockless", 4: expired, 5: dead})
    store.clock.advance(60)  # type: ignore[attr-defined]  # the "sweep" lock has run out
    await store.locks.acquire("inbox", ME, LEASE)
    assert await store.locks.take_over(ME) == {"webhook_inbox": 4, "outbox": 4}
    left = {1: None, 2: ALIVE, 3: None, 4: None, 5: None}
    assert await owners(store) == {"outbox": left, "webhook_inbox": left}
    held = await store.outbox.held(ME)
    assert (held.count, held.owners) == (1, (ALIVE,))
    assert "1 writes are held by another running process" in held.message()


async def test_processed_deliveries_and_postponed_writes_are_neither_freed_nor_held(
    store: Store,
) -> None:
    """Only waiting rows count: a handled delivery keeps its record; a later write is not held."""
    await store.locks.acquire("write", ALIVE, LEASE)
    await lease_rows(store, {1: ALIVE})
    async with store.db.engine.begin() as conn:
        later = store.clock.now() + timedelta(minutes=5)
        await conn.execute(outbox.update().values(not_before=later))
        await conn.execute(
            webhook_inbox.update().values(processed_at=store.clock.now(), lease_owner="gone:1:x")
        )
    assert await store.locks.take_over(ME) == {"webhook_inbox": 0, "outbox": 0}
    assert (await store.outbox.held(ME)).count == 0


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_job_cut_short_by_the_store_leaves_its_leases_to_the_next_job(rig: Rig) -> None:
    """A store failure mid-job is logged, not raised; the same runner's next job takes the rows."""
    runner = JobRunner(rig.ctx, ME, ConnectorMetrics(), ServiceState(Path("x"), timedelta(hours=1)))
    await lease_rows(rig.store, {1: "nobody:1:x", 2: "nobody:1:x"})
    taken: list[int] = []

    async def cut_short(ctx: SyncContext) -> SyncReport:
        taken.extend(w.course_enrolment_id for w in await ctx.store.outbox.claim(ME, 10, LEASE))
        raise OperationalError("UPDATE outbox", {}, OSError("the database went away"))

    async def next_job(ctx: SyncContext) -> SyncReport:
        taken.extend(w.course_enrolment_id for w in await ctx.store.outbox.claim(ME, 10, LEASE))
        return SyncReport()

    assert await runner.guarded("write", cut_short) is None
    assert taken == [1, 2]  # its leases were never given back
    assert await runner.guarded("write", next_job) is not None
    assert taken == [1, 2, 1, 2]
