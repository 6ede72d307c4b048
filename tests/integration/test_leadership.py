"""The scheduler lock: one holder at a time, freed by death or silence, fencing every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.errors import NotLeaderError
from connector.metrics import ConnectorMetrics
from connector.store import migrate
from connector.store.inbox_writer import Delivery, PostgresInbox
from connector.store.leadership import (
    AdvisoryLeadership,
    TableLeadership,
)
from connector.store.store import Store
from jobs.pipeline import write_back as write_back_module
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.write_back import write_back
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner, run_job, stop_task
from jobs.service.leader import Leader
from jobs.setup.settings import Settings
from tests.support.clock import FakeClock
from tests.support.databases import database
from tests.support.rig import Rig

pytestmark = pytest.mark.integration
BASE = "https://wisenet.test/v1"


@pytest.fixture
async def pg_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated PostgreSQL store."""
    async with database("postgresql", tmp_path) as url:
        await migrate.upgrade_database(url)
        store = await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        try:
            yield store
        finally:
            await store.close()


async def test_one_advisory_holder_at_a_time_and_death_frees_it(pg_store: Store) -> None:
    """A second replica waits; the lock is free again once the holder's connection is gone."""
    lease = timedelta(seconds=15)
    first = pg_store.scheduler_lock.leadership("host:1:a", lease, lambda: None)
    second = pg_store.scheduler_lock.leadership("host:2:b", lease, lambda: None)
    assert isinstance(first, AdvisoryLeadership)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.renew()
    assert await pg_store.scheduler_lock.holder() == "host:1:a"
    await first.release()  # as when the process dies: its session ends
    assert await second.acquire()
    assert await pg_store.scheduler_lock.holder() == "host:2:b"
    assert not await first.renew()  # no connection, no lock
    await second.release()
    assert await pg_store.scheduler_lock.holder() is None


async def test_each_deployment_of_a_cluster_names_its_own_holder(
    pg_store: Store, tmp_path: Path
) -> None:
    """Advisory locks are per database: another database's leader is not this one's."""
    lease = timedelta(seconds=15)
    async with database("postgresql", tmp_path / "other") as url:
        await migrate.upgrade_database(url)
        other = await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        try:
            theirs = other.scheduler_lock.leadership("host:9:z", lease, lambda: None)
            assert await theirs.acquire()
            assert await pg_store.scheduler_lock.holder() is None
            ours = pg_store.scheduler_lock.leadership("host:1:a", lease, lambda: None)
            assert await ours.acquire()  # the same key in another database is another lock
            assert await pg_store.scheduler_lock.holder() == "host:1:a"
            assert await other.scheduler_lock.holder() == "host:9:z"
            await ours.release()
            await theirs.release()
        finally:
            await other.close()


async def test_a_silent_holder_loses_the_lock_after_the_lease(pg_store: Store) -> None:
    """A holder that stops speaking (a frozen process) is dropped by the server itself."""
    lease = timedelta(seconds=2)
    frozen = AdvisoryLeadership(pg_store.db, "host:1:a", lease, lambda: None)
    other = AdvisoryLeadership(pg_store.db, "host:2:b", lease, lambda: None)
    assert await frozen.acquire()
    assert not await other.acquire()
    await asyncio.sleep(3)  # past idle_session_timeout: the server ends the silent session
    assert await other.acquire()
    assert not await frozen.renew()  # waking up, it learns it no longer leads
    await other.release()


async def test_the_leader_hears_deliveries_committed_by_any_replica(pg_store: Store) -> None:
    """The receiver's NOTIFY reaches the holder's connection."""
    heard = asyncio.Event()
    holder = AdvisoryLeadership(pg_store.db, "host:1:a", timedelta(seconds=15), heard.set)
    assert await holder.acquire()
    inbox = PostgresInbox(pg_store)  # another replica's receiver would do the same
    try:
        await inbox.insert(
            [Delivery("CourseEnrolment", 7, None, "Updated", "d-1")], datetime.now(UTC)
        )
        async with asyncio.timeout(5):
            await heard.wait()
    finally:
        await inbox.close()
        await holder.release()


