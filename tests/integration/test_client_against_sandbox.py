"""The Wisenet client against the sandbox served by uvicorn, over real HTTP."""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.clock import SystemClock
from connector.errors import QuotaExhaustedError
from connector.sandbox.app import SandboxServer
from connector.wisenet.client import WisenetClient
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.transport import ClientConfig
from connector.wisenet.usi import usi_facts
from tests.support.fetch import full_fetch
from tests.support.sandbox import KEY, control, served

pytestmark = pytest.mark.integration

FAST_RETRIES = RetryPolicy(max_attempts=10, initial_backoff=0.02, max_backoff=0.2)


def client_for(server: SandboxServer, **config: Any) -> WisenetClient:
    """A client on the real clock aimed at a served sandbox."""
    settings = {"rate_limit": 200.0, "daily_quota": 100_000, "retry": FAST_RETRIES, **config}
    return WisenetClient(
        ClientConfig(
            base_url=server.base_url,
            api_key=KEY,
            account_tz=ZoneInfo("Australia/Sydney"),
            **settings,
        ),
        clock=SystemClock(),
        rng=random.Random(3),
    )


def assert_matches_dataset(fetched: dict[str, dict[int, Any]], server: SandboxServer) -> None:
    """Every record of the generated dataset arrived, with the fields rules read."""
    db = server.sandbox.db
    for entity, records in fetched.items():
        assert sorted(records) == db.table(entity).ids(), entity
    for ident, learner in fetched["Learner"].items():
        row = db.learners.rows[ident]["Personal"]
        assert learner.personal.is_active == row["IsActive"]
        assert learner.personal.usi == usi_facts(row["UniqueStudentIdentifier"])
    for ident, ce in fetched["CourseEnrolment"].items():
        row = db.course_enrolments.rows[ident]
        assert (ce.learner_id, ce.enrolment_status_id) == (
            row["LearnerId"],
            row["EnrolmentStatusId"],
        )
        assert [t.tag_id for t in ce.tag_ids or []] == [t["TagId"] for t in row["TagIds"]]
    for ident, ue in fetched["UnitEnrolment"].items():
        assert ue.outcome_id == db.unit_enrolments.rows[ident].get("OutcomeId")


async def test_a_full_fetch_matches_the_generated_dataset() -> None:
    """300 learners and all their records arrive, each once, paged in thousands."""
    with served() as server:
        async with client_for(server) as client:
            fetched = await full_fetch(client)
        assert_matches_dataset(fetched, server)
        counts = control(server, "GET", "/counters")
    assert (
        counts["by_endpoint"]["GET /unit-enrolments"] == len(fetched["UnitEnrolment"]) // 1000 + 1
    )
    assert counts["by_endpoint"]["GET /learnersAU"] == 1
    assert counts["rate_limited"] == 0


@pytest.mark.slow
async def test_at_the_real_rate_limit_the_client_is_never_refused() -> None:
    """With the sandbox at Wisenet's 10/s and the client at its default 8/s: zero 429s."""
    with served(rate_limit=10) as server:
        async with client_for(server, rate_limit=8.0) as client:
            for _ in range(30):
                await client.get_learner(server.sandbox.db.learners.ids()[0])
        counts = control(server, "GET", "/counters")
    assert counts["by_status"] == {"200": 30}
    assert counts["rate_limited"] == 0


async def test_the_client_stops_cleanly_at_its_daily_budget() -> None:
    """With the budget set to the plan's quota, the client stops before Wisenet refuses."""
    with served(daily_quota=12) as server:
        async with client_for(server, daily_quota=12) as client:
            learner = server.sandbox.db.learners.ids()[0]
            for _ in range(12):
                await client.get_learner(learner)
            with pytest.raises(QuotaExhaustedError, match="budget of 12 requests is spent"):
                await client.get_learner(learner)
        counts = control(server, "GET", "/counters")
    assert (counts["total"], counts["quota_limited"]) == (12, 0)


async def test_a_quota_spent_by_someone_else_stops_the_client() -> None:
    """Another integration spent the shared key's quota: persistent 429s stop all calls."""
    policy = RetryPolicy(
        max_attempts=50, initial_backoff=0.05, max_backoff=0.2, sustained_429_seconds=0.5
    )
    with served(daily_quota=3) as server:
        async with client_for(server, retry=policy) as client:
            learner = server.sandbox.db.learners.ids()[0]
            for _ in range(3):
                await client.get_learner(learner)
            with pytest.raises(QuotaExhaustedError, match="quota spent"):
                await client.get_learner(learner)
            with pytest.raises(QuotaExhaustedError, match="budget"):
                await client.get_learner(learner)
            refused_before = control(server, "GET", "/counters")["quota_limited"]
            assert (await client.budget.state()).exhausted
        assert control(server, "GET", "/counters")["quota_limited"] == refused_before


async def test_a_fetch_through_server_errors_and_dropped_connections_still_matches() -> None:
    """20% injected 5xx and 10% dropped connections: the fetch completes, every record once."""
    with served() as server:
        control(server, "POST", "/faults", json={"error_rate": 0.2, "drop_rate": 0.1, "seed": 5})
        async with client_for(server) as client:
            fetched = await full_fetch(client)
        assert_matches_dataset(fetched, server)
        counts = control(server, "GET", "/counters")
    assert counts["faults_injected"] > 0
    assert counts["by_status"]["200"] >= len(fetched)


async def test_a_429_storm_with_retry_after_is_waited_out() -> None:
    """A storm of rate 429s carrying Retry-After is ridden out, then the call succeeds."""
    with served() as server:
        control(server, "POST", "/faults", json={"storm": {"requests": 3, "retry_after": 0}})
        async with client_for(server) as client:
            learner = server.sandbox.db.learners.ids()[0]
            assert (await client.get_learner(learner)).data.learner_id == learner
        counts = control(server, "GET", "/counters")
    assert counts["by_status"] == {"200": 1, "429": 3}
    assert counts["rate_limited"] == 0
