"""A whole backfill (read, decide, write) of a large sandbox account, at two sizes.

Run: `.venv/bin/python -m bench.backfill [--learners 50000] [--baseline 5000] [--rate 8]`.
Each size gets its own sandbox process (quota off, rate limit 25% above the client's) and its
own connector process, whose peak RSS is read with `wait4`. Figures per size:

- requests made vs the minimum: the pages of each list (a full page asks for the next, so
  `n // 1000 + 1`), the combos, the tag list,
  the tag definitions created and the PATCHes that changed tags; the credential refreshes made
  before a first `certificate-overdue` and the enrolment pages the writer polls once its
  snapshots are older than `CONNECTOR_WRITE_MAX_SNAPSHOT_AGE` (both required by design) are
  shown apart;
- wall time vs the floor (the requests made at the client's rate), and by phase: the reads
  (whole listings in pages of 1,000: bound by rendering and parsing pages, not by the rate),
  the decisions (no request), and the writes against the limiter's own floor (`rate` PATCHes
  per rolling window of 1 s + its margin);
- peak RSS of the connector, and its ratio between the two sizes (target: at most 1.5x for 10x
  the learners, under 300 MB).

Wisenet's own 8/s makes a 50,000-learner backfill (about 20,000 writes) last most of an hour;
`--rate` raises both limits together so the ratios can be read in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.sandbox_fetch import start_sandbox
from connector.clock import SystemClock
from connector.sandbox.app import free_port
from connector.wisenet.ratelimit import WINDOW_MARGIN_SECONDS
from jobs.pipeline.read_costs import listing_pages
from jobs.pipeline.runs import backfill
from jobs.setup.composition import Parts, sync_context
from jobs.setup.logging import configure_logging
from jobs.setup.settings import Settings

LISTS = {  # the list endpoints a backfill reads whole, and the sandbox table behind each
    "GET /learnersAU": "Learner",
    "GET /course-enrolments": "CourseEnrolment",
    "GET /unit-enrolments": "UnitEnrolment",
    "GET /checklists": "Checklist",
    "GET /credentials": "Credential",
    "GET /course-offers": "CourseOffer",  # the course codes the worklist names
}


def child(base_url: str, database: Path, rate: float) -> None:
    """One backfill in this process; print its report as JSON."""
    settings = Settings(
        _env_file=None,
        wisenet_base_url=base_url,
        wisenet_api_key=SecretStr("sandbox-key"),
        database_url=f"sqlite+aiosqlite:///{database}",
        wisenet_daily_quota=10_000_000,
    )
    configure_logging("json", "warning")

    async def run() -> dict[str, Any]:
        async with sync_context(settings, Parts(clock=SystemClock(), rate_limit=rate)) as ctx:
            began = time.perf_counter()
            marks: dict[str, float] = {}

            def read(*_: object) -> None:
                if "writing" not in marks:  # not the writer's polls re-verifying old snapshots
                    marks["read"] = time.perf_counter()

            def written(*_: object) -> None:
                marks.setdefault("writing", time.perf_counter())

            ctx.on_page, ctx.on_written = read, written
            report = await backfill(ctx)
            ended = time.perf_counter()
            writing = marks.get("writing", ended)
            return {
                "seconds": ended - began,
                "read_seconds": marks.get("read", began) - began,
                "decide_seconds": writing - marks.get("read", began),
                "write_seconds": ended - writing,
                "window_margin": WINDOW_MARGIN_SECONDS,
                "learners": report.learners_evaluated,
                "writes_done": report.writes_done,
                "writes_failed": report.writes_failed,
                "writes_skipped": report.writes_skipped,
            }

    print(json.dumps(asyncio.run(run())))


def measure(learners: int, rate: float) -> dict[str, Any]:
    """Serve a sandbox of `learners`, backfill it in a child process, return the figures."""
    port = free_port()
    sandbox = start_sandbox(learners, port, rate=math.ceil(rate * 1.25))
    control = f"http://127.0.0.1:{port}/_sandbox"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            command = [sys.executable, "-m", "bench.backfill", "--child"]
            command += ["--base-url", f"http://127.0.0.1:{port}/v1"]
            command += ["--database", str(Path(scratch) / "bench.db"), "--rate", str(rate)]
            with subprocess.Popen(command, stdout=subprocess.PIPE) as process:  # noqa: S603
                assert process.stdout is not None
                output = process.stdout.read()
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
            assert process.returncode == 0, f"the backfill failed ({process.returncode})"
        result: dict[str, Any] = json.loads(output)
        counters = httpx.get(f"{control}/counters").json()
        tables: dict[str, int] = httpx.get(f"{control}/dataset").json()
    finally:
        sandbox.terminate()
        sandbox.wait()
    by_endpoint: dict[str, int] = counters["by_endpoint"]
    pages = sum(listing_pages(tables[entity], 1000) for entity in LISTS.values())
    result["rss_mb"] = usage.ru_maxrss / 1024
    result["made"] = counters["total"]
    result["rate_limited"] = counters["rate_limited"]
    result["refreshes"] = by_endpoint.get("GET /credentials", 0) - listing_pages(
        tables["Credential"], 1000
    )
    # Pages of enrolments the writer polled once its snapshots were older than
    # CONNECTOR_WRITE_MAX_SNAPSHOT_AGE (a backfill longer than that), required by design too.
    result["reverified"] = by_endpoint.get("GET /course-enrolments", 0) - listing_pages(
        tables["CourseEnrolment"], 1000
    )
    result["minimum"] = (
        pages
        + by_endpoint.get("GET /combos/{name}", 0)
        + by_endpoint.get("GET /tags", 0)
        + by_endpoint.get("POST /tags", 0)
        + result["writes_done"]
    )
    result["by_endpoint"] = by_endpoint
    return result


def main() -> None:
    """Print the figures of both sizes and their ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--baseline", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--base-url")
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.base_url, args.database, args.rate)
        return
    figures = {}
    for size in (args.baseline, args.learners):
        figures[size] = fig = measure(size, args.rate)
        print(f"{size} learners: {json.dumps(fig)}")
    for size, fig in figures.items():
        print(f"--- {size} learners (client {args.rate}/s)")
        by_design = fig["refreshes"] + fig["reverified"]
        print(
            f"requests: {fig['made']} made, {fig['minimum']} minimum (+{fig['refreshes']} "
            f"credential refreshes and +{fig['reverified']} enrolment pages re-verifying "
            f"snapshots older than the maximum age, by design): ratio "
            f"{(fig['made'] - by_design) / fig['minimum']:.3f} without them; "
            f"{fig['rate_limited']} refused for the rate; {fig['writes_done']} writes"
        )
        print(
            f"time: {fig['seconds']:.1f} s; floor {fig['made'] / args.rate:.1f} s; "
            f"ratio {fig['seconds'] / (fig['made'] / args.rate):.3f}"
        )
        # Saturated, the limiter sends `rate` requests per rolling window of 1 s + margin.
        write_floor = fig["writes_done"] * (1 + fig["window_margin"]) / args.rate
        print(
            f"phases: read {fig['read_seconds']:.1f} s, decide {fig['decide_seconds']:.1f} s, "
            f"write {fig['write_seconds']:.1f} s for {fig['writes_done']} PATCHes "
            f"(the limiter's floor {write_floor:.1f} s: ratio "
            f"{fig['write_seconds'] / write_floor:.3f})"
        )
        print(f"peak RSS: {fig['rss_mb']:.0f} MB")
    small, large = figures[args.baseline], figures[args.learners]
    print(f"RSS ratio {args.learners} vs {args.baseline}: {large['rss_mb'] / small['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
