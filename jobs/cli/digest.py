"""`connector digest`: print today's digest, or send it now (no call to Wisenet)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import click

from connector.errors import ConfigurationError
from jobs.reports.digest import compose_digest
from jobs.reports.digest_job import channels_from, send_digest, source_from
from jobs.reports.digest_send import Delivery, DigestSender
from jobs.setup.composition import opened_store
from jobs.setup.runtime import Runtime
from jobs.setup.settings import ENV_PREFIX


@click.command("digest")
@click.option("--send", is_flag=True, help="Send it now to the channels set up (with retries).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--by-owner", is_flag=True, help="Add open work by owner (coordinator, else trainer)."
)
@click.pass_obj
def digest_command(runtime: Runtime, send: bool, as_json: bool, by_owner: bool) -> int:
    """Today's digest: open work by flag, the most overdue, writes and budget, admin tasks."""
    settings = runtime.settings
    source = source_from(settings)
    if by_owner:
        source = replace(source, by_owner=True)
    if send:
        channels = channels_from(settings)
        if not channels.names:
            raise ConfigurationError(
                f"no digest channel is set up: set {ENV_PREFIX}DIGEST_SMTP_URL (with "
                f"{ENV_PREFIX}DIGEST_FROM and {ENV_PREFIX}DIGEST_TO) or "
                f"{ENV_PREFIX}DIGEST_WEBHOOK_URL"
            )

        async def _send() -> Delivery | None:
            async with opened_store(settings, runtime.clock) as store:
                # A person waits for it: three attempts over 15 seconds, not the service's hour.
                sender = DigestSender(channels, attempts=3, first_wait=5.0)
                return await send_digest(store, runtime.clock, source, sender, again=True)

        delivery = asyncio.run(_send())
        assert delivery is not None  # noqa: S101 - sent again on request, never skipped
        if as_json:
            click.echo(json.dumps({"outcome": delivery.outcome, "errors": delivery.errors}))
        else:
            click.echo(f"digest {delivery.outcome} ({', '.join(channels.names)})")
            if delivery.detail:
                click.echo(delivery.detail, err=True)
        return 0 if delivery.outcome == "sent" else 1

    async def _compose() -> str:
        async with opened_store(settings, runtime.clock) as store:
            made = await compose_digest(store, runtime.clock, source)
        return json.dumps(made.as_json(), indent=2) if as_json else made.text()

    click.echo(asyncio.run(_compose()), nl=as_json)
    return 0
