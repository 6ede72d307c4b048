"""A backfill killed with SIGKILL resumes from its last committed page and ends as if whole."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_service import environment
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CONNECTOR = str(Path(sys.executable).parent / "connector")


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
    with served() as server:
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
        second = subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, "backfill"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert second.returncode == 0, second.stderr[-2000:]
        counts = control(server, "GET", "/counters")["by_endpoint"]
        assert counts["GET /unit-enrolments"] == 2  # skip 1000 and 2000, not the first page
        progress = [line for line in second.stderr.splitlines() if "records read" in line]
        assert "UnitEnrolment: 2000 records read" in progress  # plain lines off a terminal
        assert progress[-1].startswith("Credential: ")
        assert owned_tags_in_wisenet(server) == expected_tags(server)
