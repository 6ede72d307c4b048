"""Leases left by a killed process are taken over by the next lock holder, at once.

A `connector backfill` or `connector run` killed with SIGKILL during write-back leaves outbox
rows leased to a process that no longer exists; the next process that takes the job lock (a CLI
run or the restarted service) sends them in its own run instead of waiting for the leases to
run out. Writes a live process still holds are named, and the run does not exit 0. A leader
whose database went away mid-drain takes its own leased deliveries back once re-elected.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from connector.clock import SystemClock
from connector.sandbox.app import SandboxServer
from connector.store.store import Store
from connector.wisenet.retry import RetryPolicy
from jobs.pipeline.runs import sync
from jobs.service.leader import STOP_GRACE_SECONDS
from tests.e2e.test_crashes import kill_when, start
from tests.e2e.test_replicas import rows
from tests.e2e.test_service import environment, events
from tests.support.databases import postgres_database
from tests.support.processes import CONNECTOR, run_connector
from tests.support.proxy import threaded_proxy
from tests.support.receiving import acknowledged
from tests.support.rig import expected_tags, owned_tags_in_wisenet, wired
from tests.support.sandbox import control, served, served_for_processes
from tests.support.staff import staff_edits

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# SIGTERM lets a job in progress finish within the service's grace: the bound allows it.
STOPPED_WITHIN = STOP_GRACE_SECONDS + 30
KILL_AFTER = 20  # PATCHes the sandbox applied before the kill


def outbox_rows(database: Path) -> int:
    """Writes waiting in the connector's SQLite store."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


def kill_after_patches(process: subprocess.Popen[bytes], server: SandboxServer) -> int:
    """SIGKILL `process` once the sandbox has applied KILL_AFTER PATCHes; how many it had."""
    assert kill_when(process, lambda: len(control(server, "GET", "/patches")) >= KILL_AFTER)
    server.wait_idle()  # a PATCH the killed process had sent is applied before counting
    return len(control(server, "GET", "/patches"))


def test_a_sync_right_after_a_killed_backfill_sends_what_the_backfill_left(
    tmp_path: Path,
) -> None:
    """`connector backfill` killed after 20 PATCHes; `connector sync` at once sends the rest."""
    database = tmp_path / "c.db"
    with served_for_processes() as server:
        env = environment(server.base_url, database)
        with (tmp_path / "backfill.log").open("w") as sink:
            first = subprocess.Popen(  # noqa: S603 - fixed arguments
                [CONNECTOR, "backfill"], env=env, cwd=tmp_path, stdout=sink, stderr=sink
            )
        sent = kill_after_patches(first, server)
        wanted = expected_tags(server)
        assert owned_tags_in_wisenet(server) != wanted  # the kill left writes behind
        left = outbox_rows(database)
        second = run_connector("sync", env=env, cwd=tmp_path)
        print(  # noqa: T201 - figures for the closing note
            f"\nkilled after {sent} PATCHes with {left} writes queued; the sync said: "
            f"{second.stdout.strip()!r}"
        )
        assert second.returncode == 0, second.stderr[-2000:]
        assert owned_tags_in_wisenet(server) == wanted
        assert outbox_rows(database) == 0


@contextmanager
def store_for(kind: str, env: dict[str, str]) -> Iterator[Callable[[], int]]:
    """Point `env` at a fresh store of `kind`; yield how to count the writes waiting in it."""
    if kind == "sqlite":
        database = Path(env["CONNECTOR_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
        yield lambda: outbox_rows(database)
        return
    with postgres_database() as url:
        env["CONNECTOR_DATABASE_URL"] = url
        subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300
        )
        yield lambda: int(rows(url, "SELECT count(*) FROM outbox")[0][0])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_restarted_service_sends_the_killed_writers_writes_in_its_first_job(
    kind: str, tmp_path: Path
) -> None:
    """`connector run` killed during write-back; the restarted one's first write job sends all."""
    with served_for_processes() as server:
        env = environment(server.base_url, tmp_path / "c.db")
        with store_for(kind, env) as waiting:
            killed = start(env, tmp_path / "first.log", tmp_path)
            kill_after_patches(killed, server)
            assert waiting() > 0
            log = tmp_path / "second.log"
            process = start(env, log, tmp_path)
            try:
                deadline = time.monotonic() + 120
                done: list[dict[str, object]] = []
                while not done:
                    assert process.poll() is None, log.read_text()[-2000:]
                    assert time.monotonic() < deadline, log.read_text()[-2000:]
                    time.sleep(0.2)  # the child works at its own pace; the deadline bounds it
                    done = [e for e in events(log) if e.get("event") == "job.done"]
                # The first job that writes (the sync at start) sends every write the kill left.
                assert done[0]["job"] in {"sync", "write"}
                assert waiting() == 0
                assert owned_tags_in_wisenet(server) == expected_tags(server)
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=STOPPED_WITHIN) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)


