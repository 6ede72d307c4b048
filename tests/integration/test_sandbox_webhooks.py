"""The sandbox's webhook emission, received over real HTTP and verified independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.sandbox.app import SandboxServer, ThreadedServer
from connector.sandbox.webhooks import DEFAULT_SECRET
from tests.support.sandbox import CONTROL_TIMEOUT, control, served

pytestmark = pytest.mark.integration


@dataclass
class Recorder:
    """A webhook receiver that records every delivery and answers planned statuses."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def app(self) -> Starlette:
        """The receiver as an ASGI app."""

        async def receive(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 202)

        return Starlette(routes=[Route("/hook", receive, methods=["POST"])])

    def payloads(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in arrival order."""
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, ThreadedServer]]:
    """A running receiver."""
    recorder = Recorder()
    server = ThreadedServer(recorder.app())
    server.start()
    yield recorder, server
    server.stop()


def hook_to(server: SandboxServer, receiver: ThreadedServer, **settings: Any) -> None:
    """Point the sandbox's webhooks at the receiver."""
    control(server, "POST", "/webhooks", json={"url": f"{receiver.url}/hook", **settings})


def flush(server: SandboxServer) -> None:
    """Wait for every queued delivery."""
    assert control(server, "POST", "/webhooks/flush")["flushed"]


def first_case(server: SandboxServer, name: str) -> Any:
    """A planted case by name."""
    return next(c for c in control(server, "GET", "/cases") if c["name"] == name)


def test_each_change_sends_a_signed_id_only_payload(
    recorder: tuple[Recorder, ThreadedServer],
) -> None:
    """Update, create and delete each send the thin payload, signed as Standard Webhooks."""
    received, receiver = recorder
    with served() as server:
        hook_to(server, receiver)
        planted = first_case(server, "stage-enquiry")
        ce = planted["course_enrolment_ids"][0]
        control(server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Pending"})
        control(
            server, "POST", f"/course-enrolments/{ce}/credentials", json={"status": "Requested"}
        )
        control(server, "DELETE", f"/records/CourseEnrolment/{ce}")
        flush(server)
    events = [(p["EntityName"], p["Event"]) for p in received.payloads()]
    assert events[0] == ("CourseEnrolment", "Updated")
    assert events[1] == ("Credential", "Created")
    assert events[-1] == ("CourseEnrolment", "Deleted")
    for headers, body in received.received:
        payload = Webhook(DEFAULT_SECRET).verify(body, headers)
        assert set(payload) == {"AccountNumber", "RecordId", "RecordGuid", "EntityName", "Event"}
        assert payload["AccountNumber"] == "SANDBOX01"


def test_the_clients_own_writes_come_back_as_updated_events(
    recorder: tuple[Recorder, ThreadedServer],
) -> None:
    """A PATCH through the API is announced like any other change."""
    received, receiver = recorder
    with served() as server:
        hook_to(server, receiver)
        ce = first_case(server, "stage-current")["course_enrolment_ids"][0]
        httpx.patch(
            f"{server.base_url}/course-enrolments/{ce}",
            headers={"x-api-key": "sandbox-key"},
            json=[{"op": "replace", "path": "TagIds", "value": []}],
        ).raise_for_status()
        flush(server)
    assert received.payloads() == [
        {
            "AccountNumber": "SANDBOX01",
            "RecordId": ce,
            "RecordGuid": received.payloads()[0]["RecordGuid"],
            "EntityName": "CourseEnrolment",
            "Event": "Updated",
        }
    ]


def test_hmac_and_shared_token_modes(recorder: tuple[Recorder, ThreadedServer]) -> None:
    """HMAC mode signs the raw body (hex or base64, prefixed); token mode sends the secret."""
    received, receiver = recorder
    with served() as server:
        learner = first_case(server, "stage-current")["learner_id"]
        hook_to(server, receiver, mode="hmac-sha256", secret="s3", header="X-Sig", prefix="sha256=")
        control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        flush(server)
        hook_to(server, receiver, encoding="base64", prefix="")
        control(server, "POST", f"/learners/{learner}/active", json={"active": True})
        flush(server)
        hook_to(server, receiver, mode="shared-token", header="X-Token")
        control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        flush(server)
    (hex_headers, hex_body), (b64_headers, b64_body), (token_headers, _) = received.received
    digest = hmac.new(b"s3", hex_body, hashlib.sha256)
    assert hex_headers["x-sig"] == "sha256=" + digest.hexdigest()
    b64 = base64.b64encode(hmac.new(b"s3", b64_body, hashlib.sha256).digest()).decode()
    assert b64_headers["x-sig"] == b64
    assert token_headers["x-token"] == "s3"


def test_duplicates_and_retries_after_failure(recorder: tuple[Recorder, ThreadedServer]) -> None:
    """A duplicate rate of 1 sends each event twice; a 503 is retried until accepted."""
    received, receiver = recorder
    received.statuses = [503, 503]
    with served() as server:
        hook_to(server, receiver, duplicate_rate=1.0, retry_backoff_ms=10)
        learner = first_case(server, "stage-current")["learner_id"]
        control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        flush(server)
        deliveries = control(server, "GET", "/webhooks/deliveries")
    assert len(received.received) == 4
    assert len({d["message_id"] for d in deliveries}) == 2
    assert all(d["delivered"] for d in deliveries)
    assert sorted(d["attempts"] for d in deliveries) in ([1, 3], [2, 2])


def test_triggered_events_on_request(recorder: tuple[Recorder, ThreadedServer]) -> None:
    """A Learncycle rule's `Triggered` event can be fired through the control API."""
    received, receiver = recorder
    with served() as server:
        hook_to(server, receiver)
        ce = first_case(server, "stage-current")["course_enrolment_ids"][0]
        control(server, "POST", "/webhooks/trigger", json={"entity": "CourseEnrolment", "id": ce})
        flush(server)
    assert received.payloads()[0]["Event"] == "Triggered"


@pytest.mark.parametrize("tamper", ["bad-signature", "stale-timestamp", "malformed-body"])
def test_tamper_modes_produce_deliveries_a_verifier_must_refuse(
    recorder: tuple[Recorder, ThreadedServer], tamper: str
) -> None:
    """Security-test deliveries fail verification or parsing, as intended."""
    received, receiver = recorder
    with served() as server:
        hook_to(server, receiver, tamper=tamper)
        learner = first_case(server, "stage-current")["learner_id"]
        control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        flush(server)
    headers, body = received.received[0]
    if tamper == "malformed-body":
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
    else:
        with pytest.raises(WebhookVerificationError):
            Webhook(DEFAULT_SECRET).verify(body, headers)


def test_delays_reorder_deliveries_and_lose_none(recorder: tuple[Recorder, ThreadedServer]) -> None:
    """A burst released at once with random delays arrives out of order, every event of it."""
    received, receiver = recorder
    with served() as server:
        # Held until the flush, the burst leaves as one batch however slowly the edits were made.
        hook_to(server, receiver, delay_ms=[0, 300], reorder=True, hold=True)
        learners = [c["learner_id"] for c in control(server, "GET", "/cases")[:12]]
        for learner in learners:
            control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        assert received.received == []  # nothing leaves while held
        flush(server)
    arrived = [p["RecordId"] for p in received.payloads()]
    assert sorted(arrived) == sorted(learners)
    assert arrived != learners


def test_releasing_a_hold_sends_what_was_gathered(
    recorder: tuple[Recorder, ThreadedServer],
) -> None:
    """Turning the hold off sends the events gathered meanwhile, without a flush."""
    received, receiver = recorder
    with served() as server:
        hook_to(server, receiver, hold=True)
        learner = first_case(server, "stage-current")["learner_id"]
        control(server, "POST", f"/learners/{learner}/active", json={"active": False})
        assert control(server, "GET", "/webhooks")["hold"] is True
        control(server, "POST", "/webhooks", json={"hold": False})
        deadline = time.monotonic() + 30
        while not received.received and time.monotonic() < deadline:
            time.sleep(0.02)  # the emitter delivers on its own task; no flush releases it here
    assert [p["RecordId"] for p in received.payloads()] == [learner]


def test_a_flush_waits_as_long_as_it_is_told(
    recorder: tuple[Recorder, ThreadedServer],
) -> None:
    """`{"within": s}` bounds the wait; a delivery still being retried is not flushed yet.

    The tests' own HTTP timeout is longer than any wait they ask for, so a flush always answers.
    """
    received, receiver = recorder
    received.statuses = [503, 503, 503]  # three refusals: 1 + 2 + 4 s of backoff before the 4th
    with served() as server:
        hook_to(server, receiver, retries=5, retry_backoff_ms=1000)
        ce = first_case(server, "stage-enquiry")["course_enrolment_ids"][0]
        control(server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Pending"})
        assert control(server, "POST", "/webhooks/flush", json={"within": 0.5})["flushed"] is False
        assert control(server, "POST", "/webhooks/flush", json={"within": 60})["flushed"] is True
    assert len(received.received) == 4
    assert CONTROL_TIMEOUT > 60
