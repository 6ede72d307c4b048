"""Webhooks end to end: the sandbox's signed deliveries, the receiver, the inbox and the writer."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from connector.clock import SystemClock
from connector.errors import TransientError
from connector.metrics import ConnectorMetrics
from connector.sandbox.app import SandboxServer
from connector.sandbox.webhooks import DEFAULT_SECRET, WebhookConfig, sign
from connector.store import migrate
from connector.store.inbox_writer import Delivery, InboxWriter, enqueue_many
from connector.store.schema import records, webhook_inbox
from connector.store.store import Store
from connector.webhooks.receiver import PATH, Receiver
from connector.webhooks.verify import VerifierConfig
from connector.wisenet.budget import InMemoryDailyBudget
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.runs import sync
from jobs.service.admin import ServiceState
from jobs.service.job_runner import JobRunner
from tests.support.clock import FakeClock
from tests.support.databases import database
from tests.support.proxy import TcpProxy
from tests.support.receiving import SANDBOX_ACCOUNT, receiving
from tests.support.rig import SYDNEY, Rig, expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control
from tests.support.staff import staff_edits

pytestmark = pytest.mark.integration
OWNER = "test-worker"


async def sandbox(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """The control API, called off the loop (the receiver serves on this loop meanwhile)."""
    return await asyncio.to_thread(control, server, method, path, **kwargs)


def reads(counts: dict[str, int]) -> int:
    """GET requests among the sandbox's counters."""
    return sum(n for endpoint, n in counts.items() if endpoint.startswith("GET "))


async def inbox_rows(store: Store) -> int:
    """Rows in the inbox, processed or not."""
    async with store.db.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(webhook_inbox))).scalar_one()
        )


async def test_staff_edits_announced_by_webhooks_reach_the_tags_with_few_reads(rig: Rig) -> None:
    """Signed, duplicated, reordered deliveries for 60 edits end in the reference tags."""
    await sync(rig.ctx)
    async with receiving(rig.store) as served:
        await sandbox(
            rig.server,
            "POST",
            "/webhooks",
            json={"url": served.url, "duplicate_rate": 0.3, "reorder": True, "delay_ms": [0, 30]},
        )
        await sandbox(rig.server, "POST", "/counters/reset")
        await asyncio.to_thread(staff_edits, rig.server, random.Random(7), 60)
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
        delivered = await sandbox(rig.server, "GET", "/webhooks/deliveries?limit=10000")
        assert all(d["status"] == 202 for d in delivered)
        assert len(delivered) > 60  # duplicates, and a unit outcome also touches nothing else
        assert len(served.accepted) == len(delivered)
        report = await drain_inbox(rig.ctx, OWNER)
        counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]

        assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
        assert sum(report.events.values()) == len(delivered)
        distinct = {(d["payload"]["EntityName"], d["payload"]["RecordId"]) for d in delivered}
        assert report.events["coalesced"] == len(delivered) - len(distinct) > 0
        assert reads(counts) * 3 < len(delivered), counts
        print(f"{len(delivered)} deliveries, {reads(counts)} reads: {counts}")  # noqa: T201

        # The writes come back as Updated events: no write, and no read of their own.
        echoes = report.writes_done
        assert echoes > 0
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
        await sandbox(rig.server, "POST", "/counters/reset")
        again = await drain_inbox(rig.ctx, OWNER)
        counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    assert sum(again.events.values()) >= echoes
    assert (again.writes_done, again.reads_by_id) == (0, 0)
    assert (await rig.store.inbox.state()).depth == 0
    assert counts == {}  # every delivery was an echo of a PATCH, whose answer is the snapshot
    assert again.events["echo"] >= echoes


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_deliveries_wait_for_the_first_full_read(rig: Rig) -> None:
    """Before the first sync the rows stay in the inbox and nothing is asked of Wisenet."""
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url})
        await asyncio.to_thread(staff_edits, rig.server, random.Random(3), 5)
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
    await sandbox(rig.server, "POST", "/counters/reset")
    report = await drain_inbox(rig.ctx, OWNER)
    assert report.paused == "inbox: deliveries wait for the first full read"
    assert (await sandbox(rig.server, "GET", "/counters"))["total"] == 0
    assert (await rig.store.inbox.state()).depth == len(served.accepted) >= 5


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_a_delete_and_a_404_both_remove_the_record(rig: Rig) -> None:
    """A Deleted event removes the record unread; an Updated event that 404s removes it too."""
    await sync(rig.ctx)
    db = rig.server.sandbox.db
    first, second = sorted(db.course_enrolments.ids())[:2]
    async with receiving(rig.store) as served:
        await sandbox(rig.server, "POST", "/webhooks", json={"url": served.url})
        await sandbox(rig.server, "DELETE", f"/records/CourseEnrolment/{first}")
        await sandbox(rig.server, "POST", "/webhooks/flush")
    # The second goes without an event of its own, then an Updated event arrives for it.
    rig.server.sandbox.webhooks.config.url = None
    await sandbox(rig.server, "DELETE", f"/records/CourseEnrolment/{second}")
    await post_signed(
        rig, {"RecordId": second, "EntityName": "CourseEnrolment", "Event": "Updated"}
    )
    report = await drain_inbox(rig.ctx, OWNER)
    async with rig.store.db.engine.connect() as conn:
        left = await conn.execute(
            select(records.c.id).where(
                records.c.entity == "CourseEnrolment", records.c.id.in_([first, second])
            )
        )
        assert left.all() == []
    assert report.events["deleted"] == 2
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


