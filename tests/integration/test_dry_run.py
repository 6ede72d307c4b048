"""A dry run is a plan, not a run: through `main`, on SQLite and PostgreSQL.

Twin sandboxes and stores get the same first sync and the same staff edits; one twin then runs
every kind of dry run. Its store must hold exactly what it held before (every row of every
table; on SQLite the file's bytes too), its sandbox must have seen no write, the printed plan
must name the enrolments the next real sync writes, and that real sync must send what the
twin's real sync sends.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from connector.errors import DryRunWriteError
from connector.sandbox.app import SandboxServer
from connector.store import migrate
from connector.store.store import Store
from connector.wisenet.client import WisenetClient
from connector.wisenet.transport import ClientConfig
from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.clock import FakeClock
from tests.support.databases import database, postgres_database
from tests.support.rig import owned_tags_in_wisenet
from tests.support.sandbox import ACCOUNT_TZ, KEY, TODAY, control, served, settings_for
from tests.support.staff import staff_edits

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # 09:00 on the sandbox's today in Sydney
WRITES = ("PATCH", "POST", "PUT", "DELETE")
BASE_URL = "https://wisenet.test/v1"
PLAN_LINE = re.compile(r"^plan: learner (\d+) enrolment (\d+) add (\S+) remove (\S+)$")
Dump = dict[str, list[str]]


@dataclass
class Twin:
    """A served sandbox and the settings of a store aimed at it."""

    server: SandboxServer
    url: str
    env: dict[str, str]


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """A store URL of `kind`: a SQLite file in `folder` or a fresh PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'store.db'}"
        return
    with postgres_database() as url:
        yield url


@contextmanager
def twin(kind: str, folder: Path) -> Iterator[Twin]:
    """A sandbox of the test defaults and an empty store of `kind` at the current schema."""
    folder.mkdir()
    with served() as server, store_url(kind, folder) as url:
        yield Twin(server, url, settings_for(server, url))


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    aimed: Twin,
    clock: FakeClock,
    *argv: str,
    dry_env: bool = False,
) -> str:
    """Run one command against `aimed`; return its standard output."""
    with monkeypatch.context() as patched:
        for name, value in aimed.env.items():
            patched.setenv(f"CONNECTOR_{name}", value)
        patched.setenv("CONNECTOR_DRY_RUN", "true" if dry_env else "false")
        capsys.readouterr()
        assert main(list(argv), clock=clock) == EXIT_OK, capsys.readouterr().err[-2000:]
        return capsys.readouterr().out


def dump(url: str) -> Dump:
    """Every row of every table of the store (the schema's version too), in a fixed order."""
    return asyncio.run(_dump(url))


async def _dump(url: str) -> Dump:
    if url.startswith("sqlite"):  # read-only: looking must not change the file
        url = f"sqlite+aiosqlite:///file:{url.split(':///', 1)[1]}?mode=ro&uri=true"
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            found: Dump = {}
            for name in sorted(names):
                rows = await conn.execute(text(f'SELECT * FROM "{name}"'))  # noqa: S608 - own names
                found[name] = sorted(repr(tuple(row)) for row in rows)
            return found
    finally:
        await engine.dispose()


def file_bytes(url: str) -> str | None:
    """The SHA-256 of a SQLite store's file and its write-ahead log (None for PostgreSQL)."""
    if not url.startswith("sqlite"):
        return None
    path = Path(url.split(":///", 1)[1])
    wal = path.with_name(path.name + "-wal")
    digest = hashlib.sha256(path.read_bytes())
    digest.update(wal.read_bytes() if wal.exists() else b"")
    return digest.hexdigest()


def writes_seen(server: SandboxServer) -> dict[str, int]:
    """Requests other than reads the sandbox counted since its counters were reset."""
    counted: dict[str, int] = control(server, "GET", "/counters")["by_endpoint"]
    return {name: n for name, n in counted.items() if name.startswith(WRITES)}


def planned_enrolments(out: str) -> set[int]:
    """The enrolments a printed plan names (its lines carry ids only)."""
    matches = [PLAN_LINE.match(line) for line in out.splitlines()]
    return {int(found.group(2)) for found in matches if found}


