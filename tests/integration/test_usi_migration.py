"""Revision 0007 scrubs the USIs an older store kept, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from connector.store import migrate
from connector.store.codec import content_hash, encode
from connector.store.store import Store
from mappings.evaluate import evaluate
from mappings.loader import load_mapping
from tests.support.bundles import CALENDAR, TODAY, bundle, default_mapping, enrolment, learner
from tests.support.clock import FakeClock
from tests.support.databases import database

pytestmark = pytest.mark.integration
BASE = "https://wisenet.test/v1"
NOW = datetime(2026, 11, 29, 9, tzinfo=UTC)
# learner id -> the USI a 0006 store kept for them, as Wisenet gave it
KEPT: dict[int, str | None] = {
    1: "3AW88YH9U5",
    2: " 7bq2k9mnpz ",
    3: "3AW88YH9O5",  # malformed, still a person's identifier
    4: "INDIV",
    5: None,
}
USIS = ("3AW88YH9U5", "7BQ2K9MNPZ", "3AW88YH9O5")
OLD_DEFAULT = Path(__file__).parents[1] / "fixtures" / "mappings" / "default-before-usi-facts.yaml"


def old_snapshot(learner_id: int) -> dict[str, Any]:
    """A learner snapshot as revision 0006 stored it: the USI itself under `usi`."""
    fields = encode(learner(learner_id))
    for fact in ("has_usi", "usi_well_formed", "usi_exemption"):
        del fields[fact]
    fields["usi"] = KEPT[learner_id]
    return fields


async def fill_an_0006_store(conn: AsyncConnection) -> None:
    """Learner snapshots with USIs, a USI slipped into a dead letter and a run, the old mapping."""
    await conn.execute(
        text(
            "INSERT INTO mapping_versions (checksum, source, text, activated_at, active) "
            "VALUES ('old', 'config/mapping.yaml', :text, :at, :active)"
        ),
        {"text": OLD_DEFAULT.read_text(), "at": NOW, "active": True},
    )
    for learner_id in KEPT:
        fields = old_snapshot(learner_id)
        await conn.execute(
            text(
                "INSERT INTO records (entity, id, learner_id, modified, content_hash, fields, "
                "fetched_at) VALUES ('Learner', :id, :id, NULL, :hash, :fields, :at)"
            ),
            {
                "id": learner_id,
                "hash": content_hash(fields, None),
                "fields": json.dumps(fields),
                "at": NOW,
            },
        )
    await conn.execute(
        text(
            "INSERT INTO dead_letters (course_enrolment_id, reason, attempts, payload, created_at)"
            " VALUES (10, 'rejected for 3aw88yh9u5', 3, :payload, :at)"
        ),
        {"payload": json.dumps({"note": ["usi 7BQ2K9MNPZ", 12], "keep": "SHORT"}), "at": NOW},
    )
    await conn.execute(
        text("INSERT INTO runs (job, started_at, detail) VALUES ('sync', :at, :detail)"),
        {"at": NOW, "detail": json.dumps({"error": "learner 3 USI 3AW88YH9O5", "count": 5})},
    )


def file_bytes(folder: Path) -> bytes:
    """The raw bytes of the SQLite file and its journal files, upper-cased."""
    files = sorted(p for p in folder.iterdir() if p.name.startswith("store.db"))
    return b"".join(p.read_bytes() for p in files).upper()


async def postgres_file_bytes(url: str) -> bytes:
    """The raw bytes of every table and index of the database, after a checkpoint, upper-cased.

    The test runs beside the server, as its tests do (tests/support/databases.py).
    """
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            ready = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await ready.exec_driver_sql("CHECKPOINT")  # the pages reach the files
            folder = Path((await ready.exec_driver_sql("SHOW data_directory")).scalar_one())
            files = (
                await ready.exec_driver_sql(
                    "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND c.relkind IN ('r', 't', 'i') AND pg_relation_filepath(c.oid) IS NOT NULL"
                )
            ).scalars()
            paths = [folder / name for name in files]
    finally:
        await engine.dispose()
    return b"".join(p.read_bytes() for p in paths if p.exists()).upper()


@asynccontextmanager
async def an_old_snapshot(url: str | None) -> AsyncIterator[None]:
    """Another session of the database holding a snapshot taken before the upgrade.

    A busy server has them (one kept the old row versions of a `VACUUM FULL` on disk). It touches
    no table, so it takes no lock the upgrade waits for.
    """
    if url is None:
        yield
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            await conn.execute(text("SELECT 1"))  # the snapshot is taken here
            yield
            await conn.rollback()
    finally:
        await engine.dispose()


async def every_value(engine: AsyncEngine) -> list[str]:
    """Every value of every table, as text."""
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        values: list[str] = []
        for name in names:
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()  # noqa: S608
            values += [json.dumps(value, default=str) for row in rows for value in row]
        return values


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_an_0006_store_keeps_usi_facts_and_no_usi_after_upgrading(
    kind: str, tmp_path: Path
) -> None:
    """Facts with fresh hashes, no USI in any table or in the file; the old mapping still loads."""
    async with database(kind, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            await migrate.upgrade(engine, "0006")
            async with engine.begin() as conn:
                if kind == "sqlite":  # as the connector keeps its file
                    await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                await fill_an_0006_store(conn)
            before = "\n".join(await every_value(engine)).upper()
            assert all(usi in before for usi in USIS)
            assert all(usi.encode() in file_bytes(tmp_path) for usi in USIS) or kind != "sqlite"
        finally:
            await engine.dispose()
        if kind == "postgresql":
            on_disk = await postgres_file_bytes(url)
            assert all(usi.encode() in on_disk for usi in USIS)
        async with an_old_snapshot(url if kind == "postgresql" else None):
            await migrate.upgrade_database(url)  # as `connector db upgrade`; SQLite also on open
        store = await Store.open(url, FakeClock(), base_url=BASE, account_number=None)
        try:
            for learner_id, raw in KEPT.items():
                stored_bundle = await store.bundles.one(learner_id)
                assert stored_bundle is not None
                assert stored_bundle.learner == learner(learner_id, usi=raw)
            async with store.db.engine.connect() as conn:
                stored = (
                    await conn.execute(text("SELECT id, fields, content_hash FROM records"))
                ).all()
            for learner_id, kept, digest in stored:
                fields = json.loads(kept) if isinstance(kept, str) else kept
                assert fields == encode(learner(learner_id, usi=KEPT[learner_id]))
                assert digest == content_hash(fields, None)  # unchanged when fetched again
            after = "\n".join(await every_value(store.db.engine)).upper()
            active = await store.mappings.active()
        finally:
            await store.close()
        on_disk_after = await postgres_file_bytes(url) if kind == "postgresql" else b""
    assert not [usi for usi in USIS if usi in after]
    assert active is not None
    rewritten = load_mapping(active[2], active[1], CALENDAR)
    for raw in (*KEPT.values(), "SHORT", "12345", " 2222222222 "):
        for status in ("Verified", None):
            who = bundle(enrolment(10, "Current"), who=learner(usi=raw, usi_status=status))
            decided = evaluate(who, rewritten, TODAY)
            assert decided == evaluate(who, default_mapping(), TODAY), (raw, status)
    assert "SHORT" in after  # exemption codes and other words stay
    assert "[USI REMOVED]" in after
    if kind == "sqlite":
        assert not [usi for usi in USIS if usi.encode() in file_bytes(tmp_path)]
    else:
        assert not [usi for usi in USIS if usi.encode() in on_disk_after]
