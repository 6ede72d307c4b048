"""`connector deadletters list|replay|discard`: the writes Wisenet refused, for an operator.

Replaying decides the learners again from the store (no call to Wisenet) and queues the write
wanted now; the writer sends it with the next sync or within a minute under `connector run`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from connector.store.dead_letters import DeadLetter
from connector.store.store import Store
from jobs.cli.arguments import RECORD_ID
from jobs.cli.dry_run_notice import outcome_lines
from jobs.pipeline.context import DecisionContext, SyncReport
from jobs.pipeline.decide import decide
from jobs.setup.composition import active_mapping, opened_store
from jobs.setup.runtime import Runtime


@click.group("deadletters")
def deadletters() -> None:
    """Writes Wisenet refused: list, replay or discard them."""


def _chosen(ids: tuple[int, ...], every: bool) -> list[int] | None:
    if every == bool(ids):
        raise click.UsageError("name dead letter ids, or pass --all")
    return None if every else list(ids)


async def _existing(store: Store, chosen: list[int] | None) -> list[DeadLetter]:
    """The chosen dead letters; an id the store does not hold refuses them all (nothing done)."""
    letters = await store.dead_letters.read(chosen)
    unknown = sorted(set(chosen or ()) - {letter.id for letter in letters})
    if unknown:
        raise click.UsageError(
            f"no dead letter with id {', '.join(map(str, unknown))} "
            "(`connector deadletters list` shows them); nothing was changed"
        )
    return letters


@deadletters.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_command(runtime: Runtime, as_json: bool) -> None:
    """Every dead letter with its reason and attempt count (ids only, no personal data)."""
    settings = runtime.settings

    async def _list() -> list[DeadLetter]:
        async with opened_store(settings, runtime.clock) as store:
            return await store.dead_letters.read()

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
@click.argument("ids", nargs=-1, type=RECORD_ID)
@click.option("--all", "every", is_flag=True, help="Replay every dead letter.")
@click.pass_obj
def replay_command(runtime: Runtime, ids: tuple[int, ...], every: bool) -> None:
    """Decide the learners of these dead letters again and queue the writes wanted now."""
    chosen = _chosen(ids, every)
    settings = runtime.settings

    async def _replay() -> tuple[int, SyncReport]:
        async with opened_store(settings, runtime.clock) as store:
            letters = await _existing(store, chosen)
            version, mapping = await active_mapping(
                store, Path(settings.mapping_file), settings.business_calendar()
            )
            ctx = DecisionContext(
                store=store, mapping=mapping, mapping_version=version, account_tz=settings.timezone
            )
            report = SyncReport()
            learners = {letter.learner_id for letter in letters if letter.learner_id is not None}
            await decide(ctx, learners, report)
            await store.dead_letters.remove([letter.id for letter in letters])
            return len(letters), report

    count, report = asyncio.run(_replay())
    decided = f"{report.learners_evaluated} learner(s) decided again"
    for line in outcome_lines(
        settings,
        f"replayed {count} dead letter(s): {decided}, {report.writes_planned} write(s) queued",
        f"would replay {count} dead letter(s): {decided}, "
        f"{report.writes_planned} write(s) would be queued",
    ):
        click.echo(line)


@deadletters.command("discard")
@click.argument("ids", nargs=-1, type=RECORD_ID)
@click.option("--all", "every", is_flag=True, help="Discard every dead letter.")
@click.pass_obj
def discard_command(runtime: Runtime, ids: tuple[int, ...], every: bool) -> None:
    """Delete dead letters for good."""
    chosen = _chosen(ids, every)
    settings = runtime.settings

    async def _discard() -> int:
        async with opened_store(settings, runtime.clock) as store:
            letters = await _existing(store, chosen)
            return await store.dead_letters.remove([letter.id for letter in letters])

    count = asyncio.run(_discard())
    for line in outcome_lines(
        settings, f"discarded {count} dead letter(s)", f"would discard {count} dead letter(s)"
    ):
        click.echo(line)
