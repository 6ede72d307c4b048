"""The commands that run the pipeline: `sync`, `backfill`, `reconcile`, `sweep`, `demo`, `run`.

Also `db upgrade`, and the closing summary and exit code every run shares.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import click
from pydantic import SecretStr

from connector.clock import Clock
from connector.errors import ConfigurationError, WritesHeldError
from connector.sandbox.app import serve
from connector.sandbox.service import Sandbox, SandboxConfig
from connector.store import migrate
from connector.store.outbox import HeldWrites
from jobs.cli.arguments import ACCOUNT_DATE
from jobs.cli.demo_tour import demo_tour
from jobs.cli.plan_lines import plan_lines
from jobs.cli.progress import RunProgress
from jobs.cli.summary import StoreFacts, store_facts, summary_lines
from jobs.pipeline.context import SyncContext, SyncReport
from jobs.pipeline.runs import backfill, reconcile, sweep, sync
from jobs.pipeline.write_outcomes import raise_unless_written
from jobs.service.job_runner import Job, run_job
from jobs.service.service import run_service
from jobs.setup.composition import Parts, sync_context
from jobs.setup.runtime import Runtime
from jobs.setup.settings import Settings

DEMO_DATABASE = Path("var/demo.db")
DEMO_LEARNERS = 300
DEMO_RATE = 50.0  # the embedded sandbox's limits are raised; the demo's client matches them


def report_lines(report: SyncReport, *, writes: bool = True) -> list[str]:
    """A sync's outcome in a few lines (without the writes when a summary table tells them)."""
    lines = [
        f"learners evaluated: {report.learners_evaluated}",
        f"first placements: {_by_subject(report.first_placements, report.learner_placements)}; "
        f"stage changes: {_by_subject(report.stage_changes, report.learner_changes)}",
    ]
    if writes:
        lines.append(
            f"writes: {report.writes_done} done, {report.writes_skipped} skipped, "
            f"{report.writes_failed} failed ({report.writes_planned} planned)"
        )
    if report.paused:
        lines.append(f"paused: {report.paused}")
    if report.deleted:
        lines.append(f"records deleted in Wisenet: {report.deleted}")
    if report.plan is not None:
        lines += plan_lines(report.plan)
    return lines


def _by_subject(moves: int, by_learner_stage: Counter[str]) -> str:
    """Stage moves told as learners and enrolments apart (the summary table counts learners)."""
    learners = sum(by_learner_stage.values())
    return f"learners {learners}, enrolments {moves - learners}"


def run_with_summary(
    settings: Settings,
    clock: Clock,
    name: str,
    job: Job,
    *,
    lock: str | None = None,
    rate_limit: float | None = None,
    page_events: bool = False,
) -> tuple[SyncReport, HeldWrites, StoreFacts]:
    """Run a writing job with progress on a terminal; its report, held writes and the facts after.

    Off a terminal only `page_events` jobs (the full reads) log an event per page read.
    """
    progress = RunProgress(sys.stderr) if page_events or sys.stderr.isatty() else None

    async def _run() -> tuple[SyncReport, HeldWrites, StoreFacts]:
        async with sync_context(settings, Parts(clock=clock, rate_limit=rate_limit)) as ctx:
            if progress is not None:
                progress.attach(ctx)
            report, held = await run_writing_job(ctx, name, job, lock=lock)
            return report, held, await store_facts(ctx)

    try:
        return asyncio.run(_run())
    finally:
        if progress is not None:
            progress.close()


async def run_writing_job(
    ctx: SyncContext, name: str, job: Job, *, lock: str | None = None
) -> tuple[SyncReport, HeldWrites]:
    """Run a job that writes, under its lock; and the due writes another live process holds."""
    report = await run_job(ctx, name, job, ctx.worker, lock=lock)
    return report, await ctx.store.outbox.held(ctx.worker)


def failure_lines(report: SyncReport) -> list[str]:
    """The failed and blocked writes by reason with the fix (a dry run's plan says them)."""
    if report.plan is not None:
        return []
    return [group.line() for group in report.failure_groups()]


def show(report: SyncReport, held: HeldWrites | None = None) -> None:
    """Print a run's outcome; a run that left due writes to another process does not pass."""
    _print_and_check(report_lines(report), report, held)


def show_summary(report: SyncReport, facts: StoreFacts, held: HeldWrites | None = None) -> None:
    """Print a run's outcome with the closing summary table; held writes fail it as in `show`."""
    lines = [*report_lines(report, writes=False), *summary_lines(report, facts)]
    _print_and_check(lines, report, held)


