"""The store on SQLite and on PostgreSQL: snapshots, cursors, decisions, outbox, budget."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from connector.errors import ConfigurationError, JobBusyError
from connector.store import migrate
from connector.store.entities import ENROLMENT, LEARNER, UNIT
from connector.store.outbox import BlockedWrites, PendingWrite
from connector.store.snapshots import Snapshot
from connector.store.store import Store
from mappings.decision import Decision
from mappings.evaluate import evaluate
from tests.support.bundles import TODAY, ago, default_mapping, enrolment, learner, unit
from tests.support.clock import FakeClock
from tests.support.databases import database

pytestmark = pytest.mark.integration
BASE = "https://wisenet.test/v1"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty, migrated store of each kind."""
    async with database(request.param, tmp_path) as url:
        if request.param == "postgresql":
            await migrate.upgrade_database(url)
        opened = await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")
        try:
            yield opened
        finally:
            await opened.close()


def snapshots() -> list[Snapshot]:
    """A learner, an enrolment and a unit, as the poller would store them."""
    return [
        Snapshot(LEARNER, 1, learner(), "2025-03-14T09:21:37.52", learner_id=1),
        Snapshot(
            ENROLMENT,
            10,
            enrolment(10, "Completed", end_date=ago(40)),
            "2025-03-14T10:00",
            learner_id=1,
            tag_ids=(12,),
        ),
        Snapshot(UNIT, 20, unit(20, 10, "20", 40), "2025-03-14T10:01", parent_id=10),
    ]


async def test_snapshots_assemble_into_the_learners_bundle(store: Store) -> None:
    """Stored values come back as the same bundle; the unit finds its learner via its parent."""
    changed = await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    assert changed == {1}
    bundle = await store.bundles.one(1)
    assert bundle is not None
    assert bundle.learner == learner()
    assert bundle.course_enrolments == (enrolment(10, "Completed", end_date=ago(40)),)
    assert bundle.unit_enrolments == (unit(20, 10, "20", 40),)
    assert await store.snapshots.learner_ids() == [1]
    tag_ids, fetched_at = await store.snapshots.enrolment_tags(10) or ((), None)
    assert tag_ids == (12,)
    assert fetched_at is not None


async def test_reading_bundles_searches_the_index_instead_of_scanning_every_record(
    store: Store,
) -> None:
    """The bundle query names the entities, so the (entity, learner_id) index serves it.

    On learner_id alone each batch of a decision read every stored record: a backfill's
    decisions grew with the square of the account's size.
    """
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    sent: list[tuple[str, Any]] = []

    def keep(_c: Any, _k: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM records" in statement:
            sent.append((statement, parameters))

    event.listen(store.db.engine.sync_engine, "before_cursor_execute", keep)
    try:
        assert (await store.bundles.many([1, 2]))[1][0].learner == learner()
    finally:
        event.remove(store.db.engine.sync_engine, "before_cursor_execute", keep)
    [(statement, parameters)] = sent
    async with store.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1])
                for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "USING INDEX ix_records_entity_learner" in plan
        else:  # an empty table: forbid the sequential scan to see whether an index can serve
            await conn.exec_driver_sql("SET enable_seqscan = off")
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plan = " ".join(str(row[0]) for row in rows)
            # The index's leading column in its condition: a search, not a walk of the index.
            assert "ix_records_entity_learner" in plan
            assert "Index Cond: (((entity)" in plan
    assert "SCAN records" not in plan
    assert "Seq Scan" not in plan


async def test_unchanged_content_is_skipped_and_the_cursor_moves_with_the_page(
    store: Store,
) -> None:
    """Same content, no change reported; the cursor is saved in the same transaction."""
    mark = datetime(2025, 3, 14, 0, 0, tzinfo=UTC)
    assert await store.snapshots.save(snapshots(), entity=ENROLMENT, high_water=mark) == {1}
    assert await store.snapshots.save(snapshots(), entity=ENROLMENT, high_water=mark) == set()
    assert await store.cursors.high_water(ENROLMENT) == mark
    assert await store.cursors.high_water(UNIT) is None
    moved = [Snapshot(ENROLMENT, 10, enrolment(10, "Withdrawn"), learner_id=1)]
    assert await store.snapshots.save(moved, entity=ENROLMENT, high_water=None) == {1}