def receiver_for(store: Store, metrics: ConnectorMetrics, **changes: Any) -> Receiver:
    """A receiver on the sandbox's default secret and account."""
    settings: dict[str, Any] = {
        "verifier": VerifierConfig("standard-webhooks", DEFAULT_SECRET),
        "store": store,
        "clock": SystemClock(),
        "account_number": SANDBOX_ACCOUNT,
        "max_bytes": 2048,
        "metrics": metrics,
    }
    settings.update(changes)
    return Receiver(**settings)


def signed(
    payload: dict[str, Any] | bytes, *, message_id: str = "msg_1", offset: int = 0
) -> tuple[bytes, dict[str, str]]:
    """A body and headers signed as the sandbox signs (the sender's side)."""
    document = (
        payload
        if isinstance(payload, bytes)
        else json.dumps({"AccountNumber": SANDBOX_ACCOUNT, **payload}).encode()
    )
    headers = sign(WebhookConfig(), document, message_id, int(time.time()) + offset)
    return document, {"content-type": "application/json", **headers}


async def post_signed(rig: Rig, payload: dict[str, Any], message_id: str = "msg_x") -> None:
    """Deliver one signed payload straight to a receiver on the rig's store."""
    app = receiver_for(rig.store, ConnectorMetrics()).app()
    body, headers = signed(payload, message_id=message_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        assert (await c.post(PATH, content=body, headers=headers)).status_code == 202


async def test_the_receiver_answers_each_fault_with_its_code_and_stores_only_valid_events(
    rig: Rig,
) -> None:
    """401, 400, 413, 415 and 202 as the issue lists them; only valid deliveries are stored."""
    metrics = ConnectorMetrics()
    app = receiver_for(rig.store, metrics).app()
    good = {"RecordId": 5, "EntityName": "CourseEnrolment", "Event": "Updated"}
    body, headers = signed(good)
    bad_sig = {**headers, "webhook-signature": "v1,AAAA"}
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (body, {k: v for k, v in headers.items() if k != "webhook-id"}, 401, "missing_signature"),
        (body, bad_sig, 401, "bad_signature"),
        (*signed(good, offset=-400), 401, "timestamp_out_of_tolerance"),
        (*signed(good, offset=400), 401, "timestamp_out_of_tolerance"),
        (body + b" ", headers, 401, "bad_signature"),
        (body, {**headers, "content-type": "text/plain"}, 415, "unsupported_media_type"),
        (
            body,
            {k: v for k, v in headers.items() if k != "content-type"},
            415,
            "unsupported_media_type",
        ),
        (*signed(b"x" * 3000), 413, "payload_too_large"),
        (*signed(b"\xff\xfe"), 400, "malformed_payload"),
        (*signed({**good, "RecordId": "abc"}), 400, "malformed_payload"),
        (*signed({**good, "Event": None}), 400, "malformed_payload"),
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        for payload, sent, status, code in cases:
            response = await c.post(PATH, content=payload, headers=sent)
            assert (response.status_code, response.json()["error"]) == (status, code), code
        assert (await c.post(PATH, content=body, headers=headers)).json() == {"status": "accepted"}
        again = await c.post(PATH, content=body, headers=headers)
        assert (again.status_code, again.json()) == (202, {"status": "duplicate"})
        other = await c.post(
            PATH,
            content=signed({**good, "AccountNumber": "OTHER"}, message_id="m2")[0],
            headers=signed({**good, "AccountNumber": "OTHER"}, message_id="m2")[1],
        )
        assert other.json() == {"status": "ignored", "reason": "other_account"}
        offer = signed({**good, "EntityName": "CourseOffer"}, message_id="m3")
        assert (await c.post(PATH, content=offer[0], headers=offer[1])).json()["reason"] == (
            "unknown_entity"
        )
        triggered = signed({**good, "RecordId": 6, "Event": "Triggered"}, message_id="m4")
        assert (await c.post(PATH, content=triggered[0], headers=triggered[1])).status_code == 202
        field = await c.post(
            PATH,
            content=signed({**good, "RecordId": -1})[0],
            headers=signed({**good, "RecordId": -1})[1],
        )
        assert field.json()["field"] == "RecordId"
    async with rig.store.db.engine.connect() as conn:
        rows = (await conn.execute(select(webhook_inbox.c.record_id, webhook_inbox.c.event))).all()
    assert sorted(tuple(row) for row in rows) == [(5, "Updated"), (6, "Updated")]
    rendered = metrics.render().decode()
    assert 'connector_webhooks_rejected_total{reason="bad_signature"} 2.0' in rendered
    assert 'connector_webhooks_received_total{outcome="other_account"} 1.0' in rendered
    assert 'connector_webhooks_received_total{outcome="unknown_entity"} 1.0' in rendered
    assert 'connector_webhooks_received_total{outcome="duplicate"} 1.0' in rendered


async def test_with_the_database_away_a_delivery_gets_503_and_is_kept_when_it_returns(
    tmp_path: Path,
) -> None:
    """Nothing is acknowledged unstored: 503 while PostgreSQL is unreachable, 202 once back."""
    async with database("postgresql", tmp_path) as url:
        await migrate.upgrade_database(url)
        proxy = TcpProxy("127.0.0.1", 5432)
        await proxy.up()
        through = url.replace("@127.0.0.1/", f"@127.0.0.1:{proxy.port}/")
        store = await Store.open(through, FakeClock(), base_url="http://s", account_number=None)
        metrics = ConnectorMetrics()
        app = receiver_for(store, metrics).app()
        body, headers = signed({"RecordId": 9, "EntityName": "Learner", "Event": "Updated"})
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
                assert (await client.post(PATH, content=body, headers=headers)).status_code == 202
                await proxy.down()
                refused = await client.post(PATH, content=body, headers=headers)
                assert refused.status_code == 503
                assert refused.json()["error"] == "store_unavailable"
                assert refused.headers["retry-after"] == "30"
                other, other_headers = signed(
                    {"RecordId": 10, "EntityName": "Learner", "Event": "Updated"},
                    message_id="msg_2",
                )
                assert (
                    await client.post(PATH, content=other, headers=other_headers)
                ).status_code == 503
                await proxy.up()
                # Wisenet delivers again what was refused.
                again = await client.post(PATH, content=other, headers=other_headers)
                assert (again.status_code, again.json()) == (202, {"status": "accepted"})
            assert await inbox_rows(store) == 2
            assert 'reason="store_unavailable"} 2.0' in metrics.render().decode()
        finally:
            await store.close()
            await proxy.down()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_group_commit_settles_every_delivery_of_bursts_and_pauses(
    kind: str, tmp_path: Path
) -> None:
    """Deliveries arriving at random moments, repeats included, are each answered once."""
    async with database(kind, tmp_path) as url:
        if kind == "postgresql":
            await migrate.upgrade_database(url)
        store = await Store.open(url, SystemClock(), base_url="http://s", account_number=None)
        writer = InboxWriter(store, max_batch=7)
        rng = random.Random(5)
        delays = [rng.random() * 0.05 for _ in range(300)]

        async def deliver(index: int) -> bool:
            await asyncio.sleep(delays[index])
            return await writer.add(
                Delivery("Learner", index + 1, None, "Updated", f"msg_{index % 250}")
            )

        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(deliver(i) for i in range(300))), timeout=60
            )
            assert sum(results) == 250  # the second of each repeated id is not new
            assert await inbox_rows(store) == 250
        finally:
            await store.close()


