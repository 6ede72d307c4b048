"""`connector sync`, `connector demo` and `connector db upgrade`."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime
from pathlib import Path

import click
from pydantic import SecretStr

from connector.clock import Clock
from connector.sandbox.app import serve
from connector.sandbox.service import Sandbox, SandboxConfig
from connector.store import migrate
from connector.store.store import summary
from jobs.bootstrap import sync_context
from jobs.logging import configure_logging
from jobs.progress import ListingProgress
from jobs.runtime import Runtime
from jobs.service import Job, run_job, run_service
from jobs.settings import Settings, load_settings
from jobs.sync import SyncReport, backfill, reconcile, sweep, sync

DEMO_DATABASE = Path("var/demo.db")
DEMO_LEARNERS = 300
DEMO_RATE = 50.0  # the embedded sandbox's limits are raised; the demo's client matches them


def report_lines(report: SyncReport) -> list[str]:
    """A sync's outcome in a few lines."""
    lines = [
        f"learners evaluated: {report.learners_evaluated}; stage changes: {report.stage_changes}",
        f"writes: {report.writes_done} done, {report.writes_skipped} skipped, "
        f"{report.writes_failed} failed ({report.writes_planned} planned)",
    ]
    if report.paused:
        lines.append(f"paused: {report.paused}")
    if report.deleted:
        lines.append(f"records deleted in Wisenet: {report.deleted}")
    for ce_id, add, remove in report.dry_run_patches:
        lines.append(
            f"dry run: enrolment {ce_id} +{','.join(add) or '-'} -{','.join(remove) or '-'}"
        )
    return lines


async def _sync(
    settings: Settings, clock: Clock, rate_limit: float | None = None
) -> tuple[SyncReport, dict[str, dict[str, int]]]:
    async with sync_context(settings, clock, rate_limit=rate_limit) as ctx:
        report = await run_job(ctx, "sync", sync, ctx.worker)
        return report, await summary(ctx.store)


@click.command("sync")
@click.option("--dry-run", is_flag=True, help="Record and print the planned writes; send none.")
@click.pass_obj
def sync_command(runtime: Runtime, dry_run: bool) -> None:
    """Poll Wisenet, decide the learners that changed, and write their tags back."""
    settings = load_settings()
    configure_logging(settings.log_format)
    if dry_run:
        settings = settings.model_copy(update={"dry_run": True})
    report, _ = asyncio.run(_sync(settings, runtime.clock))
    for line in report_lines(report):
        click.echo(line)


def _full_read(runtime: Runtime, name: str, job: Job) -> None:
    """Run a job that reads every list, under the sync's lock, showing progress per page."""
    settings = load_settings()
    configure_logging(settings.log_format)
    progress = ListingProgress(sys.stderr)

    async def _run() -> SyncReport:
        async with sync_context(settings, runtime.clock) as ctx:
            ctx.on_page = progress
            return await run_job(ctx, name, job, ctx.worker, lock="sync")

    try:
        report = asyncio.run(_run())
    finally:
        progress.close()
    for line in report_lines(report):
        click.echo(line)


@click.command("backfill")
@click.pass_obj
def backfill_command(runtime: Runtime) -> None:
    """Read everything from Wisenet again (resuming an unfinished read), decide, write back."""
    _full_read(runtime, "backfill", backfill)


@click.command("reconcile")
@click.pass_obj
def reconcile_command(runtime: Runtime) -> None:
    """A backfill that also forgets records Wisenet no longer has (the weekly job, now)."""
    _full_read(runtime, "reconcile", reconcile)


@click.command("sweep")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Decide as if today were this date; only plans, never writes.",
)
@click.pass_obj
def sweep_command(runtime: Runtime, as_of: datetime | None) -> None:
    """Re-decide every stored learner for today (no reads), so time-driven flags appear."""
    settings = load_settings()
    configure_logging(settings.log_format)

    async def _run() -> SyncReport:
        async with sync_context(settings, runtime.clock) as ctx:
            ctx.as_of = as_of.date() if as_of else None
            if ctx.as_of is not None:  # a plan only: no lock, no run recorded
                return await sweep(ctx)
            return await run_job(ctx, "sweep", sweep, ctx.worker)

    report = asyncio.run(_run())
    if as_of is not None:
        click.echo(f"as of {as_of.date().isoformat()}: planned only, nothing sent")
    for line in report_lines(report):
        click.echo(line)


@click.command("demo")
@click.pass_obj
def demo(runtime: Runtime) -> None:
    """Run the whole job on an embedded sandbox (300 learners) with its own var/demo.db."""
    settings = load_settings()
    configure_logging(settings.log_format)
    for leftover in DEMO_DATABASE.parent.glob(f"{DEMO_DATABASE.name}*"):
        leftover.unlink()
    sandbox = Sandbox(SandboxConfig(learners=DEMO_LEARNERS, rate_limit=0, daily_quota=0))
    with serve(sandbox) as server:
        settings = settings.model_copy(
            update={
                "wisenet_base_url": server.base_url,
                "wisenet_api_key": SecretStr("sandbox-key"),
                "wisenet_account_number": sandbox.config.account_number,
                "database_url": f"sqlite+aiosqlite:///{DEMO_DATABASE}",
                "wisenet_daily_quota": 100_000,
                "dry_run": False,
            }
        )
        click.echo(f"embedded sandbox: {DEMO_LEARNERS} learners at {server.base_url}")
        report, counts = asyncio.run(_sync(settings, runtime.clock, rate_limit=DEMO_RATE))
    for line in report_lines(report):
        click.echo(line)
    stages = ", ".join(f"{stage} {n}" for stage, n in sorted(counts["stages"].items()))
    raised = ", ".join(f"{flag} {n}" for flag, n in sorted(counts["flags"].items()))
    click.echo(f"learners by stage: {stages}")
    click.echo(f"flags: {raised or 'none'}")
    click.echo(f"store: {DEMO_DATABASE} (holds personal data; mode 0600)")


@click.command("run")
@click.pass_obj
def run(runtime: Runtime) -> None:
    """Run the service: poll and sync on schedule, the daily sweep, the writer."""
    settings = load_settings()
    configure_logging(settings.log_format)

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_service(settings, runtime.clock, stop)

    asyncio.run(_serve())


@click.group("db")
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the store's migrations (under a lock on PostgreSQL)."""
    settings = load_settings()
    revision = asyncio.run(migrate.upgrade_database(settings.database_url))
    click.echo(f"schema at revision {revision}")