async def test_records_without_a_learner_join_it_when_their_enrolment_is_read(
    store: Store,
) -> None:
    """A unit stored before its enrolment, or left without a learner by an older version."""
    learner_row, enrolment_row, unit_row = snapshots()
    assert await store.snapshots.save([unit_row], entity=UNIT, high_water=None) == set()
    assert await store.snapshots.save(
        [learner_row, enrolment_row], entity=ENROLMENT, high_water=None
    ) == {1}
    bundle = await store.bundles.one(1)
    assert bundle is not None
    assert bundle.unit_enrolments == (unit(20, 10, "20", 40),)
    # Left orphaned by an older version: the next read of the enrolment, unchanged, repairs it.
    async with store.db.transaction() as conn:
        await conn.execute(
            text("UPDATE records SET learner_id = NULL WHERE entity = 'UnitEnrolment'")
        )
        await conn.execute(text("DELETE FROM dirty_learners"))
    assert await store.snapshots.save([enrolment_row], entity=ENROLMENT, high_water=None) == {1}
    assert await store.snapshots.dirty_learners() == {1}
    bundle = await store.bundles.one(1)
    assert bundle is not None
    assert bundle.unit_enrolments == (unit(20, 10, "20", 40),)
    assert await store.snapshots.save([enrolment_row], entity=ENROLMENT, high_water=None) == set()


async def test_deleting_a_learner_purges_everything_of_theirs(store: Store) -> None:
    """A learner deleted in Wisenet leaves nothing behind."""
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    assert await store.snapshots.forget(UNIT, [20]) == {1}
    await store.snapshots.forget(LEARNER, [1])
    assert await store.bundles.one(1) is None
    assert await store.snapshots.learner_ids() == []
    assert await store.snapshots.forget(LEARNER, [99]) == set()


async def test_a_decision_is_stored_with_history_flags_and_outbox(store: Store) -> None:
    """One transaction: state, stage history on change only, flags replaced, outbox upserted."""
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    bundle = await store.bundles.one(1)
    assert bundle is not None
    decision = evaluate(bundle, default_mapping(), TODAY)
    write = PendingWrite(10, 1, frozenset({"certificate-overdue"}), frozenset(), 1, "c-1", 0)
    changes = await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[write], cancel_writes=[]
    )
    assert ("course_enrolment", 10, None, "Completion") in changes
    assert await store.outbox.pending(10) == [write]
    again = await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[], cancel_writes=[10]
    )
    assert again == []
    assert await store.outbox.size() == 0


async def test_the_outbox_postpones_and_dead_letters(store: Store) -> None:
    """A write can be retried later or given up with its reason."""
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    bundle = await store.bundles.one(1)
    assert bundle is not None
    write = PendingWrite(10, 1, frozenset({"certified"}), frozenset(), 0, "c-2", 0)
    decision = evaluate(bundle, default_mapping(), TODAY)
    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[write], cancel_writes=[]
    )
    await store.outbox.postpone(write, datetime(2099, 1, 1, tzinfo=UTC))
    assert await store.outbox.pending(10) == []
    await store.outbox.dead_letter(write, "rejected with 400")
    assert await store.outbox.size() == 0


async def queue_certified(store: Store, correlation_id: str) -> tuple[PendingWrite, Decision]:
    """Learner 1 stored and decided, with a `certified` write queued for enrolment 10."""
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    bundle = await store.bundles.one(1)
    assert bundle is not None
    decision = evaluate(bundle, default_mapping(), TODAY)
    write = PendingWrite(10, 1, frozenset({"certified"}), frozenset(), 0, correlation_id, 0)
    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[write], cancel_writes=[]
    )
    return write, decision


