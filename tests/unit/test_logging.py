"""Logging is configured once for every command: level and format from the audience and settings."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main, verbosity_first
from jobs.cli.progress import RunProgress
from jobs.setup.logging import LogLevel, for_person, resolve_format, resolve_level


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        """A person reads it."""
        return True


@pytest.mark.parametrize(
    ("setting", "for_person", "verbose", "quiet", "level"),
    [
        (None, True, 0, 0, "warning"),
        (None, False, 0, 0, "info"),
        (None, True, 1, 0, "info"),
        (None, True, 2, 0, "debug"),
        (None, True, 5, 0, "debug"),
        (None, False, 0, 1, "warning"),
        (None, True, 0, 1, "error"),
        (None, True, 0, 3, "error"),
        ("debug", True, 0, 0, "debug"),
        ("error", False, 1, 0, "warning"),
        ("info", True, 1, 1, "info"),
    ],
)
def test_the_level_is_the_setting_or_the_audiences_moved_by_verbose_and_quiet(
    setting: LogLevel | None, for_person: bool, verbose: int, quiet: int, level: LogLevel
) -> None:
    """Warning for a person, info for a machine, unless set; -v one step down, -q one up."""
    assert resolve_level(setting, for_person=for_person, verbose=verbose, quiet=quiet) == level


def test_the_format_is_console_for_a_person_and_json_for_a_machine_unless_set() -> None:
    """CONNECTOR_LOG_FORMAT wins over the audience."""
    assert resolve_format(None, for_person=True) == "console"
    assert resolve_format(None, for_person=False) == "json"
    assert resolve_format("json", for_person=True) == "json"
    assert resolve_format("console", for_person=False) == "console"


def test_the_service_logs_for_machines_even_on_a_terminal() -> None:
    """`connector run` logs JSON from info up wherever it starts.

    Other commands on a terminal are read by a person.
    """
    assert for_person("sync", terminal=True)
    assert not for_person("run", terminal=True)
    assert not for_person("sync", terminal=False)


def logged_after(argv: list[str], stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a command with `stream` as stderr, then log one info and one warning event."""
    monkeypatch.setattr("sys.stderr", stream)
    assert main(argv) == EXIT_OK
    log = structlog.get_logger("probe")
    log.info("probe.info")
    log.warning("probe.warning")
    return stream.getvalue()


def test_on_a_terminal_a_command_logs_warnings_for_a_person(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Warnings and up, not JSON."""
    logged = logged_after(["mapping", "schema"], Terminal(), monkeypatch)
    assert "probe.warning" in logged
    assert "probe.info" not in logged
    assert not logged.lstrip().startswith("{")


def test_verbose_on_a_terminal_shows_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """`connector -v COMMAND` logs one level lower."""
    logged = logged_after(["-v", "mapping", "schema"], Terminal(), monkeypatch)
    assert "probe.info" in logged
    assert "probe.warning" in logged


def test_verbose_and_quiet_may_follow_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`connector COMMAND -v` is `connector -v COMMAND`; after `--` a flag is an argument."""
    logged = logged_after(["mapping", "schema", "-v"], Terminal(), monkeypatch)
    assert "probe.info" in logged
    quiet = logged_after(["mapping", "-q", "schema"], io.StringIO(), monkeypatch)
    assert [json.loads(line)["event"] for line in quiet.splitlines()] == ["probe.warning"]
    assert verbosity_first(["sync", "-vv", "--dry-run", "-q", "--", "-v"]) == [
        "-vv",
        "-q",
        "sync",
        "--dry-run",
        "--",
        "-v",
    ]


def test_off_a_terminal_every_event_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Info and up, one JSON object a line."""
    logged = logged_after(["mapping", "schema"], io.StringIO(), monkeypatch)
    events = [json.loads(line)["event"] for line in logged.splitlines()]
    assert events == ["probe.info", "probe.warning"]


def test_quiet_and_the_setting_move_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """-q raises the level one step; CONNECTOR_LOG_LEVEL replaces the audience's default."""
    quiet = logged_after(["-q", "mapping", "schema"], io.StringIO(), monkeypatch)
    assert [json.loads(line)["event"] for line in quiet.splitlines()] == ["probe.warning"]
    monkeypatch.setenv("CONNECTOR_LOG_LEVEL", "ERROR")
    assert logged_after(["mapping", "schema"], io.StringIO(), monkeypatch) == ""
    lowered = logged_after(["-v", "mapping", "schema"], Terminal(), monkeypatch)
    assert "probe.warning" in lowered
    assert "probe.info" not in lowered


def test_a_bad_log_level_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2; the line names CONNECTOR_LOG_LEVEL and what it takes."""
    monkeypatch.setenv("CONNECTOR_LOG_LEVEL", "loud")
    assert main(["mapping", "schema"]) == EXIT_CONFIGURATION
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("configuration error: CONNECTOR_LOG_LEVEL: ")
    assert "'debug', 'info', 'warning' or 'error'" in err[0]


def screen(drawn: str) -> list[str]:
    """The lines a terminal shows for `drawn`: a carriage return writes over its line."""
    rows = []
    for line in drawn.split("\n"):
        row = ""
        for part in line.split("\r"):
            row = part + row[len(part) :]
        rows.append(row.rstrip())
    return [row for row in rows if row]


def test_a_warning_during_a_progress_bar_gets_a_line_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bar is cleared, the warning written, the bar drawn again below it: never glued."""
    terminal = Terminal()
    logged_after(["mapping", "schema"], terminal, monkeypatch)
    progress = RunProgress(terminal)
    progress.written(0, 10)
    structlog.get_logger("probe").warning("write.blocked", tag="certified")
    progress.written(10, 10)
    progress.close()
    rows = screen(terminal.getvalue())
    blocked = [row for row in rows if "write.blocked" in row]
    assert len(blocked) == 1, rows
    assert "write:" not in blocked[0]
    assert "%|" not in blocked[0]
    assert rows[-1].startswith("write: 100%"), rows


def test_the_console_format_is_coloured_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CONNECTOR_LOG_FORMAT=console into a pipe: plain text, no escape codes."""
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "console")
    piped = logged_after(["mapping", "schema"], io.StringIO(), monkeypatch)
    assert "probe.warning" in piped
    assert "\x1b[" not in piped
    assert "\x1b[" in logged_after(["mapping", "schema"], Terminal(), monkeypatch)
