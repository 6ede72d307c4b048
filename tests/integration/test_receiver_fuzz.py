"""The receiver fuzzed over HTTP, by schemathesis and by hypothesis: no 5xx, nothing invalid kept.

Schemathesis generates requests from the OpenAPI description; hypothesis sends signed
deliveries with bad signatures, stale timestamps and malformed bodies.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.clock import SystemClock
from connector.metrics import ConnectorMetrics
from connector.sandbox.app import ThreadedServer
from connector.sandbox.webhooks import DEFAULT_SECRET, WebhookConfig, sign
from connector.store.store import Store
from connector.webhooks.receiver import PATH, Receiver
from connector.webhooks.verify import VerifierConfig
from tests.support.receiving import SANDBOX_ACCOUNT

pytestmark = pytest.mark.integration
OPENAPI = Path(__file__).parents[2] / "docs" / "webhook-receiver.openapi.yaml"
schema = schemathesis.openapi.from_path(OPENAPI)
MAX_BYTES = 2048


def receiver_app(database: Path, verifier: VerifierConfig) -> Starlette:
    """The receiver on its own SQLite store, opened in the serving loop."""
    holder: dict[str, ASGIApp] = {}

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["app"](scope, receive, send)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        store = await Store.open(
            f"sqlite+aiosqlite:///{database}",
            SystemClock(),
            base_url="http://fuzz.test",
            account_number=None,
        )
        holder["app"] = Receiver(
            verifier, store, SystemClock(), SANDBOX_ACCOUNT, MAX_BYTES, ConnectorMetrics()
        ).app()
        try:
            yield
        finally:
            await store.close()

    return Starlette(routes=[Mount("", app=dispatch)], lifespan=lifespan)


def stored(database: Path) -> int:
    """Rows in the inbox."""
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_inbox").fetchone()[0])


@pytest.fixture(scope="module")
def signed_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A receiver in the production mode (standard-webhooks) and its database."""
    database = tmp_path_factory.mktemp("signed") / "store.db"
    server = ThreadedServer(
        receiver_app(database, VerifierConfig("standard-webhooks", DEFAULT_SECRET))
    )
    server.start()
    yield server.url, database
    server.stop()


@pytest.fixture(scope="module")
def open_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A receiver in development mode `none`, so generated payloads reach the parser."""
    database = tmp_path_factory.mktemp("open") / "store.db"
    server = ThreadedServer(receiver_app(database, VerifierConfig("none")))
    server.start()
    yield server.url, database
    server.stop()


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_unsigned_generated_requests_are_refused_and_stored_nowhere(
    case: Case[Any], signed_receiver: tuple[str, Path]
) -> None:
    """Schemathesis's requests carry no valid signature: never a 5xx, never a stored row."""
    url, database = signed_receiver
    response = case.call(base_url=url)
    assert response.status_code in (401, 405, 413, 415), response.text
    assert stored(database) == 0
    if response.status_code == 413:  # documented; the rejection check does not expect it
        assert response.json()["error"] == "payload_too_large"
        return
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])


@schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_payloads_in_development_mode_never_cause_a_server_error(
    case: Case[Any], open_receiver: tuple[str, Path]
) -> None:
    """With verification off, valid and invalid payloads get 202 or 400, as described."""
    url, _ = open_receiver
    response = case.call(base_url=url)
    assert response.status_code < 500, response.text
    if response.status_code == 413:  # documented; the rejection check does not expect it
        assert response.json()["error"] == "payload_too_large"
        return
    try:
        case.validate_response(response)
    except Exception as exc:
        raise AssertionError(f"{response.status_code}: {response.text}") from exc


PAYLOADS = st.fixed_dictionaries(
    {
        "AccountNumber": st.just(SANDBOX_ACCOUNT),
        "RecordId": st.integers(1, 10**9),
        "EntityName": st.sampled_from(["Learner", "CourseEnrolment", "Credential"]),
        "Event": st.sampled_from(["Created", "Updated", "Deleted", "Triggered"]),
    }
)
TAMPERING = st.sampled_from(
    ["bad-signature", "stale", "future", "body-changed", "malformed-body", "no-headers"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=PAYLOADS, tampering=TAMPERING, noise=st.binary(min_size=1, max_size=64))
def test_tampered_deliveries_are_refused_and_nothing_is_stored(
    signed_receiver: tuple[str, Path], payload: dict[str, Any], tampering: str, noise: bytes
) -> None:
    """Bad signatures, stale or future timestamps, changed and malformed bodies: 400/401 only."""
    url, database = signed_receiver
    body = json.dumps(payload).encode()
    when = int(time.time())
    # A minute past the 300 s tolerance: a request delayed by a busy host (and the second that
    # int() drops) must not bring a "future" timestamp back within it.
    if tampering == "stale":
        when -= 360 + noise[0]
    elif tampering == "future":
        when += 360 + noise[0]
    if tampering == "malformed-body":
        body = noise + b"{"
    headers = {"content-type": "application/json", **sign(WebhookConfig(), body, "msg_f", when)}
    if tampering == "bad-signature":
        headers["webhook-signature"] = "v1," + base64.b64encode(noise).decode()
    elif tampering == "body-changed":
        body += noise
    elif tampering == "no-headers":
        headers = {"content-type": "application/json"}
    response = httpx.post(url + PATH, content=body, headers=headers)
    expected = 400 if tampering == "malformed-body" else 401
    assert response.status_code == expected, response.text
    assert stored(database) == 0