async def test_a_patch_response_for_an_enrolment_forgotten_meanwhile_brings_nothing_back(
    store: Store,
) -> None:
    """Wisenet deleted the enrolment while our PATCH was in flight: it stays forgotten."""
    await queue_certified(store, "c-4")
    (claimed,) = await store.outbox.claim("w", 10, timedelta(minutes=5))
    assert await store.snapshots.forget(ENROLMENT, [10]) == {1}
    answered = Snapshot(ENROLMENT, 10, enrolment(10, "Completed"), learner_id=1, tag_ids=(12,))
    assert not await store.outbox.finish(claimed, answered, sent=[12])
    assert await store.snapshots.enrolment_tags(10) is None
    assert 10 not in await store.snapshots.record_ids(ENROLMENT)
    assert await store.outbox.size() == 0


async def test_a_patch_response_marks_the_learner_only_for_a_change_besides_the_tags_sent(
    store: Store,
) -> None:
    """Only the tags sent changed: unmarked; a staff edit in the response: marked and stored."""
    write, decision = await queue_certified(store, "c-3")
    record = enrolment(10, "Completed", end_date=ago(40))
    answered = Snapshot(ENROLMENT, 10, record, learner_id=1, tag_ids=(14, 12))
    assert not await store.outbox.finish(write, answered, sent=[12, 14])
    assert (await store.snapshots.enrolment_tags(10) or ((),))[0] == (14, 12)
    assert await store.snapshots.dirty_learners() == set()
    assert await store.outbox.size() == 0

    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[write], cancel_writes=[]
    )
    edited = Snapshot(ENROLMENT, 10, enrolment(10, "Withdrawn"), learner_id=1, tag_ids=(12,))
    assert await store.outbox.finish(write, edited, sent=[12])
    assert (
        await store.snapshots.dirty_learners()
        == await store.snapshots.dirty_learners(among=[1, 2])
        == {1}
    )
    assert await store.snapshots.dirty_learners(among=[2]) == set()
    stored = await store.bundles.one(1)
    assert stored is not None
    assert stored.course_enrolments == (enrolment(10, "Withdrawn"),)
    assert await store.outbox.size() == 0


async def test_outbox_claims_are_leased_disjoint_and_yield_to_a_newer_plan(store: Store) -> None:
    """Two workers never hold one row; a lost lease frees it; a re-plan survives a late finish."""
    await store.snapshots.save(snapshots(), entity=LEARNER, high_water=None)
    bundle = await store.bundles.one(1)
    assert bundle is not None
    decision = evaluate(bundle, default_mapping(), TODAY)
    planned = [
        PendingWrite(ce, 1, frozenset({"certified"}), frozenset(), ce % 2, f"c-{ce}", 0)
        for ce in range(10, 20)
    ]
    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=planned, cancel_writes=[]
    )
    lease = timedelta(minutes=10)
    first, second = await asyncio.gather(
        store.outbox.claim("a", 4, lease), store.outbox.claim("b", 4, lease)
    )
    assert len(first) == len(second) == 4
    assert not {w.course_enrolment_id for w in first} & {w.course_enrolment_id for w in second}
    assert [w.priority for w in first] == sorted(w.priority for w in first)  # urgent first
    assert {w.lease_owner for w in first} == {"a"}
    rest = await store.outbox.claim("c", 10, lease)
    assert len(rest) == 2  # the others are leased
    assert await store.outbox.claim("c", 10, lease) == []
    await store.outbox.release("c")
    assert len(await store.outbox.claim("d", 10, lease)) == 2
    store.clock.advance(11 * 60)  # type: ignore[attr-defined]  # every lease has run out
    late = first[0]
    retaken = await store.outbox.claim("e", 10, lease)
    assert late.course_enrolment_id in {w.course_enrolment_id for w in retaken}
    await store.outbox.finish(late, None)  # "a" lost its lease: the row stays for "e"
    assert await store.outbox.size() == 10
    again = PendingWrite(
        late.course_enrolment_id, 1, frozenset(), frozenset({"certified"}), 0, "n", 0
    )
    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[again], cancel_writes=[]
    )
    taken = next(w for w in retaken if w.course_enrolment_id == late.course_enrolment_id)
    await store.outbox.finish(taken, None)  # "e" sent the old plan; the new one must stay
    left = await store.outbox.pending(20)
    assert [w for w in left if w.course_enrolment_id == late.course_enrolment_id] == [again]
    assert len(left) == 10


