"""`connector mapping …` and `connector explain`: what admins run against mapping files."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import click

from connector.bundle_file import bundle_from_data, parse_bundle_text, read_bundle_text
from connector.bundles import BundleError
from connector.errors import ConfigurationError
from jobs.cli.arguments import ACCOUNT_DATE, OUTPUT_FILE, RECORD_ID, write_output
from jobs.cli.dry_run_notice import outcome_lines
from jobs.cli.mapping_cases import run_case
from jobs.pipeline.context import DecisionContext, SyncReport
from jobs.pipeline.decide import BACKLOG, decide
from jobs.pipeline.mapping_apply import Impact, impact
from jobs.reports.report_page import render_preview
from jobs.setup.composition import opened_store
from jobs.setup.mapping_file import cannot_read, read_mapping_text
from jobs.setup.runtime import Runtime
from jobs.setup.settings import Settings
from mappings.bundle import LearnerBundle
from mappings.calendar import BusinessCalendar
from mappings.compiler import CompiledMapping, compile_mapping
from mappings.explain import explain, explanation_json, explanation_lines
from mappings.loader import ParsedMapping, parse_located, parse_mapping
from mappings.problems import MappingError
from mappings.schema import MappingSpec
from mappings.vocabulary import WISENET_VOCABULARY, never_matching

EXIT_PROBLEMS = 1


def read_mapping(path: Path, calendar: BusinessCalendar) -> CompiledMapping:
    """Load a mapping file; every problem is printed and the command exits 1."""
    return compile_mapping(read_mapping_spec(path), calendar)


def read_mapping_spec(path: Path) -> MappingSpec:
    """Parse and check a mapping file; every problem is printed and the command exits 1."""
    return read_mapping_source(path)[0].spec


def read_mapping_source(path: Path, *, warn: bool = True) -> tuple[ParsedMapping, str]:
    """A mapping file checked, and its text; every problem is printed and the command exits 1.

    An unreadable file is a configuration error (exit 2). Values that can never match (typographic
    quotes, names Wisenet does not document) are printed as warnings unless `warn` is off.
    """
    try:
        text = read_mapping_text(path)
        parsed = parse_located(text, str(path))
    except OSError as exc:
        raise ConfigurationError(cannot_read(path, exc)) from exc
    except MappingError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        count = len(exc.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise click.exceptions.Exit(EXIT_PROBLEMS) from exc
    if warn:
        for warning in never_matching(parsed, WISENET_VOCABULARY, "Wisenet's documented"):
            click.echo(str(warning), err=True)
    return parsed, text


async def _stored(
    settings: Settings, runtime: Runtime, learner_id: int, mapping_path: Path | None
) -> tuple[LearnerBundle, CompiledMapping]:
    """A stored learner's bundle and the mapping to explain it with (the active one)."""
    async with opened_store(settings, runtime.clock) as store:
        bundle = await store.bundles.one(learner_id)
        active = await store.mappings.active()
    if bundle is None:
        raise ConfigurationError(f"learner {learner_id} is not in the store")
    if mapping_path is not None:
        return bundle, read_mapping(mapping_path, settings.business_calendar())
    if active is None:
        return bundle, read_mapping(Path(settings.mapping_file), settings.business_calendar())
    return bundle, compile_mapping(
        parse_mapping(active[2], active[1]), settings.business_calendar()
    )


def mapping_schema() -> dict[str, object]:
    """The JSON Schema of mapping files."""
    schema = MappingSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Wisenet lifecycle connector mapping"
    return schema


@click.group()
def mapping() -> None:
    """Check, test and describe lifecycle mapping files."""


@mapping.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check_mapping(file: Path) -> None:
    """Check a mapping file; print every problem with its line and column."""
    spec = read_mapping_spec(file)
    click.echo(
        f"{file}: ok ({len(spec.course_enrolment_stages)} stage rules, {len(spec.flags)} "
        f"flags, {len(spec.tags.rules)} tag rules)"
    )


@mapping.command("schema")
def schema() -> None:
    """Print the JSON Schema of mapping files (for editors)."""
    click.echo(json.dumps(mapping_schema(), indent=2, sort_keys=True))