def first_sync_and_edits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aimed: Twin
) -> None:
    """The schema, a real first sync, then six staff edits in Wisenet (the same for each twin)."""
    clock = FakeClock(START)
    run(monkeypatch, capsys, aimed, clock, "db", "upgrade")
    run(monkeypatch, capsys, aimed, clock, "sync")
    staff_edits(aimed.server, random.Random(14), 6)
    control(aimed.server, "POST", "/counters/reset")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_dry_runs_change_nothing_and_plan_what_the_real_sync_sends(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dry sync, backfill, reconcile and sweep --as-of leave every row; the plan comes true."""
    with twin(kind, tmp_path / "dry") as dry, twin(kind, tmp_path / "alone") as alone:
        for aimed in (dry, alone):
            first_sync_and_edits(monkeypatch, capsys, aimed)
        before, bytes_before = dump(dry.url), file_bytes(dry.url)
        clock = FakeClock(START + timedelta(minutes=30))

        plan = run(monkeypatch, capsys, dry, clock, "sync", "--dry-run")
        assert dump(dry.url) == before
        assert file_bytes(dry.url) == bytes_before
        planned = planned_enrolments(plan)
        assert planned, plan
        assert f"plan: {len(planned)} enrolments to write" in plan
        for argv, dry_env in (
            (("backfill", "--dry-run"), False),
            (("reconcile", "--dry-run"), False),
            (("sweep", "--as-of", (TODAY + timedelta(days=2)).isoformat()), False),
            (("sync",), True),  # CONNECTOR_DRY_RUN=true
        ):
            out = run(monkeypatch, capsys, dry, clock, *argv, dry_env=dry_env)
            assert dump(dry.url) == before, argv
            assert file_bytes(dry.url) == bytes_before, argv
            assert planned_enrolments(out), (argv, out)
        assert writes_seen(dry.server) == {}

        patched = {}
        for aimed in (dry, alone):
            earlier = len(control(aimed.server, "GET", "/patches"))
            run(monkeypatch, capsys, aimed, FakeClock(START + timedelta(hours=1)), "sync")
            patches = control(aimed.server, "GET", "/patches")[earlier:]
            patched[aimed.url] = sorted(entry["id"] for entry in patches)
        sent = writes_seen(dry.server)
        assert sent == writes_seen(alone.server)
        assert patched[dry.url] == patched[alone.url] == sorted(planned)
        assert sent["PATCH /course-enrolments/{id}"] == len(planned)
        assert owned_tags_in_wisenet(dry.server) == owned_tags_in_wisenet(alone.server)


async def test_a_dry_runs_client_refuses_every_write_before_sending_it() -> None:
    """Defence in depth: PATCH and POST raise in a dry run, and Wisenet counts no request."""
    with served() as server:
        config = ClientConfig(
            base_url=server.base_url, api_key=KEY, account_tz=ACCOUNT_TZ, read_only=True
        )
        async with WisenetClient(config, clock=FakeClock(START)) as client:
            (ce,) = list(server.sandbox.db.course_enrolments.ids())[:1]
            with pytest.raises(DryRunWriteError, match="PATCH /course-enrolments/"):
                await client.set_course_enrolment_tags(ce, [], learner_id=1)
            with pytest.raises(DryRunWriteError, match="POST /tags"):
                await client.create_tag("certified")
            assert control(server, "GET", "/counters")["total"] == 0
            await client.tags()  # reads still go to Wisenet
        assert control(server, "GET", "/counters")["by_endpoint"] == {"GET /tags": 1}


@pytest.mark.parametrize("argv", [["run"], ["db", "upgrade"]], ids=["run", "db upgrade"])
def test_commands_that_only_change_the_store_refuse_a_dry_run(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The service (it records what it receives) and a schema upgrade do not start."""
    database = tmp_path / "store.db"
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("CONNECTOR_DRY_RUN", "true")
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", "sandbox-key")
    capsys.readouterr()
    assert main(argv, clock=FakeClock(START)) == EXIT_CONFIGURATION
    assert "CONNECTOR_DRY_RUN=true" in capsys.readouterr().err
    assert not database.exists()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_dry_runs_store_writes_its_copy_and_cannot_write_the_store(
    kind: str, tmp_path: Path
) -> None:
    """Writes go to the private copy; the real tables refuse them on the dry run's connection."""
    clock = FakeClock(START)
    async with database(kind, tmp_path) as url:
        if kind == "postgresql":
            await migrate.upgrade_database(url)
        real = await Store.open(url, clock, base_url="https://w.test", account_number=None)
        await real.mappings.activate(DEFAULT_MAPPING.read_text(), "mapping.yaml")
        dry = await Store.open(
            url, clock, base_url="https://w.test", account_number=None, dry_run=True
        )
        try:
            await dry.mappings.activate(DEFAULT_MAPPING.read_text(), "again.yaml")
            assert (await dry.mappings.active() or (0,))[0] == 2
            real_table = "main.mapping_versions" if kind == "sqlite" else "public.mapping_versions"
            with pytest.raises(DBAPIError, match=r"read-?only"):
                async with dry.db.engine.begin() as conn:
                    await conn.execute(text(f"DELETE FROM {real_table}"))  # noqa: S608
        finally:
            await dry.close()
        assert (await real.mappings.active() or (0,))[0] == 1
        await real.close()


def test_a_dry_run_before_the_first_sync_creates_no_store_and_plans_the_first_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No SQLite file yet: the plan is made on an empty copy; the first real sync sends it."""
    with twin("sqlite", tmp_path / "new") as aimed:
        plan = run(monkeypatch, capsys, aimed, FakeClock(START), "sync", "--dry-run")
        assert not (tmp_path / "new" / "store.db").exists()
        assert writes_seen(aimed.server) == {}
        run(monkeypatch, capsys, aimed, FakeClock(START), "sync")
        patched = {entry["id"] for entry in control(aimed.server, "GET", "/patches")}
        assert patched == planned_enrolments(plan)