async def test_the_budget_counts_per_day_and_stops_when_exhausted(store: Store) -> None:
    """Requests are counted per budget day; an exhausted day refuses the rest."""
    day = date(2025, 3, 14)
    assert [await store.budget.spend(day, 2) for _ in range(3)] == [True, True, False]
    assert await store.budget.used(day) == (2, False)
    other = date(2025, 3, 15)
    await store.budget.mark_exhausted(other)
    assert not await store.budget.spend(other, 100)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_two_processes_spending_at_once_never_pass_the_quota(
    kind: str, tmp_path: Path
) -> None:
    """Two stores on one database (two replicas) spend 30 at once against a quota of 12.

    Exactly 12 are granted and counted, the day's first request included: the check and the
    count are one step.
    """
    day = date(2025, 3, 14)
    async with database(kind, tmp_path) as url:
        if kind == "postgresql":
            await migrate.upgrade_database(url)
        first = await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")
        second = await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")
        try:
            granted = await asyncio.gather(
                *(store.budget.spend(day, 12) for _ in range(15) for store in (first, second))
            )
            assert sum(granted) == 12
            assert await first.budget.used(day) == (12, False)
        finally:
            await first.close()
            await second.close()


async def test_mapping_versions_switch_atomically(store: Store) -> None:
    """Only one mapping is active; versions count up."""
    assert await store.mappings.active() is None
    first = await store.mappings.activate("version: 1", "config/mapping.yaml")
    second = await store.mappings.activate("version: 1 # edited", "config/mapping.yaml")
    assert second == first + 1
    assert await store.mappings.active() == (second, "config/mapping.yaml", "version: 1 # edited")


async def test_a_store_refuses_another_wisenet_account(tmp_path: Path) -> None:
    """The store records the account it was made for and refuses any other."""
    async with database("sqlite", tmp_path) as url:
        first = await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")
        await first.close()
        with pytest.raises(ConfigurationError, match=r"belongs to https://wisenet\.test/v1"):
            await Store.open(
                url, FakeClock(), base_url="https://other.test/v1", account_number="ACME01"
            )
    assert stat.S_IMODE((tmp_path / "store.db").stat().st_mode) == 0o600


async def test_postgresql_needs_an_explicit_upgrade(tmp_path: Path) -> None:
    """On PostgreSQL the service refuses a schema `connector db upgrade` has not migrated."""
    async with database("postgresql", tmp_path) as url:
        with pytest.raises(ConfigurationError, match="run `connector db upgrade`"):
            await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        assert await migrate.upgrade_database(url) == migrate.head_revision()
        opened = await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        await opened.close()


async def test_job_locks_exclude_other_owners_until_they_expire(store: Store) -> None:
    """A lock held by one process refuses another until it is released or expires."""
    ttl = timedelta(minutes=5)
    await store.locks.acquire("sync", "service", ttl)
    await store.locks.acquire("sync", "service", ttl)
    with pytest.raises(JobBusyError, match="the sync job is running in another process"):
        await store.locks.acquire("sync", "cli", ttl)
    await store.locks.release("sync", "service")
    await store.locks.acquire("sync", "cli", ttl)
    assert isinstance(store.clock, FakeClock)
    store.clock.advance(301)
    await store.locks.acquire("sync", "service", ttl)


