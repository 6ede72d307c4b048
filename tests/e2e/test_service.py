"""`connector run` as a process: it syncs on start, refuses to race, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from connector.clock import SystemClock
from connector.sandbox.app import free_port
from connector.sandbox.webhooks import DEFAULT_SECRET
from connector.store.store import Store
from jobs.service.leader import STOP_GRACE_SECONDS
from tests.support.processes import CONNECTOR
from tests.support.rig import expected_tags
from tests.support.sandbox import control, served, served_for_processes

pytestmark = pytest.mark.integration
# SIGTERM lets a job in progress finish within the service's grace: the bound allows it.
STOPPED_WITHIN = STOP_GRACE_SECONDS + 30
MAPPING = str(Path(__file__).parents[2] / "config" / "mapping.yaml")


def environment(base_url: str, database: Path) -> dict[str, str]:
    """Settings for a connector process aimed at a served sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(
        TZ="UTC",
        CONNECTOR_WISENET_BASE_URL=base_url,
        CONNECTOR_WISENET_API_KEY="sandbox-key",
        CONNECTOR_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        CONNECTOR_MAPPING_FILE=MAPPING,
        CONNECTOR_LOG_FORMAT="json",
        CONNECTOR_WISENET_RATE_LIMIT="10",
        CONNECTOR_WISENET_DAILY_QUOTA="100000",
        CONNECTOR_POLL_INTERVAL="1h",
        CONNECTOR_HTTP_BIND=f"127.0.0.1:{free_port()}",
        CONNECTOR_ADMIN_BIND=f"127.0.0.1:{free_port()}",
        CONNECTOR_WEBHOOK_SECRET=DEFAULT_SECRET,
        CONNECTOR_WISENET_ACCOUNT_NUMBER="SANDBOX01",
    )
    return env


def events(log: Path) -> list[dict[str, object]]:
    """The JSON log lines written so far."""
    text = log.read_text() if log.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for(log: Path, event: str, seconds: float) -> dict[str, object]:
    """Poll a child's log until it reports `event` (the child works at its own pace).

    Only lines naming the event are parsed, twice a second: the sandbox serves from a thread of
    this process, and re-reading a long log often would starve it of the interpreter.
    """
    deadline = time.monotonic() + seconds
    mark = f'"event": "{event}"'
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        found: list[dict[str, object]] = [
            json.loads(line) for line in text.splitlines() if mark in line
        ]
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"no {event} in {seconds} s; log: {log.read_text()[-1500:]}")


def test_the_service_syncs_on_start_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The first sync runs at start and writes the tags; SIGTERM ends the process with 0."""
    log = tmp_path / "service.log"
    with served_for_processes() as server, log.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [CONNECTOR, "run"],
            env=environment(server.base_url, tmp_path / "c.db"),
            stdout=subprocess.DEVNULL,
            stderr=sink,
            cwd=tmp_path,
        )
        try:
            done = wait_for(log, "job.done", 300)  # a bound, not a target
            assert done["job"] == "sync"
            tagged = sum(1 for tags in expected_tags(server).values() if tags)
            assert tagged > 100  # the sandbox's enrolments that get an owned tag, that day
            assert done["writes"] == tagged
            patches = control(server, "GET", "/counters")["by_endpoint"]
            assert patches["PATCH /course-enrolments/{id}"] == tagged
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOPPED_WITHIN) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert any(e.get("event") == "service.stopped" for e in events(log))


def test_a_cli_sync_beside_a_running_job_says_so(tmp_path: Path) -> None:
    """While another process holds the sync lock, `connector sync` exits 1 with a clear line."""
    database = tmp_path / "c.db"
    with served() as server:
        env = environment(server.base_url, database)

        async def hold() -> None:
            store = await Store.open(
                f"sqlite+aiosqlite:///{database}",
                SystemClock(),
                base_url=server.base_url,
                account_number=None,
            )
            await store.locks.acquire("sync", "the-service", timedelta(minutes=10))
            await store.close()

        asyncio.run(hold())
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,  # a bound for a loaded machine, not a target
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 1
        assert "error: the sync job is running in another process" in result.stderr
        assert control(server, "GET", "/counters")["total"] == 0  # the lock comes first
