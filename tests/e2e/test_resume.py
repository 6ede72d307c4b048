"""A backfill killed with SIGKILL resumes from its last committed page and ends as if whole."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_service import environment
from tests.support.processes import CONNECTOR, run_connector
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served_for_processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def unit_progress(database: Path) -> int | None:
    """How far the unit-enrolment listing got, as committed (None before it starts)."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT resume_skip FROM cursors WHERE entity = 'UnitEnrolment'"
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]


def test_a_killed_backfill_resumes_from_the_last_committed_page(tmp_path: Path) -> None:
    """Kill `connector backfill` after the first page of units; the rerun reads only the rest."""
    database = tmp_path / "c.db"
    with served_for_processes() as server:
        env = environment(server.base_url, database)
        control(server, "POST", "/faults", json={"latency_ms": [250, 250]})
        with subprocess.Popen(  # noqa: S603 - fixed arguments
            [CONNECTOR, "backfill"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as first:
            deadline = time.monotonic() + 120
            while (unit_progress(database) or 0) < 1000:
                assert first.poll() is None, "the sync finished before it could be killed"
                assert time.monotonic() < deadline, "the unit listing never started"
                time.sleep(0.05)  # the child works at its own pace
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        assert unit_progress(database) == 1000
        # The killed process may have asked for the next page already (it prefetches, if the
        # request left before the kill); let the sandbox finish it so the rerun is counted alone.
        server.wait_idle()
        control(server, "DELETE", "/faults")
        control(server, "POST", "/counters/reset")
        second = run_connector("backfill", env=env, cwd=tmp_path)
        assert second.returncode == 0, second.stderr[-2000:]
        counts = control(server, "GET", "/counters")["by_endpoint"]
        assert counts["GET /unit-enrolments"] == 2  # skip 1000 and 2000, not the first page
        logged = [json.loads(line) for line in second.stderr.splitlines()]  # JSON, every line
        progress = [
            (event["entity"], event["records_read"])
            for event in logged
            if event["event"] == "listing.progress"
        ]
        assert ("UnitEnrolment", 2000) in progress  # one log event per page off a terminal
        assert progress[-1][0] == "Credential"
        assert owned_tags_in_wisenet(server) == expected_tags(server)
