"""design.md §1: what each folder may import, checked on the source itself."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_ALLOWED = {"pydantic", "pydantic_core", "ruamel", "yaml", "mappings", "annotated_types"}
CLOCK_AND_ENVIRONMENT = {
    ("os", "environ"),
    ("os", "getenv"),
    ("datetime", "now"),
    ("datetime", "today"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
}


def python_files(folder: str) -> list[Path]:
    """Every Python file under one top-level folder."""
    return sorted((ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[str]:
    """Top-level and full names of every module a file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def attribute_reads(path: Path) -> Iterator[tuple[str, str]]:
    """Every `name.attr` in a file, e.g. ("os", "environ")."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            yield node.value.id, node.attr


@pytest.mark.parametrize("path", python_files("mappings"), ids=lambda p: p.name)
def test_the_core_imports_only_the_stdlib_pydantic_and_the_yaml_parser(path: Path) -> None:
    """mappings/ is pure: no httpx, sqlalchemy, apscheduler, connector or jobs."""
    for module in imported_modules(path):
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names or top in CORE_ALLOWED, f"{path.name}: {module}"


@pytest.mark.parametrize("path", python_files("mappings"), ids=lambda p: p.name)
def test_the_core_reads_no_clock_and_no_environment(path: Path) -> None:
    """Today is an input to mappings/, never read inside it."""
    found = set(attribute_reads(path)) & CLOCK_AND_ENVIRONMENT
    assert not found, f"{path.name} reads {found}"


@pytest.mark.parametrize("path", python_files("connector"), ids=lambda p: p.name)
def test_the_edges_never_import_the_shell(path: Path) -> None:
    """connector/ may import mappings/ and libraries, never jobs/."""
    assert not [m for m in imported_modules(path) if m.split(".")[0] == "jobs"]


EDGE_MAY_IMPORT = {  # what each folder of connector/ may import of connector/ (besides itself)
    "wisenet": {"errors", "clock", "bundles"},
    "store": {"errors", "clock", "wisenet"},
    "webhooks": {"errors", "clock", "metrics", "store", "wisenet"},
}


@pytest.mark.parametrize(
    "path",
    [p for folder in EDGE_MAY_IMPORT for p in python_files(f"connector/{folder}")],
    ids=lambda p: p.relative_to(ROOT / "connector").as_posix(),
)
def test_each_edge_imports_only_the_edges_it_builds_on(path: Path) -> None:
    """The client knows no store; the store reads the entity registry, never the receiver."""
    folder = path.relative_to(ROOT / "connector").parts[0]
    allowed = EDGE_MAY_IMPORT[folder] | {folder}
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] == "connector" and len(parts) > 1:
            assert parts[1] in allowed, f"{path.relative_to(ROOT)} imports {module}"


@pytest.mark.parametrize("path", python_files("connector/sandbox"), ids=lambda p: p.name)
def test_the_sandbox_never_imports_the_client(path: Path) -> None:
    """The sandbox and the client are tested against the contract independently."""
    forbidden = [m for m in imported_modules(path) if m.startswith("connector.wisenet")]
    assert not forbidden, f"{path.name} imports {forbidden}"


def test_the_container_health_check_imports_only_the_standard_library() -> None:
    """`python -m jobs.service.healthcheck` runs every 30 s: it must not load the program."""
    imported = {
        m.split(".")[0] for m in imported_modules(ROOT / "jobs" / "service" / "healthcheck.py")
    }
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported


def defines_a_command(path: Path) -> bool:
    """Whether a module defines a click command or group (a function decorated with one)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr in {"command", "group"}:
                    return True
    return False


COMMANDS = [p for p in python_files("jobs/cli") if p.name != "main.py" and defines_a_command(p)]
FOLDERS = ("cli", "service", "pipeline", "reports", "setup")
MAY_IMPORT = {  # which folders of jobs/ each folder may import (besides itself)
    "setup": {"pipeline"},
    "pipeline": set(),
    "reports": {"setup", "pipeline"},
    "service": {"setup", "pipeline", "reports"},
    "cli": {"setup", "pipeline", "reports", "service"},
}


def test_every_command_module_is_found() -> None:
    """The rule below has something to check: the command groups are known."""
    names = {p.stem for p in COMMANDS}
    assert {"sync", "mapping", "report", "status", "worklist", "digest"} <= names, names


@pytest.mark.parametrize(
    "path",
    [p for p in python_files("jobs") if p.relative_to(ROOT).as_posix() != "jobs/cli/main.py"],
    ids=lambda p: p.relative_to(ROOT / "jobs").as_posix(),
)
def test_no_module_but_the_command_line_root_imports_a_command_module(path: Path) -> None:
    """Commands share code through ordinary modules; only `jobs/cli/main.py` gathers them."""
    commands = {f"jobs.cli.{p.stem}" for p in COMMANDS}
    found = [m for m in imported_modules(path) if m in commands]
    assert not found, f"{path.name} imports {found}"


def test_jobs_is_grouped_in_folders() -> None:
    """No loose modules: each file of jobs/ sits in a folder that says what it holds."""
    loose = {p.name for p in (ROOT / "jobs").glob("*.py")} - {"__init__.py"}
    assert not loose, loose
    assert {p.name for p in (ROOT / "jobs").iterdir() if p.is_dir()} - {"__pycache__"} == set(
        FOLDERS
    )


@pytest.mark.parametrize(
    "path", python_files("jobs"), ids=lambda p: p.relative_to(ROOT / "jobs").as_posix()
)
def test_each_folder_of_jobs_imports_only_the_folders_below_it(path: Path) -> None:
    """The pipeline at the bottom, setup wiring it, reports on both, the service and CLI on top."""
    folder = path.relative_to(ROOT / "jobs").parts[0]
    if folder not in FOLDERS:
        return
    allowed = MAY_IMPORT[folder] | {folder}
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] == "jobs" and len(parts) > 1:
            assert parts[1] in allowed, f"{path.relative_to(ROOT)} imports {module}"


def test_the_rule_catches_an_impure_core_module(tmp_path: Path) -> None:
    """The checks above do find what they look for."""
    bad = tmp_path / "impure.py"
    bad.write_text("import httpx\nimport os\nx = os.environ['A']\n")
    assert "httpx" in set(imported_modules(bad))
    assert ("os", "environ") in set(attribute_reads(bad))
