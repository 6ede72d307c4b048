"""Processes killed with SIGKILL at many moments, restarted each time, end as if whole.

`connector run`, killed 20 times at random moments: the kills fall during the first full read,
during webhook processing and during write-back. Afterwards: every delivery the receiver
acknowledged was processed, nothing waits in the inbox or the outbox, the tags equal what the
reference implementation wants, and a PATCH that changed nothing (sent just before a kill, sent
again after) is identical to the one it repeats and counted.

`connector backfill`, killed five times under 20 % server errors, in its read and its writes:
the next whole run ends in the reference tags, sending what the killed runs had leased.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connector.sandbox.app import SandboxServer
from jobs.service.leader import STOP_GRACE_SECONDS
from tests.e2e.test_service import environment
from tests.support.processes import CONNECTOR, run_connector
from tests.support.receiving import acknowledged
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served_for_processes
from tests.support.staff import staff_edits

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# SIGTERM lets a job in progress finish within the service's grace: the bound allows it.
STOPPED_WITHIN = STOP_GRACE_SECONDS + 30
SYDNEY = ZoneInfo("Australia/Sydney")
KILLS = 20


def store_rows(database: Path, query: str) -> list[tuple[object, ...]]:
    """Rows from the connector's SQLite store, read-only."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(query).fetchall()


def start(env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A `connector run` appending to `log`."""
    with log.open("a") as sink:
        return subprocess.Popen(  # noqa: S603 - fixed arguments
            [CONNECTOR, "run"], env=env, stdout=subprocess.DEVNULL, stderr=sink, cwd=cwd
        )


def kill_when(process: subprocess.Popen[bytes], reached: Callable[[], bool]) -> bool:
    """SIGKILL `process` as soon as `reached()` holds; False if it ended by itself before."""
    deadline = time.monotonic() + 180
    while not reached():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.05)  # the child works at its own pace; the deadline bounds the wait
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return True


def settles(server: SandboxServer, admin: str, database: Path) -> bool:
    """Within four minutes: nothing waits in the inbox or outbox, and the reference's tags."""
    wanted = expected_tags(server)  # every edit is made: computed once
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(1)  # the child works at its own pace; the deadline bounds the wait
        try:
            ready = httpx.get(f"{admin}/readyz", timeout=5).json()
        except httpx.HTTPError:
            continue
        waiting = store_rows(database, "SELECT count(*) FROM outbox")[0][0]
        if (
            ready.get("webhooks", {}).get("inbox_depth") == 0
            and waiting == 0
            and owned_tags_in_wisenet(server) == wanted
        ):
            return True
    return False


def repeated_patches(
    patches: list[dict[str, Any]],
) -> list[tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]]:
    """PATCHes that changed nothing, each with the previous PATCH of the same record."""
    previous: dict[tuple[str, int], list[dict[str, Any]]] = {}
    repeats: list[tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]] = []
    for patch in patches:
        key = (patch["entity"], patch["id"])
        if not patch["changed"]:
            repeats.append((previous.get(key), patch["operations"]))
        previous[key] = patch["operations"]
    return repeats


