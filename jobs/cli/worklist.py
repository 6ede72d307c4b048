"""`connector worklist`: every open flag as a work item, most urgent first, from the store.

Ids, learner numbers and course codes only, never a name; no call to Wisenet.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys

import click

from connector.store.worklist import KINDS, WorkItem, selected
from connector.store.worklist import by_owner as _grouped
from jobs.setup.composition import opened_store
from jobs.setup.runtime import Runtime
from mappings.loader import parse_mapping

COLUMNS = tuple(WorkItem.__dataclass_fields__)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def csv_cell(value: object) -> object:
    """A value for CSV; text that a spreadsheet would take for a formula is quoted with `'`.

    Learner numbers, course codes and reasons come from Wisenet, where anyone may type them.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def item_line(item: WorkItem) -> str:
    """One item as a line a person reads."""
    if item.days_overdue is None:
        late = "-"
    elif item.days_overdue >= 0:
        late = f"{item.days_overdue}d late"
    else:
        late = f"due in {-item.days_overdue}d"
    learner = f"learner {item.learner_id}" + (
        f" ({item.learner_number})" if item.learner_number else ""
    )
    place = f" enrolment {item.course_enrolment_id}" if item.course_enrolment_id else ""
    course = f" {item.course_code}" if item.course_code else ""
    where = "" if item.subject in ("learner", "course_enrolment") else f" {item.subject} {item.id}"
    owner = "" if item.owner_id is None else f" [owner {item.owner_id}]"
    return f"{late:>12}  {item.flag:<24} {learner}{place}{course}{where}{owner}: {item.reason}"


@click.command("worklist")
@click.option("--kind", type=click.Choice(KINDS), help="Only flags of this kind.")
@click.option("--flag", "flag_names", multiple=True, help="Only this flag (repeatable).")
@click.option("--course", help="Only enrolments in this course code.")
@click.option(
    "--owner", type=int, help="Only items this staff id owns (coordinator, else trainer)."
)
@click.option(
    "--by-owner", "group_by_owner", is_flag=True, help="Group the items by owner, busiest first."
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV, one row per item.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
@click.pass_obj
def worklist_command(
    runtime: Runtime,
    kind: str | None,
    flag_names: tuple[str, ...],
    course: str | None,
    owner: int | None,
    group_by_owner: bool,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Every open flag as a work item, most urgent first (days past due, then kind)."""
    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    if course is not None and not course.strip():
        raise click.UsageError("--course needs a course code")
    settings = runtime.settings

    async def _read() -> tuple[list[WorkItem], set[str]]:
        async with opened_store(settings, runtime.clock) as store:
            active = await store.mappings.active()
            known = (
                {rule.id for rule in parse_mapping(active[2], active[1]).flags} if active else set()
            )
            return await store.worklist.items(runtime.today(settings.timezone)), known

    found, known = asyncio.run(_read())
    unknown = sorted(set(flag_names) - known - {item.flag for item in found})
    if unknown:
        raise click.UsageError(
            f"no flag called {', '.join(unknown)}; the mapping's flags: {', '.join(sorted(known))}"
        )
    items = selected(found, kind=kind, flag_names=flag_names, course=course, owner=owner)
    groups: list[tuple[int | None, list[WorkItem]]] = (
        _grouped(items) if group_by_owner else [(None, items)]
    )
    if as_json:
        click.echo(json.dumps(_json_of(groups, grouped=group_by_owner), indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        for _, group in groups:
            for item in group:
                values = item.as_json()
                writer.writerow([csv_cell(values[column]) for column in COLUMNS])
    elif not items:
        click.echo("no open work items")
    else:
        for who, group in groups:
            if group_by_owner:
                overdue = sum(1 for item in group if item.kind == "overdue")
                heading = "no owner" if who is None else f"owner {who}"
                click.echo(f"{heading}: {len(group)} item(s), {overdue} overdue")
            for item in group:
                click.echo(item_line(item))
        click.echo(f"{len(items)} work item(s)")


def _json_of(groups: list[tuple[int | None, list[WorkItem]]], *, grouped: bool) -> object:
    """One array of items, or of `{owner_id, items}` groups."""
    if grouped:
        return [
            {"owner_id": who, "items": [item.as_json() for item in group]} for who, group in groups
        ]
    return [item.as_json() for _, group in groups for item in group]