async def test_the_lock_row_on_sqlite_is_leased(tmp_path: Path) -> None:
    """One holder; another takes over once the lease runs out without renewal."""
    clock = FakeClock()
    store = await Store.open(
        f"sqlite+aiosqlite:///{tmp_path / 's.db'}", clock, base_url=BASE, account_number=None
    )
    try:
        lease = timedelta(seconds=15)
        first = store.scheduler_lock.leadership("elsewhere:1:a", lease, lambda: None)
        second = store.scheduler_lock.leadership("elsewhere:2:b", lease, lambda: None)
        assert isinstance(first, TableLeadership)
        assert await first.acquire()
        assert not await second.acquire()
        clock.advance(10)
        assert await first.renew()
        clock.advance(10)
        assert not await second.acquire()  # renewed 10 s ago: still held
        assert await store.scheduler_lock.holder() == "elsewhere:1:a"
        clock.advance(16)
        assert await second.acquire()
        assert not await first.renew()
    finally:
        await store.close()


class ScriptedLeadership:
    """A lock whose renewals answer as told, counting them."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.renewals = 0

    async def acquire(self) -> bool:
        """Always granted."""
        return True

    async def renew(self) -> bool:
        """The next scripted answer."""
        self.renewals += 1
        return self.answers.pop(0)

    async def release(self) -> None:
        """Nothing to give back."""

    def holder(self) -> str:
        """A fixed owner."""
        return "host:1:a"


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_every_request_is_fenced_by_a_recent_confirmation(rig: Rig) -> None:
    """Within the authority window no round trip; after it, one; refused once the lock is gone."""
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    lock = ScriptedLeadership([True, False])
    runner = JobRunner(
        rig.ctx, "host:1:a", ConnectorMetrics(), ServiceState(Path("x"), timedelta(hours=1))
    )
    settings = Settings(_env_file=None, wisenet_api_key="k")
    leader = Leader(lock, settings, runner, asyncio.Event(), runner.metrics)
    with pytest.raises(NotLeaderError):
        await leader.confirm()  # not elected yet
    leader.leading, leader.confirmed_at = True, clock.monotonic()
    await leader.confirm()
    clock.advance(leader.authority_seconds - 1)
    await leader.confirm()
    assert lock.renewals == 0
    clock.advance(2)
    await leader.confirm()  # asks the database once
    assert lock.renewals == 1
    clock.advance(leader.authority_seconds)
    with pytest.raises(NotLeaderError):
        await leader.confirm()
    assert not leader.leading
    rig.ctx.client.gate = leader.confirm
    before = rig.server.sandbox.counters.total
    with pytest.raises(NotLeaderError):
        await rig.ctx.client.tags()
    assert rig.server.sandbox.counters.total == before  # refused before anything was sent


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_cancelled_job_stays_cancelled_when_its_lock_cannot_be_released(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database gone: the lock's release fails, and the job still ends as cancelled.

    Had the release's error replaced the cancellation, the inbox worker would take it for a
    failed drain and carry on after its leader lost the lock.
    """

    async def unreachable(*_: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(rig.store.locks, "release", unreachable)
    started = asyncio.Event()

    async def endless(_: SyncContext) -> SyncReport:
        started.set()
        await asyncio.Event().wait()
        return SyncReport()

    task = asyncio.create_task(run_job(rig.ctx, "inbox", endless, "host:1:a", record=False))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_task_that_carries_on_after_a_cancellation_is_cancelled_again() -> None:
    """`stop_task` ends a loop that caught its first cancellation as an ordinary failure."""
    caught = 0

    async def stubborn() -> None:
        nonlocal caught
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                caught += 1
                if caught == 1:
                    continue  # as a failed `finally` would have turned it into an error
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(60):  # a hang, reported as one
        await stop_task(task, every=0.01)
    assert task.cancelled()
    assert caught == 2


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_cancelled_write_batch_stays_cancelled_when_its_leases_cannot_be_given_back(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database gone mid-batch: giving the leases back fails, the cancellation still wins."""
    started = asyncio.Event()

    async def claimed(*_: object) -> list[object]:
        return [object()]

    async def endless(*_: object) -> set[int]:
        started.set()
        await asyncio.Event().wait()
        return set()

    async def unreachable(*_: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(rig.store.outbox, "claim", claimed)
    monkeypatch.setattr(rig.store.outbox, "release", unreachable)
    monkeypatch.setattr(write_back_module, "_send", endless)
    task = asyncio.create_task(write_back(rig.ctx, SyncReport()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
