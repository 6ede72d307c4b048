"""The demo prints its program as the user can run it again."""

from __future__ import annotations

from pathlib import Path

from jobs.cli.demo_tour import program_as_invoked, tour_lines


def script(path: Path) -> Path:
    """An executable file at `path` (its folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_name_alone_when_path_finds_this_very_program(tmp_path: Path) -> None:
    """`connector` on PATH is the one running, however it was invoked."""
    ran = script(tmp_path / ".venv" / "bin" / "connector")
    assert program_as_invoked(str(ran), str(ran), tmp_path) == "connector"
    assert program_as_invoked(".venv/bin/connector", str(ran), tmp_path) == "connector"


def test_the_invoked_path_when_path_finds_none_or_another(tmp_path: Path) -> None:
    """Relative to the folder when inside it; absolute outside; never the name alone."""
    ran = script(tmp_path / "project" / ".venv" / "bin" / "connector")
    other = script(tmp_path / "elsewhere" / "connector")
    project = tmp_path / "project"
    assert program_as_invoked(str(ran), None, project) == ".venv/bin/connector"
    assert program_as_invoked(".venv/bin/connector", str(other), project) == ".venv/bin/connector"
    assert program_as_invoked(str(ran), None, tmp_path / "elsewhere") == str(ran)
    assert program_as_invoked("./connector", None, tmp_path / "elsewhere") == "./connector"


def test_each_printed_command_starts_with_the_program_given() -> None:
    """The setting, then the program, then the command."""
    lines = tour_lines(Path("var/demo.db"), "config/mapping.yaml", 10003, ".venv/bin/connector")
    commands = [line.strip() for line in lines[1:]]
    assert commands[0] == (
        "CONNECTOR_DATABASE_URL=sqlite+aiosqlite:///var/demo.db .venv/bin/connector status"
    )
    assert all(" .venv/bin/connector " in command for command in commands)
    assert "explain 10003" in commands[3]