def test_twenty_kills_lose_no_acknowledged_webhook_and_end_in_the_right_tags(
    tmp_path: Path,
) -> None:
    """SIGKILL at random moments; the deployment converges as if never interrupted."""
    rng = random.Random(20261129)
    database = tmp_path / "c.db"
    log = tmp_path / "service.log"
    with served_for_processes() as server:
        env = environment(server.base_url, database)
        env["CONNECTOR_POLL_INTERVAL"] = "20s"  # polls catch what lost deliveries announced
        admin = f"http://{env['CONNECTOR_ADMIN_BIND']}"
        receiver = f"http://{env['CONNECTOR_HTTP_BIND']}/webhooks/wisenet"
        control(
            server,
            "POST",
            "/webhooks",
            json={"url": receiver, "retries": 8, "retry_backoff_ms": 100},
        )
        control(server, "POST", "/faults", json={"latency_ms": [5, 25]})  # a slower Wisenet
        for kill in range(KILLS):
            serving = started_runs(log)
            process = start(env, log, tmp_path)
            if kill >= 3:  # after a few kills in the first read: staff edit, webhooks flow
                staff_edits(server, rng, rng.randint(2, 6))
            if kill % 2:  # every other kill lands while serving, however slow the start-up
                until_serving(process, log, serving + 1)
            time.sleep(rng.uniform(0.8, 3.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        control(server, "DELETE", "/faults")
        process = start(env, log, tmp_path)
        try:
            control(server, "POST", "/webhooks/flush", json={"within": 30})
            assert settles(server, admin, database), log.read_text()[-3000:]
            delivered = control(server, "GET", "/webhooks/deliveries?limit=20000")
            kept = acknowledged(delivered)
            processed = {
                row[0]
                for row in store_rows(
                    database,
                    "SELECT delivery_id FROM webhook_inbox WHERE processed_at IS NOT NULL",
                )
            }
            patches = control(server, "GET", "/patches")
            repeats = repeated_patches(patches)
            print(  # noqa: T201 - figures for the closing note
                f"\n{KILLS} kills; {len(delivered)} deliveries, {len(kept)} acknowledged, "
                f"{len(kept - processed)} of them unprocessed; {len(patches)} PATCHes, "
                f"{len(repeats)} of them repeats that changed nothing"
            )
            assert kept
            assert kept <= processed
            # A repeat is allowed only around a kill (sent, then killed before it was recorded)
            # and must be identical to the PATCH it repeats.
            assert len(repeats) <= KILLS
            assert all(earlier == again for earlier, again in repeats)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOPPED_WITHIN) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    started = started_runs(log)
    print(f"{started} of {KILLS + 1} runs got as far as serving")  # noqa: T201 - the rest died starting
    assert started > KILLS // 2


def started_runs(log: Path) -> int:
    """How many runs of the service logged that they serve (a killed run may leave half a line)."""
    text = log.read_text() if log.exists() else ""
    return sum(1 for line in text.splitlines() if '"event": "service.started"' in line)


def until_serving(process: subprocess.Popen[bytes], log: Path, runs: int) -> None:
    """Wait until `runs` runs have logged that they serve (the child starts at its own pace)."""
    deadline = time.monotonic() + 180
    while started_runs(log) < runs:
        assert process.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "the service never started serving"
        time.sleep(0.1)


def test_five_kills_of_a_backfill_under_server_errors_end_in_the_right_tags(
    tmp_path: Path,
) -> None:
    """Backfills killed twice while reading and three times while writing; the sixth ends right."""
    database = tmp_path / "c.db"
    with served_for_processes(learners=150) as server:  # half the demo's: a shorter test
        env = environment(server.base_url, database)
        control(server, "POST", "/faults", json={"error_rate": 0.2, "seed": 5})

        def requests() -> int:
            return int(control(server, "GET", "/counters")["total"])

        def patches() -> int:
            return len(control(server, "GET", "/patches"))

        reads = requests()
        moments = [
            lambda: requests() >= reads + 6,  # in the first listings
            lambda: requests() >= reads + 20,  # further on, resumed from the last page
            lambda: patches() >= 10,  # in the writes
            lambda: patches() >= 25,  # in the writes of a backfill that read everything again
            lambda: patches() >= 40,
        ]
        killed = []
        with (tmp_path / "killed.log").open("w") as sink:
            for reached in moments:
                process = subprocess.Popen(  # noqa: S603 - fixed arguments
                    [CONNECTOR, "backfill"], env=env, cwd=tmp_path, stdout=sink, stderr=sink
                )
                killed.append(kill_when(process, reached))
                server.wait_idle()  # what the killed process had sent is applied
        sent = patches()
        last = run_connector("backfill", env=env, cwd=tmp_path)
        have, want = owned_tags_in_wisenet(server), expected_tags(server)
        wrong = sorted(ce for ce in want if have.get(ce) != want[ce])
        print(  # noqa: T201 - figures for the closing note
            f"\n{sum(killed)} kills under 20 % errors, {sent} PATCHes before the last run; it said "
            f"{last.stdout.strip()!r}; {len(wrong)} of {len(want)} enrolments wrong"
        )
        assert last.returncode == 0, last.stderr[-2000:]
        assert wrong == []
        assert store_rows(database, "SELECT count(*) FROM outbox")[0][0] == 0
        assert killed == [True] * len(moments)  # no run ended before its kill
