"""The admin endpoints: liveness, readiness with what is degraded, and Prometheus metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from connector.metrics import ConnectorMetrics
from connector.store.database import Database
from connector.store.inbox_writer import Delivery, enqueue_many
from connector.store.store import Store
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.runs import sync
from jobs.service.admin import Admin, ServiceState
from jobs.service.job_runner import JobRunner
from jobs.setup.composition import active_mapping
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING
from tests.support.rig import Rig
from tests.support.sandbox import control

pytestmark = pytest.mark.integration


def admin_for(rig: Rig, mapping_file: Path, **state: object) -> tuple[Admin, ServiceState]:
    """An admin app over the rig's store and client, with a running scheduler by default."""
    service = ServiceState(mapping_file=mapping_file, webhook_silence=timedelta(hours=2))
    service.scheduler_running = True
    for key, value in state.items():
        setattr(service, key, value)
    return Admin(rig.ctx, service, ConnectorMetrics()), service


async def get(admin: Admin, path: str) -> httpx.Response:
    """One request to the admin app."""
    transport = httpx.ASGITransport(app=admin.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        return await client.get(path)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_readiness_says_ready_then_names_each_degradation(rig: Rig, tmp_path: Path) -> None:
    """Ready after a sync; a differing mapping file, silence and a failure degrade it."""
    await sync(rig.ctx)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(DEFAULT_MAPPING.read_text())
    admin, state = admin_for(rig, mapping)
    assert (await get(admin, "/healthz")).json() == {"status": "alive"}
    ready = await get(admin, "/readyz")
    assert (ready.status_code, ready.json()["status"], ready.json()["degraded"]) == (
        200,
        "ready",
        [],
    )
    assert ready.json()["mapping"]["file_differs"] is False

    mapping.write_text(DEFAULT_MAPPING.read_text() + "\n# edited\n")
    state.last_unannounced = 3  # the latest poll found changes no delivery announced
    state.wisenet_error = "sync: GET /learnersAU: server error 503"
    body = (await get(admin, "/readyz")).json()
    assert body["status"] == "degraded"
    assert body["degraded"] == ["mapping_file_differs", "webhook_silence", "wisenet"]
    assert body["webhooks"]["silent"] is True

    state.scheduler_running = False
    stopped = await get(admin, "/readyz")
    assert (stopped.status_code, stopped.json()["problems"]) == (503, ["scheduler"])


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_an_unreachable_store_makes_the_service_unready(rig: Rig, tmp_path: Path) -> None:
    """With the store gone, /readyz answers 503 and /metrics still answers."""
    gone = Store(
        Database(
            create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'store.db'}"),
            rig.store.clock,
        )
    )
    service = ServiceState(mapping_file=DEFAULT_MAPPING, webhook_silence=timedelta(hours=2))
    admin = Admin(replace(rig.ctx, store=gone), service, ConnectorMetrics())
    try:
        unready = await get(admin, "/readyz")
        assert (unready.status_code, unready.json()) == (
            503,
            {"status": "unready", "store": {"reachable": False}},
        )
        assert (await get(admin, "/metrics")).status_code == 200
    finally:
        await gone.close()