@mapping.command("test")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--cases",
    "cases_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A folder of case files (*.yaml).",
)
@click.pass_obj
def test_mapping(runtime: Runtime, file: Path, cases_dir: Path) -> None:
    """Run admin-written cases against a mapping; print a pass/fail table."""
    compiled = read_mapping(file, runtime.settings.business_calendar())
    paths = sorted([*cases_dir.glob("*.yaml"), *cases_dir.glob("*.yml")])
    if not paths:
        raise click.ClickException(f"{cases_dir}: no case files (*.yaml)")
    failed = 0
    for path in paths:
        try:
            result = run_case(path, compiled)
        except BundleError as exc:
            failed += 1
            click.echo(f"ERROR {path.name}: {exc}")
            continue
        if result.passed:
            click.echo(f"PASS  {path.name}: {result.name}")
            continue
        failed += 1
        click.echo(f"FAIL  {path.name}: {result.name}")
        for difference in result.differences:
            click.echo(f"        {difference}")
    click.echo(f"{len(paths) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(EXIT_PROBLEMS)


async def _impact_on_store(
    settings: Settings, runtime: Runtime, proposed: CompiledMapping, today: date
) -> Impact | None:
    """The impact of `proposed` on every stored learner; None when no mapping is active."""
    async with opened_store(settings, runtime.clock) as store:
        active = await store.mappings.active()
        if active is None:
            return None
        current = compile_mapping(parse_mapping(active[2], active[1]), settings.business_calendar())
        return await impact(store, current, proposed, today)


@mapping.command("preview")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--as-of", "as_of", type=ACCOUNT_DATE, help="Evaluate as of DATE.")
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON shape.")
@click.option(
    "--html",
    "html_file",
    type=OUTPUT_FILE,
    help="Write the preview as one self-contained HTML page.",
)
@click.pass_obj
def preview_mapping(
    runtime: Runtime, file: Path, as_of: date | None, as_json: bool, html_file: Path | None
) -> None:
    """What switching to FILE would change for every stored learner; no call to Wisenet."""
    settings = runtime.settings
    proposed = compile_mapping(read_mapping_spec(file), settings.business_calendar())
    today = as_of or runtime.today(settings.timezone)
    found = asyncio.run(_impact_on_store(settings, runtime, proposed, today))
    if found is None:
        raise ConfigurationError("the store has no active mapping yet: nothing to compare with")
    quota = settings.wisenet_daily_quota
    if as_json:
        click.echo(json.dumps(found.as_json(quota), indent=2, sort_keys=True))
    elif html_file is not None:
        write_output(html_file, render_preview(found, quota, file.name), "--html")
        click.echo(f"preview written to {html_file} (it holds learner ids)")
    else:
        for line in found.lines(quota):
            click.echo(line)


@mapping.command("apply")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Switch without asking.")
@click.pass_obj
def apply_mapping(runtime: Runtime, file: Path, yes: bool) -> None:
    """Show what a mapping would change, switch to it, and re-decide every stored learner."""
    parsed, text = read_mapping_source(file)
    settings = runtime.settings
    proposed = compile_mapping(parsed.spec, settings.business_calendar())
    today = runtime.today(settings.timezone)

    found = asyncio.run(_impact_on_store(settings, runtime, proposed, today))
    if found is not None:
        for line in found.lines(settings.wisenet_daily_quota):
            click.echo(line)
    if not yes and not click.confirm(f"Make {file} the active mapping?", default=False):
        click.echo("not applied")
        raise click.exceptions.Exit(EXIT_PROBLEMS)

    async def _switch() -> tuple[int, SyncReport]:
        async with opened_store(settings, runtime.clock) as store:
            version = await store.mappings.activate(text, str(file))
            ctx = DecisionContext(
                store=store, mapping=proposed, mapping_version=version, account_tz=settings.timezone
            )
            report = SyncReport()
            await decide(ctx, await store.snapshots.learner_ids(), report, priority=BACKLOG)
            return version, report

    version, report = asyncio.run(_switch())
    decided = f"{report.learners_evaluated} learner(s) re-decided"
    for line in outcome_lines(
        settings,
        f"mapping version {version} is active; {decided}, {report.writes_planned} write(s) queued",
        f"mapping version {version} would be active; {decided}, "
        f"{report.writes_planned} write(s) would be queued",
    ):
        click.echo(line)


@click.command("explain")
@click.argument("learner_id", type=RECORD_ID, required=False)
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A bundle file: the learner's records as the API returns them.",
)
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The mapping file (default: the store's active mapping, or CONNECTOR_MAPPING_FILE).",
)
@click.option(
    "--as-of",
    "as_of",
    type=ACCOUNT_DATE,
    help="Evaluate as if today were this date.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON shape.")
@click.pass_obj
def explain_command(
    runtime: Runtime,
    learner_id: int | None,
    bundle_path: Path | None,
    mapping_path: Path | None,
    as_of: date | None,
    as_json: bool,
) -> None:
    """Show a learner's stage, flags and tags, and why: which rules matched and which did not.

    Name a stored learner (LEARNER_ID) or give a bundle file (--bundle).
    """
    if (learner_id is None) == (bundle_path is None):
        raise click.UsageError("give a LEARNER_ID or --bundle FILE (one of them)")
    settings = runtime.settings
    today = as_of or runtime.today(settings.timezone)
    if bundle_path is not None:
        compiled = read_mapping(
            mapping_path or Path(settings.mapping_file), settings.business_calendar()
        )
        try:
            text = read_bundle_text(bundle_path)
            loaded = bundle_from_data(parse_bundle_text(text, str(bundle_path)), str(bundle_path))
        except BundleError as exc:
            raise ConfigurationError(str(exc)) from exc
        for warning in loaded.warnings:
            click.echo(f"warning: {warning}", err=True)
        bundle = loaded.bundle
    else:
        assert learner_id is not None  # noqa: S101 - checked above
        bundle, compiled = asyncio.run(_stored(settings, runtime, learner_id, mapping_path))
    explanation = explain(bundle, compiled, today)
    if as_json:
        click.echo(json.dumps(explanation_json(explanation), indent=2))
    else:
        click.echo(f"as of {today.isoformat()}")
        for line in explanation_lines(explanation):
            click.echo(line)
