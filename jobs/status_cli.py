"""`connector status`: what the store knows, with no call to Wisenet."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connector.clock import Clock
from connector.store.budget import StoreBudget
from connector.store.inbox import inbox_state
from connector.store.leadership import scheduler_holder
from connector.store.store import Store, status_facts
from jobs.bootstrap import mapping_file_differs
from jobs.logging import configure_logging
from jobs.runtime import Runtime
from jobs.settings import Settings, load_settings
from jobs.sync import write_reserve


@asynccontextmanager
async def opened_store(settings: Settings, clock: Clock) -> AsyncIterator[Store]:
    """The store alone (commands that never call Wisenet need no API key)."""
    store = await Store.open(
        settings.database_url,
        clock,
        base_url=settings.wisenet_base_url,
        account_number=settings.wisenet_account_number,
    )
    try:
        yield store
    finally:
        await store.close()


def eta(backlog: int, remaining_today: int, quota: int, rate: float) -> str:
    """How long a write backlog takes at the rate, within the daily budget."""
    if backlog == 0:
        return "none"
    if backlog <= remaining_today:
        return f"about {math.ceil(backlog / rate / 60)} minute(s)"
    days = math.ceil((backlog - remaining_today) / max(quota, 1))
    return f"about {days + 1} day(s) (the daily budget limits it)"


async def gather(settings: Settings, clock: Clock) -> dict[str, Any]:
    """Everything `status` shows."""
    async with opened_store(settings, clock) as store:
        facts = await status_facts(store)
        budget = await StoreBudget(
            store,
            settings.wisenet_daily_quota,
            settings.timezone,
            settings.wisenet_quota_reset,
            clock,
        ).state()
        active = await store.active_mapping()
        differs = await mapping_file_differs(store, Path(settings.mapping_file))
        inbox = await inbox_state(store)
        leader = await scheduler_holder(store)
    facts.update(
        scheduler={"leader": leader},
        mapping={
            "version": active[0] if active else None,
            "source": active[1] if active else None,
            "file_differs": differs,
        },
        budget={
            "day": budget.day.isoformat(),
            "used": budget.used,
            "quota": budget.quota,
            "remaining": budget.remaining,
            "exhausted": budget.exhausted,
            "resets_at": budget.resets_at.isoformat(timespec="minutes"),
            "write_reserve": write_reserve(budget.quota),
            "reads_paused": budget.remaining < write_reserve(budget.quota),
        },
        webhooks={
            "inbox_depth": inbox.depth,
            "oldest_pending": _iso(inbox.oldest_pending),
            "last_delivery": _iso(inbox.last_delivery),
        },
        write_eta=eta(facts["outbox"], budget.remaining, budget.quota, settings.wisenet_rate_limit),
    )
    return facts


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def status_lines(facts: dict[str, Any]) -> list[str]:
    """`status` as text."""
    mapping = facts["mapping"]
    budget = facts["budget"]
    lines = [
        f"learners stored: {facts['learners']}",
        f"active mapping: version {mapping['version']} from {mapping['source']}",
    ]
    if mapping["file_differs"]:
        lines.append(
            "  the mapping file differs from the active mapping; "
            "`connector mapping apply FILE` switches"
        )
    lines.append(
        "cursors: "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(facts["cursors"].items()))
            or "none yet (the first sync reads everything)"
        )
    )
    for job, run in sorted(facts["last_runs"].items()):
        detail = ", ".join(f"{k} {v}" for k, v in run["detail"].items())
        lines.append(f"last {job}: {run['outcome'] or 'running'} at {run['started_at']} ({detail})")
    leader = facts["scheduler"]["leader"]
    lines.append(
        f"scheduler: held by {leader}" if leader else "scheduler: no `connector run` holds it"
    )
    lines.append(f"writes waiting: {facts['outbox']}; done in {facts['write_eta']}")
    lines.append(f"dead letters: {facts['dead_letters']}")
    hooks = facts["webhooks"]
    lines.append(
        f"webhooks: {hooks['inbox_depth']} waiting (oldest {hooks['oldest_pending'] or '-'}); "
        f"last delivery {hooks['last_delivery'] or 'never'}"
    )
    state = "exhausted until the reset" if budget["exhausted"] else f"{budget['remaining']} left"
    lines.append(
        f"budget {budget['day']}: {budget['used']} of {budget['quota']} requests used, "
        f"{state} (resets {budget['resets_at']})"
    )
    reads = "paused: the rest is kept for writes" if budget["reads_paused"] else "running"
    lines.append(
        f"  shares: writes keep the last {budget['write_reserve']}; polls, backfill and "
        f"reconcile use the rest ({reads})"
    )
    return lines


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(runtime: Runtime, as_json: bool) -> None:
    """Cursors, last runs, the write backlog with an ETA, dead letters, the day's budget."""
    settings = load_settings()
    configure_logging(settings.log_format)
    facts = asyncio.run(gather(settings, runtime.clock))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    for line in status_lines(facts):
        click.echo(line)
