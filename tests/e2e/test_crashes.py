"""`connector run` killed with SIGKILL 20 times at random moments, restarted each time.

The kills fall during the first full read, during webhook processing and during write-back.
Afterwards: every delivery the receiver acknowledged was processed, nothing waits in the inbox
or the outbox, the tags equal what the reference implementation wants, and a PATCH that
changed nothing (sent just before a kill, sent again after) is identical to the one it repeats
and counted.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connector.sandbox.app import SandboxServer
from tests.e2e.test_service import environment
from tests.support.receiving import acknowledged
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served
from tests.support.staff import staff_edits

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CONNECTOR = str(Path(sys.executable).parent / "connector")
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


def settles(server: SandboxServer, admin: str, database: Path) -> bool:
    """Within two minutes: nothing waits in the inbox or outbox and the tags are the reference's."""
    today = datetime.now(SYDNEY).date()
    deadline = time.monotonic() + 120
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
            and owned_tags_in_wisenet(server) == expected_tags(server, today)
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
    with served() as server:
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
            process = start(env, log, tmp_path)
            if kill >= 3:  # after a few kills in the first read: staff edit, webhooks flow
                staff_edits(server, rng, rng.randint(2, 6))
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
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    started = sum(1 for x in lines if x.get("event") == "service.started")
    print(f"{started} of {KILLS + 1} runs got as far as serving")  # noqa: T201 - the rest died starting
    assert started > 1
