"""The `connector` command line."""

from __future__ import annotations

import asyncio
import sys
from importlib.metadata import version

import click

from connector.errors import ConfigurationError, ConnectorError
from jobs.bootstrap import build_client
from jobs.check import run_check
from jobs.logging import configure_logging
from jobs.settings import load_settings

EXIT_FAILED = 1
EXIT_CONFIGURATION = 2


@click.group()
@click.version_option(version("wisenet-lifecycle-connector"), prog_name="connector")
def cli() -> None:
    """Keep a Wisenet account tagged by learner lifecycle stage."""


@cli.command()
def check() -> None:
    """Reach Wisenet, load the combos and report the day's budget; writes nothing."""
    settings = load_settings()
    configure_logging(settings.log_format)
    click.echo(f"Wisenet at {settings.wisenet_base_url}")

    async def _run() -> None:
        async with build_client(settings) as client:
            report = await run_check(client)
        for line in report.lines():
            click.echo(line)

    asyncio.run(_run())
    click.echo("check passed")


def main() -> None:
    """Run the CLI, turning the connector's errors into one clear line and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILED)
    except ConfigurationError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIGURATION)
    except ConnectorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
