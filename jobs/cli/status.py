"""`connector status`: what the store knows, with no call to Wisenet."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connector.clock import Clock
from connector.store.budget import StoreBudget
from jobs.pipeline.runs import write_reserve
from jobs.reports.digest_job import channels_from
from jobs.setup.composition import opened_store
from jobs.setup.mapping_file import MappingFileWatch
from jobs.setup.runtime import Runtime
from jobs.setup.settings import Settings


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
        facts = await store.runs.status_facts()
        budget = await StoreBudget(
            store.budget,
            settings.wisenet_daily_quota,
            settings.timezone,
            settings.wisenet_quota_reset,
            clock,
        ).state()
        active = await store.mappings.active()
        on_disk = await MappingFileWatch(Path(settings.mapping_file)).check(
            active[2] if active else None
        )
        inbox = await store.inbox.state()
        digest = await store.digests.last()
        leader = await store.scheduler_lock.holder()
        binding = await store.binding()
    facts.update(
        wisenet=None
        if binding is None
        else {
            "base_url": binding.base_url,
            "account_number": binding.account_number,
            "settings_match": not binding.refuses(
                settings.wisenet_base_url, settings.wisenet_account_number
            ),
        },
        scheduler={"leader": leader},
        mapping={
            "version": active[0] if active else None,
            "source": active[1] if active else None,
            "file_differs": on_disk.differs,
            "file": on_disk.as_json(),
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
        digest=None
        if digest is None
        else {
            "day": digest.day.isoformat(),
            "outcome": digest.outcome,
            "attempts": digest.attempts,
            "detail": digest.detail,
            "finished_at": _iso(digest.finished_at),
        },
        digest_channels=channels_from(settings).names,
        write_eta=eta(facts["outbox"], budget.remaining, budget.quota, settings.wisenet_rate_limit),
    )
    return facts


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def binding_lines(wisenet: dict[str, Any] | None) -> list[str]:
    """Which Wisenet the store belongs to, and whether the settings' Wisenet may use it."""
    if wisenet is None:
        return ["bound to Wisenet: not yet (the first sync binds the store)"]
    account = wisenet["account_number"] or "-"
    lines = [f"bound to Wisenet at {wisenet['base_url']} (account {account})"]
    if not wisenet["settings_match"]:
        lines.append(
            "  the settings name another Wisenet: commands that call it refuse this store "
            "(reading it works)"
        )
    return lines


def write_backlog_line(facts: dict[str, Any]) -> str:
    """The writes waiting: those queued for the budget apart from those blocked by configuration.

    `outbox` counts the writes that will be sent; `blocked` groups the others by tag.
    """
    queued = int(facts["outbox"])
    done_in = f" (done in {facts['write_eta']})" if queued else ""
    blocked = sum(int(group["writes"]) for group in facts["blocked"])
    return f"writes waiting: {queued} queued for the budget{done_in}, {blocked} blocked"


def digest_line(digest: dict[str, Any] | None, channels: list[str]) -> str:
    """The last daily digest and how its sending went."""
    where = ", ".join(channels) or "no channel set up"
    if digest is None:
        return f"digest: none made yet ({where})"
    line = f"digest of {digest['day']}: {digest['outcome']} after {digest['attempts']} attempt(s)"
    if digest["detail"]:
        line += f" ({digest['detail']})"
    return f"{line}; channels: {where}"


def status_lines(facts: dict[str, Any]) -> list[str]:
    """`status` as text."""
    mapping = facts["mapping"]
    budget = facts["budget"]
    lines = [f"learners stored: {facts['learners']}", *binding_lines(facts["wisenet"])]
    lines.append(f"active mapping: version {mapping['version']} from {mapping['source']}")
    if mapping["file_differs"]:
        lines.append(
            "  the mapping file differs from the active mapping; "
            "`connector mapping apply FILE` switches"
        )
    if mapping["file"]["problem"]:
        lines.append(
            f"  the mapping file is {mapping['file']['state']} (the active mapping stays in use): "
            f"{mapping['file']['problem']}"
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
    lines.append(write_backlog_line(facts))
    lines.extend(
        f"{group['writes']} write(s) blocked: {group['reason']}" for group in facts["blocked"]
    )
    lines.append(f"dead letters: {facts['dead_letters']}")
    lines.append(digest_line(facts["digest"], facts["digest_channels"]))
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
    """Cursors, last runs, the write backlog with an ETA, blocked writes, dead letters, budget."""
    settings = runtime.settings
    facts = asyncio.run(gather(settings, runtime.clock))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    for line in status_lines(facts):
        click.echo(line)