async def test_a_delivery_arriving_while_the_writer_goes_idle_is_still_committed(
    tmp_path: Path,
) -> None:
    """The writer's last moments (returning its connection) do not strand a newcomer."""
    store = await Store.open(
        f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
        SystemClock(),
        base_url="http://s",
        account_number=None,
    )
    writer = InboxWriter(store)
    returning = asyncio.Event()
    give_back = writer._drop_connection

    async def slow_give_back() -> None:
        returning.set()
        await asyncio.sleep(0.05)
        await give_back()

    writer._drop_connection = slow_give_back  # type: ignore[method-assign]
    try:
        first = asyncio.get_running_loop().create_task(
            writer.add(Delivery("Learner", 1, None, "Updated", "msg_1"))
        )
        await returning.wait()
        late = Delivery("Learner", 2, None, "Updated", "msg_2")
        assert await asyncio.wait_for(writer.add(late), timeout=5)
        assert await first
        assert await inbox_rows(store) == 2
    finally:
        await store.close()


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_deliveries_wait_while_the_budget_is_kept_for_writes(rig: Rig) -> None:
    """Below half the write reserve, the rows stay and nothing is read; after, they are taken."""
    await sync(rig.ctx)
    await enqueue_many(rig.store, [Delivery("Learner", 10001, None, "Updated", "msg_b")])
    budget = InMemoryDailyBudget(100, SYDNEY, datetime.min.time(), rig.store.clock)
    for _ in range(96):
        assert await budget.try_spend()
    rig.ctx.client._budget = budget
    await sandbox(rig.server, "POST", "/counters/reset")
    report = await drain_inbox(rig.ctx, OWNER)
    assert (
        report.paused == "inbox: the day's budget is kept for writes; deliveries wait for the reset"
    )
    assert (await sandbox(rig.server, "GET", "/counters"))["total"] == 0
    assert (await rig.store.inbox.state()).depth == 1
    rig.ctx.client._budget = InMemoryDailyBudget(100, SYDNEY, datetime.min.time(), rig.store.clock)
    assert sum((await drain_inbox(rig.ctx, OWNER)).events.values()) == 1
    assert (await rig.store.inbox.state()).depth == 0


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # nothing store-specific here
async def test_the_scheduled_poll_counts_changes_no_delivery_announced(rig: Rig) -> None:
    """Webhook silence shows as changes found by polling that no delivery named."""
    metrics = ConnectorMetrics()
    state = ServiceState(mapping_file=Path("absent.yaml"), webhook_silence=timedelta(hours=2))
    runner = JobRunner(rig.ctx, OWNER, metrics, state)
    await runner.sync_watching_webhooks(rig.ctx)  # the first read counts nothing
    assert state.last_unannounced == 0
    learners = sorted(rig.server.sandbox.db.learners.ids())[:3]
    for learner in learners:
        await sandbox(
            rig.server, "POST", f"/records/Learner/{learner}", json={"Personal/UsiStatus": None}
        )
    await enqueue_many(rig.store, [Delivery("Learner", learners[0], None, "Updated", "msg_u")])
    await runner.sync_watching_webhooks(rig.ctx)
    assert state.last_unannounced == 2
    text = metrics.render().decode()
    assert 'connector_poll_changes_unannounced_total{entity="Learner"} 2.0' in text


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the stream on PostgreSQL: above
async def test_a_webhook_stream_under_wisenet_faults_still_ends_in_the_reference_tags(
    rig: Rig,
) -> None:
    """20 % 5xx and 5 % dropped connections on the reads and writes: retried until converged."""
    await sync(rig.ctx)
    async with receiving(rig.store) as served:
        await sandbox(
            rig.server, "POST", "/webhooks", json={"url": served.url, "duplicate_rate": 0.2}
        )
        await asyncio.to_thread(staff_edits, rig.server, random.Random(21), 40)
        assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"]
        await sandbox(
            rig.server,
            "POST",
            "/faults",
            json={"seed": 4, "error_rate": 0.2, "drop_rate": 0.05},
        )
        for _ in range(10):  # as the service's inbox loop does: again after a failed drain
            try:
                await drain_inbox(rig.ctx, OWNER)
            except TransientError:
                continue
            # The echoes of this drain's writes are delivered before the inbox is looked at.
            assert (await sandbox(rig.server, "POST", "/webhooks/flush"))["flushed"] is not None
            if (await rig.store.inbox.state()).depth == 0:
                break
        faults = (await sandbox(rig.server, "GET", "/counters"))["faults_injected"]
        await sandbox(rig.server, "DELETE", "/faults")
    assert faults > 0
    assert (await rig.store.inbox.state()).depth == 0
    assert await rig.store.outbox.size() == 0
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


