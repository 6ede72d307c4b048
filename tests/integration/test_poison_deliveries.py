"""One unstorable delivery among many valid ones: its own 400, its neighbours acknowledged and kept.

Deliveries arriving together share one commit, so a value the database refuses (a lone
surrogate for SQLite's UTF-8, a NUL for PostgreSQL, an id past 64 bits) must be refused before
it joins a batch, and a batch that fails anyway is retried in halves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connector.clock import SystemClock
from connector.sandbox.webhooks import WebhookConfig, sign
from connector.store import migrate
from connector.store.inbox_writer import (
    Delivery,
    InboxConnection,
    InboxWriter,
    UnstorableDeliveryError,
    open_inbox,
)
from connector.store.schema import webhook_inbox
from connector.store.store import Store
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.runs import sync
from tests.support.databases import database
from tests.support.receiving import SANDBOX_ACCOUNT, receiving
from tests.support.rig import Rig, expected_tags, owned_tags_in_wisenet

pytestmark = pytest.mark.integration
VALID = 300
GUID = "0b6e2f0a-5d2c-4c1b-9a57-3f1d2a7c9e41"

# Each poison: the body's JSON text (as a sender would write it) and the field the 400 names.
POISONS: dict[str, tuple[str, str]] = {
    "lone-surrogate": (f'"RecordId": 77, "RecordGuid": "\\ud800{GUID[1:]}"', "RecordGuid"),
    "nul": (f'"RecordId": 77, "RecordGuid": "{GUID}\\u0000"', "RecordGuid"),
    "5001-digit-id": ('"RecordId": 1' + "0" * 5000, "RecordId"),
    "negative-id": ('"RecordId": -77', "RecordId"),
    "overflowing-id": (f'"RecordId": {2**63}', "RecordId"),
}


def body(fields: str) -> bytes:
    """A delivery's body around `fields` (RecordId and maybe RecordGuid), as raw JSON text."""
    return (
        f'{{"AccountNumber": "{SANDBOX_ACCOUNT}", {fields}, '
        '"EntityName": "CourseEnrolment", "Event": "Updated"}'
    ).encode()


def valid_body(record_id: int, entity: str = "CourseEnrolment") -> bytes:
    """A well-formed delivery for one record."""
    document = {
        "AccountNumber": SANDBOX_ACCOUNT,
        "RecordId": record_id,
        "RecordGuid": GUID,
        "EntityName": entity,
        "Event": "Updated",
    }
    return json.dumps(document).encode()


async def deliver_together(url: str, bodies: dict[str, bytes]) -> dict[str, httpx.Response]:
    """Post every body at once, each signed with its own message id; the answers by id."""
    now = int(time.time())
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def post(message_id: str, content: bytes) -> httpx.Response:
            headers = sign(WebhookConfig(), content, message_id, now)
            headers["content-type"] = "application/json"
            return await client.post(url, content=content, headers=headers)

        answers = await asyncio.gather(*(post(m, b) for m, b in bodies.items()))
    return dict(zip(bodies, answers, strict=True))


def with_poison_in_the_middle(valid: dict[str, bytes], poison: bytes) -> dict[str, bytes]:
    """The valid bodies with the poison sent half-way through the burst."""
    items = list(valid.items())
    half = len(items) // 2
    return dict([*items[:half], ("msg_poison", poison), *items[half:]])


async def stored_ids(store: Store) -> list[int]:
    """The record ids of every inbox row."""
    async with store.db.engine.connect() as conn:
        rows = await conn.execute(select(webhook_inbox.c.record_id))
        return sorted(int(row.record_id) for row in rows)


@asynccontextmanager
async def fresh_store(kind: str, folder: Path) -> AsyncIterator[Store]:
    """An empty store of `kind` at the head revision."""
    async with database(kind, folder) as url:
        if kind == "postgresql":
            await migrate.upgrade_database(url)
        store = await Store.open(url, SystemClock(), base_url="http://s", account_number=None)
        try:
            yield store
        finally:
            await store.close()


def assert_only_the_poison_refused(answers: dict[str, httpx.Response], field: str) -> None:
    """The poison got 400 naming its field; every other delivery got 202 accepted."""
    refused = answers.pop("msg_poison")
    assert refused.status_code == 400, refused.text
    assert (refused.json()["error"], refused.json()["field"]) == ("malformed_payload", field)
    statuses = [(a.status_code, a.json()) for a in answers.values()]
    assert statuses == [(202, {"status": "accepted"})] * len(answers)


@pytest.mark.parametrize("poison", POISONS)
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_poison_delivery_gets_400_and_300_concurrent_valid_ones_are_kept(
    kind: str, poison: str, tmp_path: Path
) -> None:
    """Over HTTP, the poison is refused on its own; all 300 neighbours get 202 and are stored."""
    fields, field = POISONS[poison]
    valid = {f"msg_{index}": valid_body(index) for index in range(1, VALID + 1)}
    async with fresh_store(kind, tmp_path) as store, receiving(store) as served:
        answers = await deliver_together(served.url, with_poison_in_the_middle(valid, body(fields)))
        assert_only_the_poison_refused(answers, field)
        assert await stored_ids(store) == list(range(1, VALID + 1))
        assert len(served.accepted) == VALID


