"""The `connector` command line.

`main(argv, clock=...)` is the entry point tests call; the console script calls `entry()`.
`main` is the one place where errors meet a person: every connector error ends as one line on
stderr (one per bad setting) and an exit code: 1 when the work failed (a write failed, was
refused or stays blocked) or a service (Wisenet, the store's database) cannot be reached, 2 when
the configuration or an argument is wrong. Writes merely waiting for the budget exit 0. The
README's table of exit codes says the same.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date
from importlib.metadata import version
from pathlib import Path

import click
import uvicorn
from pydantic import SecretStr

from connector.clock import Clock, SystemClock
from connector.errors import ConfigurationError, ConnectorError
from connector.public_holidays import UnknownRegionError, business_calendar
from connector.sandbox.app import create_app, serve
from connector.sandbox.service import Sandbox, SandboxConfig
from jobs.cli.arguments import ACCOUNT_DATE, SecondsType
from jobs.cli.check import run_check
from jobs.cli.config import config
from jobs.cli.dead_letters import deadletters
from jobs.cli.demo_tour import PROGRAM, program_as_invoked
from jobs.cli.digest import digest_command
from jobs.cli.mapping import explain_command, mapping, read_mapping_source
from jobs.cli.report import export, purge, report
from jobs.cli.status import status
from jobs.cli.sync import (
    backfill_command,
    db,
    demo,
    reconcile_command,
    run,
    sweep_command,
    sync_command,
)
from jobs.cli.worklist import worklist_command
from jobs.service.healthcheck import probe_url, problem
from jobs.setup.composition import build_client
from jobs.setup.logging import configure_command_logging, for_person
from jobs.setup.runtime import Runtime
from jobs.setup.settings import load_log_settings

DEFAULT_SANDBOX_KEY = "sandbox-key"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIGURATION = 2


VERBOSITY = re.compile(r"-[vq]+|--verbose|--quiet")


def verbosity_first(args: list[str]) -> list[str]:
    """`-v`/`-q` anywhere before `--` moved in front, so `connector sync -v` works too."""
    end = args.index("--") if "--" in args else len(args)
    head = args[:end]
    flags = [arg for arg in head if VERBOSITY.fullmatch(arg)]
    return flags + [arg for arg in head if not VERBOSITY.fullmatch(arg)] + args[end:]


class ConnectorGroup(click.Group):
    """The command group, taking the logging flags before or after the command's name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse with the logging flags in front."""
        return super().parse_args(ctx, verbosity_first(args))


@click.group(cls=ConnectorGroup)
@click.version_option(version("wisenet-lifecycle-connector"), prog_name="connector")
@click.option(
    "-v", "--verbose", count=True, help="Log more: one level lower per -v (info, then debug)."
)
@click.option("-q", "--quiet", count=True, help="Log less: one level higher per -q (error).")
@click.pass_context
def cli(context: click.Context, verbose: int, quiet: int) -> None:
    """Keep a Wisenet account tagged by learner lifecycle stage."""
    settings = load_log_settings()
    configure_command_logging(
        settings.log_format,
        settings.log_level,
        for_person=for_person(context.invoked_subcommand, terminal=sys.stderr.isatty()),
        verbose=verbose,
        quiet=quiet,
    )


@cli.command()
@click.option(
    "--sandbox",
    "embedded",
    is_flag=True,
    help="Start an embedded sandbox (300 learners) and check against it instead of Wisenet.",
)
@click.pass_obj
def check(runtime: Runtime, embedded: bool) -> None:
    """Reach Wisenet, load the combos, warn about the mapping's names, report the budget."""
    settings = runtime.settings
    with ExitStack() as stack:
        if embedded:
            server = stack.enter_context(serve(Sandbox(SandboxConfig(learners=300))))
            settings = settings.model_copy(
                update={
                    "wisenet_base_url": server.base_url,
                    "wisenet_api_key": SecretStr(DEFAULT_SANDBOX_KEY),
                }
            )
            click.echo("embedded sandbox (300 learners, seed 1)")
        click.echo(f"Wisenet at {settings.wisenet_base_url}")

        mapping, _ = read_mapping_source(Path(settings.mapping_file), warn=False)

        async def _run() -> None:
            async with build_client(settings, runtime.parts()) as client:
                report = await run_check(client, mapping)
            for line in report.lines():
                click.echo(line)

        asyncio.run(_run())
    click.echo("check passed")


