"""A served sandbox and a store of each kind wired to one sync context, for integration tests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from connector.bundles import Labels
from connector.clock import Clock
from connector.sandbox.app import SandboxServer
from connector.store import migrate
from connector.store.schema import enrolment_state, flags, learner_state
from connector.store.store import Store
from connector.wisenet.retry import RetryPolicy
from jobs.pipeline.context import SyncContext
from jobs.setup.composition import Parts, sync_context
from jobs.setup.settings import Settings
from tests.reference import decide
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.clock import FakeClock
from tests.support.databases import database
from tests.support.sandbox import KEY, served
from tests.support.sandbox_bundles import bundle_for, combos

SYDNEY = ZoneInfo("Australia/Sydney")
OWNED = {"certified", "reconnect-eligible", "certificate-overdue", "missing-usi"}


@dataclass
class Rig:
    """A served sandbox, a store and a sync context wired to both."""

    server: SandboxServer
    store: Store
    ctx: SyncContext


@asynccontextmanager
async def wired(
    server: SandboxServer,
    url: str,
    clock: Clock,
    *,
    rate_limit: float,
    retry: RetryPolicy,
    daily_quota: int = 100_000,
    page_size: int = 1000,
) -> AsyncIterator[Rig]:
    """A store at `url` with the default mapping active, and a sync context on `server`.

    Wired by the composition root, as the commands are, with the test's clock, retry policy,
    page size and a seeded jitter.
    """
    settings = Settings(
        _env_file=None,
        wisenet_base_url=server.base_url,
        wisenet_api_key=SecretStr(KEY),
        timezone=SYDNEY,
        database_url=url,
        mapping_file=str(DEFAULT_MAPPING),
    )
    parts = Parts(
        clock=clock,
        rate_limit=rate_limit,
        daily_quota=daily_quota,
        retry=retry,
        page_size=page_size,
        rng=random.Random(1),
    )
    async with sync_context(settings, parts) as ctx:
        yield Rig(server, ctx.store, ctx)


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """A 300-learner sandbox and a fresh store of each kind, at 09:00 on the sandbox's today."""
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    with served() as server:
        async with database(request.param, tmp_path) as url:
            if request.param == "postgresql":
                await migrate.upgrade_database(url)
            retry = RetryPolicy(initial_backoff=0.01)
            async with wired(server, url, clock, rate_limit=500.0, retry=retry) as ready:
                yield ready


def owned_tags_in_wisenet(server: SandboxServer) -> dict[int, set[str]]:
    """Each enrolment's owned tag names as the sandbox holds them."""
    db = server.sandbox.db
    names = {tag_id: row["Name"] for tag_id, row in db.tags.rows.items()}
    return {
        ce_id: {names[t["TagId"]] for t in row.get("TagIds", [])} & OWNED
        for ce_id, row in db.course_enrolments.rows.items()
    }


def expected_tags(server: SandboxServer, on: date | None = None) -> dict[int, set[str]]:
    """What the reference wants on each enrolment on `on` (default: the day the data were made for).

    Inactive learners get nothing.
    """
    sandbox = server.sandbox
    on = on or sandbox.config.today or sandbox.clock.today()
    labels = Labels.from_combos(combos(sandbox))
    wanted: dict[int, set[str]] = {}
    for learner_id in sandbox.db.learners.ids():
        bundle = bundle_for(sandbox, learner_id, labels)
        outcome = decide(bundle, on)
        active = bundle.learner.is_active is True
        for ce_id, (_, tags) in outcome.enrolments.items():
            wanted[ce_id] = set(tags) if active else set()
    return wanted


def human_tags(server: SandboxServer) -> dict[int, list[int]]:
    """Each enrolment's tags that the connector does not own, by id."""
    db = server.sandbox.db
    owned_ids = {tag_id for tag_id, row in db.tags.rows.items() if row["Name"] in OWNED}
    return {
        ce_id: [t["TagId"] for t in row.get("TagIds", []) if t["TagId"] not in owned_ids]
        for ce_id, row in db.course_enrolments.rows.items()
    }


@dataclass(frozen=True)
class Decided:
    """Every learner's stage, every enrolment's stage and every flag raised."""

    learners: dict[int, str | None]
    enrolments: dict[int, str]
    flags: frozenset[tuple[str, str, int]]


def expected_decisions(server: SandboxServer, on: date | None = None) -> Decided:
    """What the reference decides for every learner of the sandbox on `on` (see expected_tags)."""
    sandbox = server.sandbox
    on = on or sandbox.config.today or sandbox.clock.today()
    labels = Labels.from_combos(combos(sandbox))
    learners: dict[int, str | None] = {}
    enrolments: dict[int, str] = {}
    raised: set[tuple[str, str, int]] = set()
    for learner_id in sandbox.db.learners.ids():
        outcome = decide(bundle_for(sandbox, learner_id, labels), on)
        learners[learner_id] = outcome.learner_stage
        enrolments.update({ce_id: stage for ce_id, (stage, _) in outcome.enrolments.items()})
        raised |= outcome.flags
    return Decided(learners, enrolments, frozenset(raised))


async def stored_decisions(store: Store) -> Decided:
    """What the store holds as decided: stages of learners and enrolments, and flags."""
    async with store.db.engine.connect() as conn:
        learners = await conn.execute(select(learner_state.c.learner_id, learner_state.c.stage))
        enrolments = await conn.execute(
            select(enrolment_state.c.course_enrolment_id, enrolment_state.c.stage)
        )
        raised = await conn.execute(select(flags.c.flag, flags.c.subject, flags.c.subject_id))
        return Decided(
            {row[0]: row[1] for row in learners},
            {row[0]: row[1] for row in enrolments},
            frozenset((row[0], row[1], row[2]) for row in raised),
        )
