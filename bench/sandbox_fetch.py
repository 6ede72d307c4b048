"""A full fetch of a large sandbox account: requests vs the minimum, time vs the rate floor.

Run: `.venv/bin/python -m bench.sandbox_fetch [--learners 50000] [--rate 8]`. The sandbox runs at
Wisenet's 10 requests/s with its daily quota off, in its own process; the client runs at its
default 8/s. The
minimum is one request per 1,000 records of each list (pages of 1,000); the floor is the time
those requests take at the client's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from connector.clock import SystemClock
from connector.sandbox.app import free_port
from connector.wisenet.client import WisenetClient
from connector.wisenet.transport import ClientConfig
from jobs.setup.logging import configure_logging
from tests.support.fetch import full_fetch


def start_sandbox(learners: int, port: int, *, rate: int = 10) -> subprocess.Popen[bytes]:
    """`connector sandbox` as its own process (Wisenet is a separate server), once it serves."""
    command = [
        str(Path(sys.executable).parent / "connector"),
        "sandbox",
        "--port",
        str(port),
        "--learners",
        str(learners),
        "--today",
        "2026-11-29",
        "--rate-limit",
        str(rate),
        "--daily-quota",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    while True:
        assert process.poll() is None, "the sandbox exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).raise_for_status()
        except httpx.TransportError:
            time.sleep(0.2)
        else:
            return process


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=8.0)
    args = parser.parse_args()
    configure_logging("console", "info")
    port = free_port()
    started = time.perf_counter()
    sandbox = start_sandbox(args.learners, port)
    print(f"sandbox with {args.learners} learners up in {time.perf_counter() - started:.1f} s")
    control = f"http://127.0.0.1:{port}/_sandbox"
    config = ClientConfig(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="sandbox-key",
        account_tz=ZoneInfo("Australia/Sydney"),
        rate_limit=args.rate,
        daily_quota=1_000_000,
    )

    async def run() -> tuple[dict[str, int], float]:
        async with WisenetClient(config, clock=SystemClock()) as client:
            began = time.perf_counter()
            counts = {
                entity: len(records) for entity, records in (await full_fetch(client)).items()
            }
            return counts, time.perf_counter() - began

    try:
        counts, elapsed = asyncio.run(run())
        counters = httpx.get(f"{control}/counters").json()
    finally:
        sandbox.terminate()
        sandbox.wait()
    made, refused = counters["total"], counters["rate_limited"]
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