async def test_the_valid_neighbours_of_a_poison_delivery_are_processed(rig: Rig) -> None:
    """A lone surrogate (SQLite) or a NUL (PostgreSQL) among 300: 300 processed, right tags."""
    await sync(rig.ctx)
    poison = "nul" if rig.store.db.engine.dialect.name == "postgresql" else "lone-surrogate"
    fields, field = POISONS[poison]
    learners = sorted(rig.server.sandbox.db.learners.ids())
    enrolments = sorted(rig.server.sandbox.db.course_enrolments.ids())
    valid = {f"msg_l{n}": valid_body(n, "Learner") for n in learners[: VALID // 2]}
    valid |= {f"msg_c{n}": valid_body(n) for n in enrolments[: VALID - len(valid)]}
    async with receiving(rig.store) as served:
        answers = await deliver_together(served.url, with_poison_in_the_middle(valid, body(fields)))
    assert_only_the_poison_refused(answers, field)
    report = await drain_inbox(rig.ctx, "test-worker")
    assert sum(report.events.values()) == VALID
    assert (await rig.store.inbox.state()).depth == 0
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)


UNSTORABLE = [
    Delivery("Learner", 1, "\ud800", "Updated", "msg_bad_1"),
    Delivery("Learner", 1, "guid\x00", "Updated", "msg_bad_2"),
    Delivery("Learner", 2**63, None, "Updated", "msg_bad_3"),
    Delivery("Learner", -(2**63) - 1, None, "Updated", "msg_bad_4"),
    Delivery("L" * 41, 1, None, "Updated", "msg_bad_5"),
    Delivery("Learner", 1, None, "Updated", "\x00msg"),
]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_writer_refuses_an_unstorable_delivery_before_it_joins_a_commit(
    kind: str, tmp_path: Path
) -> None:
    """Past the payload checks, the writer still refuses unstorable rows alone; 300 are kept."""
    async with fresh_store(kind, tmp_path) as store:
        writer = InboxWriter(store)
        valid = [Delivery("Learner", n, GUID, "Updated", f"msg_{n}") for n in range(1, VALID + 1)]
        results = await asyncio.gather(
            *(writer.add(d) for d in [*valid[:150], *UNSTORABLE, *valid[150:]]),
            return_exceptions=True,
        )
        refused = results[150 : 150 + len(UNSTORABLE)]
        assert all(isinstance(r, UnstorableDeliveryError) for r in refused), refused
        assert [*results[:150], *results[150 + len(UNSTORABLE) :]] == [True] * VALID
        assert await stored_ids(store) == list(range(1, VALID + 1))


class FailingOn:
    """An inbox connection whose batches fail whenever they hold a given record id."""

    def __init__(self, inner: InboxConnection, record_id: int, calls: list[int]) -> None:
        self.inner, self.record_id, self.calls = inner, record_id, calls

    async def insert(self, rows: list[Delivery], now: datetime) -> set[str]:
        """Fail like a database refusing one row; otherwise insert."""
        self.calls.append(len(rows))
        if any(row.record_id == self.record_id for row in rows):
            raise RuntimeError("refused by the database")
        return await self.inner.insert(rows, now)

    async def close(self) -> None:
        """Close the real connection."""
        await self.inner.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_batch_that_fails_anyway_is_committed_one_delivery_at_a_time(
    kind: str, tmp_path: Path
) -> None:
    """An unforeseen failure of a batch fails only the delivery that causes it, in few commits."""
    calls: list[int] = []
    async with fresh_store(kind, tmp_path) as store:
        writer = InboxWriter(store, connect=lambda s: FailingOn(open_inbox(s), 150, calls))
        deliveries = [Delivery("Learner", n, None, "Updated", f"msg_{n}") for n in range(1, 301)]
        deliveries.append(Delivery("Learner", 7, None, "Updated", "msg_7"))  # a repeat
        results: list[Any] = await asyncio.gather(
            *(writer.add(d) for d in deliveries), return_exceptions=True
        )
        assert isinstance(results.pop(149), RuntimeError)
        assert results == [True] * 299 + [False]
        assert await stored_ids(store) == [n for n in range(1, 301) if n != 150]
        assert len(calls) <= 20  # about 2·log2(300) commits (halves), not one per delivery


async def test_a_delivery_the_store_fails_unforeseen_gets_a_json_500_and_only_it(
    tmp_path: Path,
) -> None:
    """Over HTTP, a delivery whose commit fails for an unforeseen reason is the only one refused."""
    valid = {f"msg_{index}": valid_body(index) for index in range(1, 61)}
    async with fresh_store("sqlite", tmp_path) as store, receiving(store) as served:
        failing = lambda s: FailingOn(open_inbox(s), 30, [])  # noqa: E731 - a one-line factory
        served.receiver._inbox = InboxWriter(store, connect=failing)
        answers = await deliver_together(served.url, valid)
        failed = answers.pop("msg_30")
        assert (failed.status_code, failed.json()["error"]) == (500, "store_failed")
        assert {(a.status_code, a.json()["status"]) for a in answers.values()} == {
            (202, "accepted")
        }
        assert await stored_ids(store) == [n for n in range(1, 61) if n != 30]
