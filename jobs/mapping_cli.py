"""`connector mapping …` and `connector explain`: what admins run against mapping files."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from connector.bundle_file import bundle_from_data, parse_bundle_text
from connector.bundles import BundleError
from connector.errors import ConfigurationError
from jobs.mapping_cases import run_case
from jobs.runtime import Runtime
from jobs.settings import load_settings
from mappings.compiler import CompiledMapping, compile_mapping
from mappings.explain import explain, explanation_json, explanation_lines
from mappings.loader import MappingError, parse_mapping
from mappings.schema import MappingSpec

EXIT_PROBLEMS = 1


def read_mapping(path: Path) -> CompiledMapping:
    """Load a mapping file; every problem is printed and the command exits 1."""
    return compile_mapping(read_mapping_spec(path))


def read_mapping_spec(path: Path) -> MappingSpec:
    """Parse and check a mapping file; every problem is printed and the command exits 1."""
    try:
        return parse_mapping(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from exc
    except MappingError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        count = len(exc.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
        raise click.exceptions.Exit(EXIT_PROBLEMS) from exc


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
    compiled = read_mapping(file)
    click.echo(
        f"{file}: ok ({len(compiled.stage_rules)} stage rules, {len(compiled.flags)} "
        f"flags, {len(compiled.tag_rules)} tag rules)"
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
def test_mapping(file: Path, cases_dir: Path) -> None:
    """Run admin-written cases against a mapping; print a pass/fail table."""
    compiled = read_mapping(file)
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


@click.command("explain")
@click.option(
    "--bundle",
    "bundle_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A bundle file: the learner's records as the API returns them.",
)
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The mapping file (default: CONNECTOR_MAPPING_FILE).",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Evaluate as if today were this date.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stable JSON shape.")
@click.pass_obj
def explain_command(
    runtime: Runtime,
    bundle_path: Path,
    mapping_path: Path | None,
    as_of: datetime | None,
    as_json: bool,
) -> None:
    """Show a learner's stage, flags and tags, and why: which rules matched and which did not."""
    settings = load_settings()
    compiled = read_mapping(mapping_path or Path(settings.mapping_file))
    today = as_of.date() if as_of else runtime.today(settings.timezone)
    try:
        loaded = bundle_from_data(
            parse_bundle_text(bundle_path.read_text(), str(bundle_path)), str(bundle_path)
        )
    except BundleError as exc:
        raise ConfigurationError(str(exc)) from exc
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}", err=True)
    explanation = explain(loaded.bundle, compiled, today)
    if as_json:
        click.echo(json.dumps(explanation_json(explanation), indent=2))
    else:
        click.echo(f"as of {today.isoformat()}")
        for line in explanation_lines(explanation):
            click.echo(line)