def _print_and_check(lines: list[str], report: SyncReport, held: HeldWrites | None) -> None:
    """Print the outcome's lines and its failures; writes held by another process fail the run."""
    for line in [*lines, *failure_lines(report)]:
        click.echo(line)
    if held is not None and held.count:
        raise WritesHeldError(held.message())


DRY_RUN_HELP = (
    "Print the writes a real run would send (per enrolment, with learner id); "
    "send none and leave the store as it was."
)


def passed(report: SyncReport) -> None:
    """End a run that left writes failed or blocked with exit 1 (after its summary).

    A dry run that made its plan passes: the writes it shows blocked were not attempted.
    """
    if report.plan is None:
        raise_unless_written(report.writes_failed, report.writes_blocked)


@click.command("sync")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.pass_obj
def sync_command(runtime: Runtime, dry_run: bool) -> None:
    """Poll Wisenet, decide the learners that changed, and write their tags back."""
    settings = runtime.settings
    if dry_run:
        settings = settings.model_copy(update={"dry_run": True})
    report, held, facts = run_with_summary(settings, runtime.clock, "sync", sync)
    show_summary(report, facts, None if settings.dry_run else held)
    passed(report)


def _full_read(runtime: Runtime, name: str, job: Job, dry_run: bool) -> None:
    """Run a job that reads every list, under the sync's lock, showing progress per page."""
    settings = runtime.settings
    if dry_run:
        settings = settings.model_copy(update={"dry_run": True})
    report, held, facts = run_with_summary(
        settings, runtime.clock, name, job, lock="sync", page_events=True
    )
    show_summary(report, facts, None if settings.dry_run else held)
    passed(report)


@click.command("backfill")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.pass_obj
def backfill_command(runtime: Runtime, dry_run: bool) -> None:
    """Read everything from Wisenet again (resuming an unfinished read), decide, write back."""
    _full_read(runtime, "backfill", backfill, dry_run)


@click.command("reconcile")
@click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)
@click.pass_obj
def reconcile_command(runtime: Runtime, dry_run: bool) -> None:
    """A backfill that also forgets records Wisenet no longer has (the weekly job, now)."""
    _full_read(runtime, "reconcile", reconcile, dry_run)


@click.command("sweep")
@click.option(
    "--as-of",
    "as_of",
    type=ACCOUNT_DATE,
    help="Decide as if today were this date; a dry run: print the plan, store and send nothing.",
)
@click.pass_obj
def sweep_command(runtime: Runtime, as_of: date | None) -> None:
    """Re-decide every stored learner for today (no reads), so time-driven flags appear."""
    settings = runtime.settings
    if as_of is not None:
        settings = settings.model_copy(update={"dry_run": True})

    async def _run() -> tuple[SyncReport, HeldWrites | None]:
        async with sync_context(settings, runtime.parts()) as ctx:
            ctx.as_of = as_of
            if ctx.as_of is not None:  # a plan only: no lock, no run recorded
                return await sweep(ctx), None
            return await run_writing_job(ctx, "sweep", sweep)

    report, held = asyncio.run(_run())
    if as_of is not None:
        click.echo(f"as of {as_of.isoformat()}: planned only, nothing sent")
    show(report, None if settings.dry_run else held)
    passed(report)


@click.command("demo")
@click.pass_obj
def demo(runtime: Runtime) -> None:
    """Run the whole job on an embedded sandbox (300 learners) with its own var/demo.db."""
    settings = runtime.settings
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
                "dry_run": False,
            }
        )
        click.echo(f"embedded sandbox: {DEMO_LEARNERS} learners at {server.base_url}")
        report, held, facts = run_with_summary(
            settings, runtime.clock, "sync", sync, rate_limit=DEMO_RATE
        )
    show_summary(report, facts, held)
    click.echo(f"store: {DEMO_DATABASE} (holds personal data; mode 0600)")
    for line in asyncio.run(
        demo_tour(DEMO_DATABASE, settings.mapping_file, runtime.clock, runtime.program)
    ):
        click.echo(line)
    passed(report)


@click.command("run")
@click.pass_obj
def run(runtime: Runtime) -> None:
    """Run the service: poll and sync on schedule, the daily sweep, the writer."""
    settings = runtime.settings

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
@click.pass_obj
def db_upgrade(runtime: Runtime) -> None:
    """Apply the store's migrations (under a lock on PostgreSQL)."""
    settings = runtime.settings
    if settings.dry_run:
        raise ConfigurationError("CONNECTOR_DRY_RUN=true: `db upgrade` only changes the schema")
    revision = asyncio.run(migrate.upgrade_database(settings.database_url))
    click.echo(f"schema at revision {revision}")
