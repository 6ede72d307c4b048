"""Reads a burst of staff edits costs, against the floor computed from the same sandbox.

Run: `.venv/bin/python -m bench.webhook_burst [--sizes 1000,10000] [--bursts 10,100,1000]`.

Per account size, a sandbox (limits off, clock frozen) is read whole by a first sync; then the
connector's and the sandbox's clocks move past the poll overlap and a scheduled sync runs, as
on a live account. Each burst then edits that many distinct records, a third of each kind:
enrolments completed, new credentials, unit outcomes. The signed deliveries (30 % duplicated,
reordered) reach the real receiver; the inbox is drained as the service drains it, until the
echoes of the connector's own writes are drained too. The sandbox counts the reads.

The floor, per entity touched, is the fewer of one GET per changed record and the pages of the
listing the connector must read: modified since its cursor less the overlap for the entities
with a modified filter (counted in the sandbox), the whole listing for credentials. The design
adds checks, shown apart: a credential check before a first `certificate-overdue` write, and
the tag definitions when the ones read are older than `CONNECTOR_WRITE_MAX_SNAPSHOT_AGE`.
Targets: reads at most 1.2 x (floor + checks), and never more than one read per changed record.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connector.clock import SystemClock
from connector.metrics import ConnectorMetrics
from connector.sandbox.app import SandboxServer
from connector.sandbox.service import Sandbox, SandboxConfig
from connector.sandbox.webhooks import DEFAULT_SECRET
from connector.store.entities import CREDENTIAL, ENROLMENT, UNIT
from connector.webhooks.receiver import PATH, Receiver
from connector.webhooks.verify import VerifierConfig
from jobs.pipeline.context import SyncContext
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.poll import AUDIT
from jobs.pipeline.read_costs import Strategy, listing_pages
from jobs.pipeline.runs import sync
from jobs.service.body_deadline import BODY_SECONDS
from jobs.service.servers import embedded_server, listen
from jobs.setup.composition import Parts, sync_context
from jobs.setup.logging import configure_logging
from jobs.setup.setting_values import Bind
from jobs.setup.settings import Settings

TODAY = date(2026, 11, 29)
PAGE = 1000
STEP = timedelta(hours=2)  # past the poll overlap (65 minutes)


class MovedClock(SystemClock):
    """The system clock, moved forward on demand (the sandbox's frozen clock moves with it)."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - super().now()

    def now(self) -> datetime:
        """The moved time."""
        return super().now() + self.offset


@dataclass
class Burst:
    """One burst's figures."""

    learners: int
    records: int
    deliveries: int
    reads: int
    floor: int
    checks: int  # reads the design requires besides: credential checks, tag definitions
    by_endpoint: dict[str, int]
    settled: bool


def control(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """The sandbox's control API."""
    response = httpx.request(method, f"{server.url}/_sandbox{path}", timeout=60, **kwargs)
    response.raise_for_status()
    return response.json()


async def call(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """The control API off the loop (the receiver serves on this loop meanwhile)."""
    return await asyncio.to_thread(control, server, method, path, **kwargs)


@asynccontextmanager
async def receiver(ctx: SyncContext) -> AsyncIterator[str]:
    """The real receiver on this loop; yields its URL."""
    app = Receiver(
        VerifierConfig("standard-webhooks", DEFAULT_SECRET),
        ctx.store,
        SystemClock(),
        "SANDBOX01",
        65536,
        ConnectorMetrics(),
    ).app()
    sock = listen(Bind("127.0.0.1", 0), "HTTP_BIND")
    server = embedded_server(app, BODY_SECONDS)
    task = asyncio.get_running_loop().create_task(server.serve([sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    finally:
        server.should_exit = True
        await task


def edit(server: SandboxServer, rng: random.Random, count: int, taken: set[int]) -> dict[str, int]:
    """Edit `count` distinct records not edited before; how many of each entity."""
    db = server.sandbox.db
    current = server.sandbox.vocab.id_of("enrolment-statuses", "Current")
    enrolments = [
        ce
        for ce, row in sorted(db.course_enrolments.rows.items())
        if row["EnrolmentStatusId"] == current and ce not in taken
    ]
    units = [u for u in sorted(db.unit_enrolments.ids()) if u not in taken]
    rng.shuffle(enrolments)
    rng.shuffle(units)
    third = count // 3
    touched = {ENROLMENT: 0, CREDENTIAL: 0, UNIT: 0}
    for ce in enrolments[:third]:
        ended = TODAY.fromordinal(TODAY.toordinal() - rng.randrange(1, 90)).isoformat()
        status = {"status": "Completed", "actual_end_date": ended}
        control(server, "POST", f"/course-enrolments/{ce}/status", json=status)
        touched[ENROLMENT] += 1
        taken.add(ce)
    for ce in enrolments[third : 2 * third]:
        control(server, "POST", f"/course-enrolments/{ce}/credentials", json={})
        touched[CREDENTIAL] += 1
        taken.add(ce)
    for unit in units[: count - 2 * third]:
        control(server, "POST", f"/unit-enrolments/{unit}/outcome", json={"code": "20"})
        touched[UNIT] += 1
        taken.add(unit)
    return touched


async def floor(ctx: SyncContext, sandbox: Sandbox, touched: dict[str, int]) -> int:
    """The fewest reads that can learn these changes, counted in the sandbox."""
    total = 0
    tables = {ENROLMENT: sandbox.db.course_enrolments, UNIT: sandbox.db.unit_enrolments}
    for entity, table in tables.items():
        if not touched[entity]:
            continue
        cursor = await ctx.store.cursors.high_water(entity)
        assert cursor is not None
        since = (cursor - ctx.overlap).astimezone(ctx.account_tz).replace(tzinfo=None)
        listed = len(list(table.modified_since(since)))
        total += min(touched[entity], listing_pages(listed, PAGE))
    if touched[CREDENTIAL]:
        total += min(touched[CREDENTIAL], listing_pages(len(sandbox.db.credentials), PAGE))
    return total


async def delivered(server: SandboxServer) -> int:
    """Deliveries the sandbox has made so far."""
    return len(await call(server, "GET", "/webhooks/deliveries?limit=10000000"))


async def drain_until_quiet(ctx: SyncContext, server: SandboxServer) -> int:
    """Deliver and drain until nothing is left (the echoes of the writes included).

    Returns the credential checks made before first `certificate-overdue` writes (one filtered
    listing each), which the design requires on top of the floor.
    """
    checks = 0
    while True:
        await call(server, "POST", "/webhooks/flush")
        if not (await ctx.store.inbox.state()).depth:
            return checks
        report = await drain_inbox(ctx, "bench")
        checks += report.reads[(CREDENTIAL, str(Strategy.BY_PARENT))]


async def measure(learners: int, bursts: list[int], folder: Path) -> list[Burst]:
    """Every burst on one account of `learners`."""
    sandbox = Sandbox(
        SandboxConfig(
            learners=learners, seed=1, today=TODAY, rate_limit=0, daily_quota=0, frozen_clock=True
        )
    )
    server = SandboxServer(sandbox)
    server.start()
    try:
        clock = MovedClock(sandbox.clock.now())
        settings = Settings(
            _env_file=None,
            wisenet_base_url=server.base_url,
            wisenet_api_key=SecretStr("sandbox-key"),
            database_url=f"sqlite+aiosqlite:///{folder / f'burst-{learners}.db'}",
            wisenet_daily_quota=10_000_000,
        )
        async with sync_context(settings, Parts(clock=clock, rate_limit=1000)) as ctx:
            await sync(ctx)
            assert await ctx.store.cursors.high_water(AUDIT) is not None
            for _ in range(2):  # scheduled polls past the overlap, as on a live account
                await call(server, "POST", "/clock", json={"advance": {"seconds": STEP.seconds}})
                clock.offset += STEP
                await sync(ctx)
            results = []
            rng, taken = random.Random(5), set[int]()
            async with receiver(ctx) as url:
                hook = {"url": url, "duplicate_rate": 0.3, "reorder": True}
                await call(server, "POST", "/webhooks", json=hook)
                for size in bursts:
                    await call(server, "POST", "/counters/reset")
                    before = await delivered(server)
                    touched = await asyncio.to_thread(edit, server, rng, size, taken)
                    lowest = await floor(ctx, sandbox, touched)
                    checks = await drain_until_quiet(ctx, server)
                    counts = (await call(server, "GET", "/counters"))["by_endpoint"]
                    reads = {e: n for e, n in counts.items() if e.startswith("GET ")}
                    checks += reads.get("GET /tags", 0)  # definitions older than trusted
                    results.append(
                        Burst(
                            learners,
                            size,
                            await delivered(server) - before,
                            sum(reads.values()),
                            lowest,
                            checks,
                            reads,
                            await settled(ctx, server),
                        )
                    )
            return results
    finally:
        server.stop()


async def settled(ctx: SyncContext, server: SandboxServer) -> bool:
    """Whether nothing is left to write or decide.

    Agreement with the reference is tested in tests/integration/test_burst_reads.py.
    """
    del server
    return await ctx.store.outbox.size() == 0 and not await ctx.store.snapshots.dirty_learners()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--bursts", default="10,100,1000")
    args = parser.parse_args()
    configure_logging("json", "warning")
    sizes = [int(n) for n in args.sizes.split(",")]
    bursts = [int(n) for n in args.bursts.split(",")]
    print(
        "learners  records  deliveries  reads  floor  checks  reads/(floor+checks)  settled  "
        "reads by endpoint"
    )
    with tempfile.TemporaryDirectory() as folder:
        for learners in sizes:
            for burst in asyncio.run(measure(learners, bursts, Path(folder))):
                lowest = burst.floor + burst.checks
                ratio = burst.reads / lowest if lowest else float("inf")
                print(
                    f"{burst.learners:>8}  {burst.records:>7}  {burst.deliveries:>10}  "
                    f"{burst.reads:>5}  {burst.floor:>5}  {burst.checks:>6}  {ratio:>20.2f}  "
                    f"{'yes' if burst.settled else 'NO':>7}  {burst.by_endpoint}"
                )


if __name__ == "__main__":
    main()