async def test_a_credential_read_before_its_new_enrolment_joins_the_learner_with_it(
    rig: Rig,
) -> None:
    """Deliveries reordered across drains: a credential comes before its enrolment is known.

    The credential is stored first with no learner to belong to; when its enrolment arrives it
    joins that learner's bundle, so the enrolment is certified, not reported overdue.
    """
    await sync(rig.ctx)
    db = rig.server.sandbox.db
    learner = min(i for i in db.learners.ids() if db.learners.rows[i]["Personal"]["IsActive"])
    made = await sandbox(rig.server, "POST", "/course-enrolments", json={"learner_id": learner})
    ce = int(made["Data"]["CourseEnrolmentId"])
    today = rig.server.sandbox.clock.today()
    await sandbox(
        rig.server,
        "POST",
        f"/course-enrolments/{ce}/status",
        json={"status": "Completed", "actual_end_date": (today - timedelta(days=40)).isoformat()},
    )
    issued = await sandbox(rig.server, "POST", f"/course-enrolments/{ce}/credentials", json={})
    credential = int(issued["Data"]["CredentialId"])
    await sandbox(rig.server, "POST", "/counters/reset")

    await post_signed(rig, {"RecordId": credential, "EntityName": "Credential", "Event": "Created"})
    await drain_inbox(rig.ctx, OWNER)
    await post_signed(
        rig, {"RecordId": ce, "EntityName": "CourseEnrolment", "Event": "Created"}, "msg_y"
    )
    await drain_inbox(rig.ctx, OWNER)

    wanted = expected_tags(rig.server)
    assert "certified" in wanted[ce]
    assert owned_tags_in_wisenet(rig.server)[ce] == wanted[ce]
    counts = (await sandbox(rig.server, "GET", "/counters"))["by_endpoint"]
    assert reads(counts) <= 2, counts  # one read per delivery, at most
    assert counts["PATCH /course-enrolments/{id}"] == 1, counts