def _region(value: str) -> str:
    """A holiday region the `holidays` package knows, else a usage error naming the option."""
    try:
        return business_calendar(value).region
    except UnknownRegionError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@click.option("--learners", default=300, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--today", type=ACCOUNT_DATE, help="The account's today (default: now).")
@click.option("--api-key", default=DEFAULT_SANDBOX_KEY, show_default=True)
@click.option("--rate-limit", default=10, show_default=True, type=int, help="Requests/s; 0 = off.")
@click.option("--daily-quota", default=1000, show_default=True, type=int, help="0 = unlimited.")
@click.option("--timezone", default="Australia/Sydney", show_default=True)
@click.option("--shuffle-combos", is_flag=True, help="Draw combo ids from the seed.")
@click.option("--frozen-clock", is_flag=True, help="Time moves only through the control API.")
@click.option(
    "--holidays",
    default="AU",
    show_default=True,
    callback=lambda _ctx, _param, value: _region(value),
    help="Public holidays the business-day cases count around (AU, AU-NSW, …).",
)
def sandbox(  # noqa: PLR0913, PLR0917 - one option per knob of the fake
    host: str,
    port: int,
    learners: int,
    seed: int,
    today: date | None,
    api_key: str,
    rate_limit: int,
    daily_quota: int,
    timezone: str,
    shuffle_combos: bool,
    frozen_clock: bool,
    holidays: str,
) -> None:
    """Serve a fake Wisenet v1 (/v1) with its control API (/_sandbox) for demos and tests."""
    config = SandboxConfig(
        learners=learners,
        seed=seed,
        today=today,
        timezone=timezone,
        api_keys=frozenset({api_key}),
        rate_limit=rate_limit,
        daily_quota=daily_quota,
        shuffle_combos=shuffle_combos,
        frozen_clock=frozen_clock,
        holidays=holidays,
    )
    fake = Sandbox(config)
    click.echo(
        f"sandbox: {len(fake.db.learners)} learners, {len(fake.cases)} planted cases, "
        f"today {fake.clock.today().isoformat()}; API http://{host}:{port}/v1, "
        f"control http://{host}:{port}/_sandbox"
    )
    uvicorn.run(create_app(fake), host=host, port=port, log_level="warning")


@cli.command()
@click.option(
    "--timeout",
    default=4.0,
    show_default=True,
    type=SecondsType(0.1, 60),
    help="Seconds to wait for an answer.",
)
@click.pass_obj
def healthcheck(runtime: Runtime, timeout: float) -> None:
    """Probe this host's `/healthz` on CONNECTOR_ADMIN_BIND (for container health checks)."""
    settings = runtime.settings
    url = probe_url(settings.admin_bind.host, settings.admin_bind.port)
    found = problem(url, timeout)
    if found is not None:
        raise click.ClickException(found)
    click.echo(f"{url}: healthy")


cli.add_command(mapping)
cli.add_command(deadletters)
cli.add_command(explain_command)
cli.add_command(sync_command)
cli.add_command(backfill_command)
cli.add_command(reconcile_command)
cli.add_command(sweep_command)
cli.add_command(run)
cli.add_command(status)
cli.add_command(report)
cli.add_command(export)
cli.add_command(purge)
cli.add_command(demo)
cli.add_command(db)
cli.add_command(config)
cli.add_command(worklist_command)
cli.add_command(digest_command)


def main(
    argv: Sequence[str] | None = None, *, clock: Clock | None = None, program: str = PROGRAM
) -> int:
    """Run the CLI and return its exit code; `program` is how the user runs it again."""
    runtime = Runtime(clock=clock or SystemClock(), program=program)
    try:
        returned = cli.main(
            args=list(argv) if argv is not None else None, standalone_mode=False, obj=runtime
        )
        sys.stdout.flush()  # a write that fails is reported here, not lost at exit
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.ClickException, click.exceptions.Abort, ConnectorError) as exc:
        return tell(exc)
    except OSError as exc:  # the output could not be written: a full disk, a closed pipe
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: {exc.strerror or type(exc).__name__}{where}", err=True)
        return EXIT_FAILED
    return returned if isinstance(returned, int) else EXIT_OK


def tell(exc: click.ClickException | click.exceptions.Abort | ConnectorError) -> int:
    """Say what stopped the command on stderr, one line (per bad setting); return the exit code."""
    if isinstance(exc, click.UsageError):  # a bad argument: one line naming it, not the usage
        command = exc.ctx.command_path if exc.ctx else "connector"
        click.echo(f"usage error: {command}: {exc.format_message()}", err=True)
        return EXIT_CONFIGURATION
    if isinstance(exc, click.ClickException):
        exc.show()
        return exc.exit_code
    if isinstance(exc, click.exceptions.Abort):
        click.echo("aborted", err=True)
        return EXIT_FAILED
    if isinstance(exc, ConfigurationError):
        for line in str(exc).splitlines():
            click.echo(f"configuration error: {line}", err=True)
        return EXIT_CONFIGURATION
    click.echo(f"error: {exc}", err=True)
    return EXIT_FAILED


def entry() -> None:
    """Console-script entry point."""
    invoked = program_as_invoked(sys.argv[0], shutil.which(PROGRAM), Path.cwd())
    sys.exit(main(program=invoked))