async def test_an_older_store_is_migrated_forward(tmp_path: Path) -> None:
    """A SQLite store made by an earlier release is brought to the head on open."""
    async with database("sqlite", tmp_path) as url:
        engine = create_async_engine(url)
        await migrate.upgrade(engine, "0001")
        assert await migrate.current_revision(engine) == "0001"
        await engine.dispose()
        opened = await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        try:
            assert await migrate.current_revision(opened.db.engine) == migrate.head_revision()
            await opened.locks.acquire("sync", "me", timedelta(minutes=1))
        finally:
            await opened.close()


async def test_a_migration_failing_halfway_leaves_the_sqlite_file_as_it_was(tmp_path: Path) -> None:
    """All revisions commit together: a process killed mid-upgrade cannot brick the store."""
    async with database("sqlite", tmp_path) as url:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:  # makes revision 0004 fail after 0001 to 0003
                await conn.execute(text("CREATE TABLE webhook_inbox (id INTEGER)"))
            with pytest.raises(OperationalError, match="webhook_inbox already exists"):
                await migrate.upgrade(engine)
            async with engine.connect() as conn:
                tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            assert tables == ["webhook_inbox"]  # nothing of revisions 0001 to 0003 stayed
            assert await migrate.current_revision(engine) is None
        finally:
            await engine.dispose()


async def test_a_blocked_write_stays_queued_out_of_the_due_list_until_released(
    store: Store,
) -> None:
    """Blocked: not claimed nor previewed, counted by tag; a new plan or a release frees it."""
    write, decision = await queue_certified(store, "c-5")
    (claimed,) = await store.outbox.claim("w", 10, timedelta(minutes=5))
    await store.outbox.block(claimed, "certified", "tag 'certified' ...; set adopt_existing")
    assert await store.outbox.claim("w", 10, timedelta(minutes=5)) == []
    assert await store.outbox.pending(10) == []
    assert await store.outbox.blocked() == [
        BlockedWrites("certified", "tag 'certified' ...; set adopt_existing", 1)
    ]
    facts = await store.runs.status_facts()
    assert (facts["outbox"], len(facts["blocked"])) == (0, 1)
    assert await store.outbox.release_blocked("certified") == {1}
    assert await store.outbox.blocked() == []
    (again,) = await store.outbox.claim("w2", 10, timedelta(minutes=5))
    await store.outbox.block(again, "certified", "archived")
    await store.decisions.record(
        decision, mapping_version=1, today=TODAY, writes=[write], cancel_writes=[]
    )
    assert await store.outbox.blocked() == []  # a new plan is checked again before sending
    assert [w.course_enrolment_id for w in await store.outbox.pending(10)] == [10]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_replicas_opening_a_new_store_together_all_bind_it_once(
    kind: str, tmp_path: Path
) -> None:
    """Six processes' worth of opens at once: one binds the store, the others check its binding.

    Before, two could both find no binding and both insert it; the second stopped on a unique
    violation ("the store cannot be opened"), a replica lost at start-up.
    """
    async with database(kind, tmp_path) as url:
        if kind == "postgresql":
            await migrate.upgrade_database(url)
        else:  # SQLite migrates on open: make the tables first, then race for the binding only
            first = await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")
            async with first.db.engine.begin() as conn:
                await conn.execute(text("DELETE FROM store_identity"))
            await first.close()

        async def open_one() -> Store:
            return await Store.open(url, FakeClock(), base_url=BASE, account_number="ACME01")

        opened = await asyncio.gather(*(open_one() for _ in range(6)))
        try:
            bindings = {await store.binding() for store in opened}
        finally:
            for store in opened:
                await store.close()
        assert len(bindings) == 1
        with pytest.raises(ConfigurationError, match="this store belongs to"):
            await Store.open(
                url, FakeClock(), base_url="https://other.example/v1", account_number=None
            )
