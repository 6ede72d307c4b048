"""`connector deadletters list|replay|discard`: the writes Wisenet refused, for an operator.

Replaying decides the learners again from the store (no call to Wisenet) and queues the write
wanted now; the writer sends it with the next sync or within a minute under `connector run`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from connector.store.dead_letters import DeadLetter, list_dead_letters, remove_dead_letters
from jobs.bootstrap import active_mapping
from jobs.logging import configure_logging
from jobs.runtime import Runtime
from jobs.settings import load_settings
from jobs.status_cli import opened_store
from jobs.sync import DecisionContext, SyncReport, decide


@click.group("deadletters")
def deadletters() -> None:
    """Writes Wisenet refused: list, replay or discard them."""


def _chosen(ids: tuple[int, ...], every: bool) -> list[int] | None:
    if every == bool(ids):
        raise click.UsageError("name dead letter ids, or pass --all")
    return None if every else list(ids)


@deadletters.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_command(runtime: Runtime, as_json: bool) -> None:
    """Every dead letter with its reason and attempt count (ids only, no personal data)."""
    settings = load_settings()
    configure_logging(settings.log_format)

    async def _list() -> list[DeadLetter]:
        async with opened_store(settings, runtime.clock) as store:
            return await list_dead_letters(store)

    letters = asyncio.run(_list())
    for letter in letters:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": letter.id,
                        "course_enrolment_id": letter.course_enrolment_id,
                        "learner_id": letter.learner_id,
                        "reason": letter.reason,
                        "attempts": letter.attempts,
                        "add": letter.add,
                        "remove": letter.remove,
                        "created_at": letter.created_at.isoformat(timespec="seconds"),
                    }
                )
            )
        else:
            click.echo(
                f"{letter.id}: course enrolment {letter.course_enrolment_id} "
                f"(learner {letter.learner_id}), {letter.attempts} attempt(s), "
                f"{letter.created_at.isoformat(timespec='minutes')}: {letter.reason}"
            )
    if not as_json:
        click.echo(f"{len(letters)} dead letter(s)")


@deadletters.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Replay every dead letter.")
@click.pass_obj
def replay_command(runtime: Runtime, ids: tuple[int, ...], every: bool) -> None:
    """Decide the learners of these dead letters again and queue the writes wanted now."""
    chosen = _chosen(ids, every)
    settings = load_settings()
    configure_logging(settings.log_format)

    async def _replay() -> tuple[int, SyncReport]:
        async with opened_store(settings, runtime.clock) as store:
            letters = await list_dead_letters(store, chosen)
            version, mapping = await active_mapping(store, Path(settings.mapping_file))
            ctx = DecisionContext(
                store=store, mapping=mapping, mapping_version=version, account_tz=settings.timezone
            )
            report = SyncReport()
            learners = {letter.learner_id for letter in letters if letter.learner_id is not None}
            await decide(ctx, learners, report)
            await remove_dead_letters(store, [letter.id for letter in letters])
            return len(letters), report

    count, report = asyncio.run(_replay())
    click.echo(
        f"replayed {count} dead letter(s): {report.learners_evaluated} learner(s) decided again, "
        f"{report.writes_planned} write(s) queued"
    )


@deadletters.command("discard")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Discard every dead letter.")
@click.pass_obj
def discard_command(runtime: Runtime, ids: tuple[int, ...], every: bool) -> None:
    """Delete dead letters for good."""
    chosen = _chosen(ids, every)
    settings = load_settings()
    configure_logging(settings.log_format)

    async def _discard() -> int:
        async with opened_store(settings, runtime.clock) as store:
            letters = await list_dead_letters(store, chosen)
            return await remove_dead_letters(store, [letter.id for letter in letters])

    click.echo(f"discarded {asyncio.run(_discard())} dead letter(s)")