async def test_metrics_count_deliveries_requests_stages_and_the_inbox(rig: Rig) -> None:
    """The store's gauges are read at the scrape; the client's requests are counted."""
    metrics = ConnectorMetrics()
    rig.ctx.client._observer = metrics.observe_request
    await sync(rig.ctx)
    await enqueue_many(
        rig.store,
        [Delivery("CourseEnrolment", 1, None, "Updated", f"msg_{n}") for n in range(3)],
    )
    admin = Admin(
        rig.ctx,
        ServiceState(mapping_file=DEFAULT_MAPPING, webhook_silence=timedelta(hours=2)),
        metrics,
    )
    text = (await get(admin, "/metrics")).text
    assert "connector_inbox_depth 3.0" in text
    assert (
        'connector_wisenet_requests_total{endpoint="/learnersAU",method="GET",status="200"}' in text
    )
    assert 'connector_learners{stage="Progression"}' in text
    assert "connector_mapping_file_differs 0.0" in text
    assert "connector_wisenet_budget_remaining" in text
    await drain_inbox(rig.ctx, "test")
    assert "connector_inbox_depth 0.0" in (await get(admin, "/metrics")).text


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_blocked_writes_are_a_gauge_of_their_own_not_part_of_the_outbox_depth(
    rig: Rig,
) -> None:
    """A same-named staff tag blocks its writes: the metrics count them by tag, apart."""
    control(rig.server, "POST", "/tags", json={"name": "certified"})
    report = await sync(rig.ctx)
    assert report.writes_blocked > 0
    admin = Admin(
        rig.ctx,
        ServiceState(mapping_file=DEFAULT_MAPPING, webhook_silence=timedelta(hours=2)),
        ConnectorMetrics(),
    )
    text = (await get(admin, "/metrics")).text
    waiting = await rig.store.outbox.size()
    assert f'connector_writes_blocked{{tag="certified"}} {float(report.writes_blocked)}' in text
    assert f"connector_outbox_depth {float(waiting - report.writes_blocked)}" in text


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_wisenet_outage_shows_in_readiness_and_metrics_and_passes(rig: Rig) -> None:
    """Every request failing: the sync job fails, /readyz says so; then it recovers by itself."""
    metrics = ConnectorMetrics()
    rig.ctx.client._observer = metrics.observe_request
    state = ServiceState(mapping_file=DEFAULT_MAPPING, webhook_silence=timedelta(hours=2))
    state.scheduler_running = True
    runner = JobRunner(rig.ctx, "test", metrics, state)
    admin = Admin(rig.ctx, state, metrics)
    control(rig.server, "POST", "/faults", json={"error_rate": 1.0, "error_statuses": [503]})
    assert await runner.guarded("sync", runner.sync_watching_webhooks) is None
    body = (await get(admin, "/readyz")).json()
    assert body["status"] == "degraded"
    assert "wisenet" in body["degraded"]
    assert "503" in body["wisenet"]["last_error"]
    scraped = (await get(admin, "/metrics")).text
    assert 'status="503"' in scraped
    assert "connector_wisenet_up 0.0" in scraped
    control(rig.server, "DELETE", "/faults")  # Wisenet is back; the next scheduled run succeeds
    assert await runner.guarded("sync", runner.sync_watching_webhooks) is not None
    assert (await get(admin, "/readyz")).json()["status"] == "ready"
    assert "connector_wisenet_up 1.0" in (await get(admin, "/metrics")).text


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_a_standby_replica_is_ready_and_a_starting_one_is_not(rig: Rig) -> None:
    """Standing by for the leader is a working state; not having tried the lock yet is not."""
    admin, state = admin_for(rig, DEFAULT_MAPPING, scheduler_running=False, role="standby")
    body = (await get(admin, "/readyz")).json()
    assert (body["status"], body["scheduler"]["role"]) == ("ready", "standby")
    state.role = "starting"
    starting = await get(admin, "/readyz")
    assert (starting.status_code, starting.json()["problems"]) == (503, ["scheduler"])


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_bad_mapping_file_on_disk_is_reported_and_the_active_mapping_stays(
    rig: Rig, tmp_path: Path
) -> None:
    """Latin-1, then unreadable: /readyz and /metrics answer, name the file, keep the mapping."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_bytes(DEFAULT_MAPPING.read_text().replace("Sales", "Ventes é").encode("latin-1"))
    admin, _ = admin_for(rig, mapping)
    version = rig.ctx.mapping_version

    ready = await get(admin, "/readyz")
    body = ready.json()
    assert (ready.status_code, body["status"], body["degraded"]) == (
        200,
        "degraded",
        ["mapping_file_bad"],
    )
    assert body["store"] == {"reachable": True}
    assert body["mapping"]["active_version"] == version
    assert body["mapping"]["file"]["state"] == "bad"
    assert body["mapping"]["file"]["problem"].startswith(f"{mapping}:")
    assert "not UTF-8: byte 0xe9" in body["mapping"]["file"]["problem"]
    scraped = await get(admin, "/metrics")
    assert scraped.status_code == 200
    assert "connector_mapping_file_bad 1.0" in scraped.text
    assert "connector_mapping_file_differs 0.0" in scraped.text
    # A restart keeps the active mapping too.
    assert (await active_mapping(rig.store, mapping, CALENDAR))[0] == version

    mapping.unlink()
    mapping.mkdir()  # unreadable as a file, whoever the tests run as
    ready = await get(admin, "/readyz")
    body = ready.json()
    assert (ready.status_code, body["degraded"], body["store"]) == (
        200,
        ["mapping_file_bad"],
        {"reachable": True},
    )
    assert body["mapping"]["file"] == {
        "path": str(mapping),
        "state": "unreadable",
        "problem": f"{mapping}: cannot read (Is a directory)",
    }
    assert "connector_mapping_file_bad 1.0" in (await get(admin, "/metrics")).text

    mapping.rmdir()
    mapping.write_text(DEFAULT_MAPPING.read_text())
    body = (await get(admin, "/readyz")).json()
    assert (body["status"], body["mapping"]["file"]["state"]) == ("ready", "active")
