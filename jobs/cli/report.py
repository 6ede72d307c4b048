"""`connector report`, `connector export` and `connector purge`: what the store knows, read out.

Reports give counts; exports give one row per course enrolment with ids, stages, flags and
desired tags. Both are personal data and say so; neither calls Wisenet.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from connector.store.store import Store
from jobs.cli.arguments import OUTPUT_FILE, write_output
from jobs.cli.dry_run_notice import outcome_lines
from jobs.cli.summary import stage_order
from jobs.reports.report_page import report_html
from jobs.setup.composition import opened_store
from jobs.setup.runtime import Runtime
from mappings.loader import parse_mapping

NOTICE = "this output holds personal data (learner ids and their lifecycle); handle it as such"
EXPORT_COLUMNS = (
    "learner_id",
    "learner_stage",
    "course_enrolment_id",
    "stage",
    "flags",
    "desired_tags",
    "stage_since",
)


async def mapping_stages(store: Store) -> list[str]:
    """The active mapping's stages in lifecycle order (none without a mapping)."""
    active = await store.mappings.active()
    return list(parse_mapping(active[2], active[1]).stages) if active else []


@click.command("report")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (section, name, count).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--html",
    "html_file",
    type=OUTPUT_FILE,
    help="Write the report as one self-contained HTML page with charts.",
)
@click.pass_obj
def report(runtime: Runtime, as_csv: bool, as_json: bool, html_file: Path | None) -> None:
    """Learners per stage and flags by type, from the store (or the HTML report)."""
    settings = runtime.settings
    if html_file is not None:

        async def _page() -> str:
            async with opened_store(settings, runtime.clock) as store:
                return await report_html(store, settings.wisenet_daily_quota, settings.timezone)

        write_output(html_file, asyncio.run(_page()), "--html")
        click.echo(f"report written to {html_file} ({NOTICE})")
        return

    async def _counts() -> tuple[dict[str, dict[str, int]], list[str]]:
        async with opened_store(settings, runtime.clock) as store:
            return await store.decisions.summary(), await mapping_stages(store)

    counts, stages = asyncio.run(_counts())
    click.echo(NOTICE, err=True)
    if as_json:
        click.echo(json.dumps(counts, indent=2, sort_keys=True))
        return
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(("section", "name", "count"))
        for section in ("stages", "flags"):
            for name, count in sorted(counts[section].items()):
                writer.writerow((section, name, count))
        return
    click.echo("learners by stage:")
    for name in stage_order(stages, list(counts["stages"])):
        click.echo(f"  {name:<24}{counts['stages'].get(name, 0):>8}")
    click.echo("flags:")
    for name, count in sorted(counts["flags"].items()):
        click.echo(f"  {name:<24}{count:>8}")


@click.command("export")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of CSV.")
@click.pass_obj
def export(runtime: Runtime, as_json: bool) -> None:
    """One row per course enrolment: stages, flags, desired tags (streamed)."""
    settings = runtime.settings
    click.echo(NOTICE, err=True)

    async def _stream() -> None:
        async with opened_store(settings, runtime.clock) as store:
            writer = None if as_json else csv.writer(sys.stdout)
            if writer is not None:
                writer.writerow(EXPORT_COLUMNS)
            async for row in store.runs.export():
                if writer is None:
                    click.echo(json.dumps(row))
                else:
                    writer.writerow([_cell(row[column]) for column in EXPORT_COLUMNS])

    asyncio.run(_stream())


def _cell(value: Any) -> Any:
    return ";".join(value) if isinstance(value, list) else value


@click.command("purge")
@click.pass_obj
def purge(runtime: Runtime) -> None:
    """Delete run log, dead letters and stage history older than CONNECTOR_RETENTION."""
    settings = runtime.settings

    async def _purge() -> dict[str, int]:
        async with opened_store(settings, runtime.clock) as store:
            return await store.runs.purge(runtime.clock.now() - settings.retention)

    removed = asyncio.run(_purge())
    counts = ", ".join(f"{name} {count}" for name, count in removed.items())
    for line in outcome_lines(settings, f"purged: {counts}", f"would purge: {counts}"):
        click.echo(line)
