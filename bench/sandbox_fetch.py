"""A full fetch of a large sandbox account: requests vs the minimum, time vs the rate floor.

Run: `.venv/bin/python -m bench.sandbox_fetch [--learners 50000] [--rate 8]`. The sandbox runs at
Wisenet's 10 requests/s with its daily quota off; the client runs at its default 8/s. The
minimum is one request per 1,000 records of each list (pages of 1,000); the floor is the time
those requests take at the client's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from connector.clock import SystemClock
from connector.sandbox.app import serve
from connector.sandbox.service import Sandbox, SandboxConfig
from connector.wisenet.client import ClientConfig, WisenetClient
from connector.wisenet.wire import Item


async def fetch_everything(client: WisenetClient) -> dict[str, int]:
    """Fetch every list the connector reads; count the records of each."""
    listings: dict[str, AsyncIterator[list[Item[Any]]]] = {
        "Learner": client.learners(),
        "CourseEnrolment": client.course_enrolments(),
        "UnitEnrolment": client.unit_enrolments(),
        "Credential": client.credentials(),
        "CourseOffer": client.course_offers(),
        "Checklist": client.checklists(),
    }
    counts = {}
    for entity, pages in listings.items():
        counts[entity] = sum([len(page) async for page in pages])
    return counts


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=8.0)
    args = parser.parse_args()
    started = time.perf_counter()
    sandbox = Sandbox(
        SandboxConfig(
            learners=args.learners, today=date(2026, 11, 29), rate_limit=10, daily_quota=0
        )
    )
    print(f"generated {args.learners} learners in {time.perf_counter() - started:.1f} s")
    with serve(sandbox) as server:
        config = ClientConfig(
            base_url=server.base_url,
            api_key="sandbox-key",
            account_tz=ZoneInfo("Australia/Sydney"),
            rate_limit=args.rate,
            daily_quota=1_000_000,
        )

        async def run() -> tuple[dict[str, int], float]:
            async with WisenetClient(config, clock=SystemClock()) as client:
                began = time.perf_counter()
                counts = await fetch_everything(client)
                return counts, time.perf_counter() - began

        counts, elapsed = asyncio.run(run())
        made = sandbox.counters.total
        refused = sandbox.counters.rate_limited
    minimum = sum(math.ceil(n / 1000) for n in counts.values())
    floor = made / args.rate
    print("records:", counts)
    print(f"requests: {made} made, {minimum} minimum (pages of 1,000): ratio {made / minimum:.3f}")
    print(
        f"time: {elapsed:.1f} s, floor {floor:.1f} s at {args.rate}/s: ratio {elapsed / floor:.3f}"
    )
    print(f"429s for the rate: {refused}")


if __name__ == "__main__":
    main()
