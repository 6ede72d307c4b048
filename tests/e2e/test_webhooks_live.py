"""`connector run` as a process, fed signed webhooks for 200 staff edits by the sandbox."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from jobs.service.leader import STOP_GRACE_SECONDS
from tests.e2e.test_service import environment, events, wait_for
from tests.support.processes import CONNECTOR
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served_for_processes
from tests.support.staff import staff_edits

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# SIGTERM lets a job in progress finish within the service's grace: the bound allows it.
STOPPED_WITHIN = STOP_GRACE_SECONDS + 30
SYDNEY = ZoneInfo("Australia/Sydney")  # the connector's default account timezone


def metric(text: str, name: str) -> float:
    """The value of one unlabelled (or first labelled) sample in a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} in the metrics")


def differences(wanted: dict[int, set[str]], held: dict[int, set[str]]) -> dict[int, str]:
    """Each enrolment whose owned tags differ from the reference: wanted, then held (ids only)."""
    return {
        ce: f"wanted {sorted(wanted.get(ce, set()))}, held {sorted(held.get(ce, set()))}"
        for ce in sorted(wanted.keys() | held.keys())
        if wanted.get(ce, set()) != held.get(ce, set())
    }


def warnings(log: Path) -> list[dict[str, object]]:
    """The service's warnings and errors so far (their fields are ids and reasons only)."""
    return [e for e in events(log) if e.get("level") in ("warning", "error")]


def test_webhooks_for_200_staff_edits_reach_wisenet_within_seconds(tmp_path: Path) -> None:
    """Duplicated, reordered deliveries end in the reference tags, with few reads per event."""
    log = tmp_path / "service.log"
    with served_for_processes() as server, log.open("w") as sink:
        env = environment(server.base_url, tmp_path / "c.db")
        receiver = f"http://{env['CONNECTOR_HTTP_BIND']}/webhooks/wisenet"
        admin = f"http://{env['CONNECTOR_ADMIN_BIND']}"
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [CONNECTOR, "run"], env=env, stdout=subprocess.DEVNULL, stderr=sink, cwd=tmp_path
        )
        try:
            assert wait_for(log, "job.done", 300)["job"] == "sync"  # a bound, not a target
            assert httpx.get(f"{admin}/healthz").json() == {"status": "alive"}
            probe = subprocess.run(  # noqa: S603 - fixed arguments
                [CONNECTOR, "healthcheck"], env=env, capture_output=True, check=False, cwd=tmp_path
            )
            assert probe.returncode == 0, probe.stderr
            control(
                server,
                "POST",
                "/webhooks",
                json={
                    "url": receiver,
                    "duplicate_rate": 0.2,
                    "reorder": True,
                    "delay_ms": [0, 200],
                },
            )
            control(server, "POST", "/counters/reset")
            staff_edits(server, random.Random(11), 200)
            edited = time.monotonic()
            assert control(server, "POST", "/webhooks/flush")["flushed"]
            deliveries = control(server, "GET", "/webhooks/deliveries?limit=10000")
            assert all(d["status"] == 202 for d in deliveries)
            wanted = expected_tags(server)  # the edits are made; computed once, off the loop
            converged = None
            while time.monotonic() - edited < 300:  # a bound; the time taken is reported
                depth = metric(httpx.get(f"{admin}/metrics").text, "connector_inbox_depth")
                if depth == 0 and owned_tags_in_wisenet(server) == wanted:
                    converged = time.monotonic() - edited
                    break
                time.sleep(0.5)
            assert converged is not None, (
                f"inbox depth {depth}; enrolments whose tags differ: "
                f"{differences(wanted, owned_tags_in_wisenet(server))}; "
                f"warnings: {warnings(log)}"
            )
            counts = control(server, "GET", "/counters")["by_endpoint"]
            reads = sum(n for endpoint, n in counts.items() if endpoint.startswith("GET "))
            print(  # noqa: T201 - the figures for the closing note
                f"\n{len(deliveries)} deliveries, {reads} reads "
                f"({reads / len(deliveries):.2f} per delivery), converged in {converged:.1f} s: "
                f"{counts}"
            )
            assert reads * 3 < len(deliveries)
            # The writes come back as deliveries too; every one was committed.
            assert control(server, "POST", "/webhooks/flush")["flushed"]
            every = control(server, "GET", "/webhooks/deliveries?limit=10000")
            assert len(every) > len(deliveries)
            metrics = httpx.get(f"{admin}/metrics").text
            accepted = 'connector_webhooks_received_total{outcome="accepted"}'
            assert metric(metrics, accepted) == len(every)
            assert metric(metrics, "connector_wisenet_budget_remaining") > 0
            ready = httpx.get(f"{admin}/readyz")
            assert ready.status_code == 200
            assert ready.json()["webhooks"]["inbox_depth"] == 0
            assert ready.json()["webhooks"]["last_delivery"] is not None
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOPPED_WITHIN) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