def test_a_sync_names_writes_a_live_process_holds_and_does_not_exit_0(tmp_path: Path) -> None:
    """Writes leased by a running process are not sent twice, and the run says so (exit 1)."""
    database = tmp_path / "c.db"
    with served() as server:
        env = environment(server.base_url, database)
        asyncio.run(queue_first_sync(server, f"sqlite+aiosqlite:///{database}"))
        queued = outbox_rows(database)
        assert queued > 0
        holder = f"{socket.gethostname()}:{os.getpid()}:writer"  # this test process: alive

        async def hold() -> None:
            store = await Store.open(
                f"sqlite+aiosqlite:///{database}",
                SystemClock(),
                base_url=server.base_url,
                account_number="SANDBOX01",
            )
            await store.locks.acquire("write", holder, timedelta(minutes=10))
            assert len(await store.outbox.claim(holder, 10_000, timedelta(minutes=10))) == queued
            await store.close()

        asyncio.run(hold())
        control(server, "POST", "/counters/reset")
        result = run_connector("sync", env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert f"{queued} writes are held by another running process ({holder}" in result.stderr
        patches = control(server, "GET", "/counters")["by_endpoint"]
        assert "PATCH /course-enrolments/{id}" not in patches
        assert outbox_rows(database) == queued


async def queue_first_sync(server: SandboxServer, url: str) -> None:
    """A first sync that decides every learner and queues the writes, sending none yet."""
    async with wired(server, url, SystemClock(), rate_limit=10.0, retry=RetryPolicy()) as rig:
        rig.ctx.dry_run = True  # the job's own switch: the outbox is filled, not drained
        await sync(rig.ctx)


def after(log: Path, event: str, count: int, seconds: float) -> None:
    """Until the child's log holds `count` `event`s (the child works at its own pace)."""
    deadline = time.monotonic() + seconds
    while sum(e.get("event") == event for e in events(log)) < count:
        assert time.monotonic() < deadline, f"no {event} #{count}: {log.read_text()[-2000:]}"
        time.sleep(0.1)


def processed(url: str) -> set[str]:
    """Delivery ids the inbox has marked processed."""
    query = "SELECT delivery_id FROM webhook_inbox WHERE processed_at IS NOT NULL"
    return {str(row[0]) for row in rows(url, query)}


def test_an_outage_during_a_drain_delays_no_acknowledged_delivery_past_the_next_drain(
    tmp_path: Path,
) -> None:
    """PostgreSQL cut mid-drain: the re-elected leader's next drain takes its own leased rows."""
    rng = random.Random(13)
    log = tmp_path / "service.log"
    with (
        served_for_processes() as server,
        postgres_database() as url,
        threaded_proxy("127.0.0.1", 5432) as proxy,
    ):
        env = environment(server.base_url, tmp_path / "unused.db")
        env["CONNECTOR_DATABASE_URL"] = url.replace("@127.0.0.1/", f"@127.0.0.1:{proxy.port}/")
        subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300
        )
        receiver = f"http://{env['CONNECTOR_HTTP_BIND']}/webhooks/wisenet"
        control(server, "POST", "/webhooks", json={"url": receiver, "retries": 30})
        process = start(env, log, tmp_path)
        try:
            after(log, "job.done", 1, 240)  # the first full read and its writes
            control(server, "POST", "/faults", json={"latency_ms": [300, 400]})
            staff_edits(server, rng, 12)
            deadline = time.monotonic() + 60
            leased = (
                "SELECT delivery_id FROM webhook_inbox "
                "WHERE processed_at IS NULL AND lease_until IS NOT NULL"
            )
            while not rows(url, leased):
                assert time.monotonic() < deadline, "no drain began"
                time.sleep(0.05)  # the drain begins at the child's pace
            proxy.down()  # mid-drain: its rows stay leased to the leader
            after(log, "leader.lost", 1, 180)
            stuck = {str(row[0]) for row in rows(url, leased)}  # read past the proxy
            assert stuck, "the drain ended before the outage"
            proxy.up()
            after(log, "leader.elected", 2, 180)
            control(server, "DELETE", "/faults")
            control(server, "POST", "/webhooks/flush", json={"within": 60})
            before = acknowledged(control(server, "GET", "/webhooks/deliveries?limit=20000"))
            assert stuck <= before
            staff_edits(server, rng, 1)  # a later delivery: the next drain takes it
            control(server, "POST", "/webhooks/flush", json={"within": 60})
            later = acknowledged(control(server, "GET", "/webhooks/deliveries?limit=20000"))
            later -= before
            deadline = time.monotonic() + 120
            while not later <= processed(url):
                assert time.monotonic() < deadline, "the later delivery was never processed"
                time.sleep(0.2)  # the child drains at its own pace
            print(  # noqa: T201 - figures for the closing note
                f"\n{len(stuck)} deliveries leased when the database went away; "
                f"{len(before)} acknowledged before the next drain, "
                f"{len(before - processed(url))} of them still unprocessed after it"
            )
            assert before <= processed(url)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOPPED_WITHIN) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
