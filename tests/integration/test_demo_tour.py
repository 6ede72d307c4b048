"""`connector demo` starts a tour: the commands it prints work on its store, as printed.

Run through `main` in a fresh folder without `config/` (the packaged mapping is used).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main
from tests.support.clock import FakeClock
from tests.support.processes import CONNECTOR

pytestmark = pytest.mark.integration
PROMPT = "connector"


@dataclass(frozen=True)
class Printed:
    """One command line the demo printed: its settings and its arguments."""

    settings: dict[str, str]
    argv: list[str]


def printed_commands(out: str) -> list[Printed]:
    """The `NAME=value … connector ARGS` lines of the demo's output, split as a shell would."""
    found = []
    for line in out.splitlines():
        if f" {PROMPT} " not in line:
            continue
        words = shlex.split(line)
        at = words.index(PROMPT)
        assignments = words[:at]
        if not assignments or not all("=" in word for word in assignments):
            continue
        settings = dict(word.split("=", 1) for word in assignments)
        found.append(Printed(settings, words[at + 1 :]))
    return found


@pytest.fixture
def clean_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder without config/ or .env, with no CONNECTOR_* setting but the log format."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_the_demo_prints_works_on_its_store_as_printed(
    clean_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status, report, the HTML report, explain, worklist, digest, mapping preview: exit 0.

    The demo ran in a folder without config/; the commands need no key and create no other
    store, while sync (which calls Wisenet) still refuses the store bound to the demo's sandbox.
    """
    clock = FakeClock(datetime(2026, 11, 29, 22, 0, tzinfo=UTC))
    assert not (clean_folder / "config").exists()
    assert main(["demo"], clock=clock) == EXIT_OK
    out = capsys.readouterr().out
    commands = printed_commands(out)
    shown = {printed.argv[0] for printed in commands}
    assert shown == {"status", "report", "explain", "worklist", "digest", "mapping"}, out
    assert any("--html" in printed.argv for printed in commands)

    for printed in commands:
        with monkeypatch.context() as scope:
            for name, value in printed.settings.items():
                scope.setenv(name, value)
            code = main(printed.argv, clock=clock)
        done = capsys.readouterr()
        assert code == EXIT_OK, (printed.argv, done.err[-2000:])
        assert done.out.strip(), printed.argv
        if printed.argv[0] == "explain":
            assert f"learner {printed.argv[1]}: stage " in done.out
        if printed.argv[0] == "worklist":
            overdue = re.findall(r"flags: missing data \d+, overdue (\d+)", out)[0]
            assert done.out.strip().endswith(f"\n{overdue} work item(s)")
        if printed.argv[0] == "digest":
            assert "Open work by flag:" in done.out
        if printed.argv[0] == "status":
            assert "learners stored: 300" in done.out
            # The demo's budget line and status's agree: one quota, the settings'.
            used, quota = re.findall(r"requests: (\d+) of the day's (\d+) spent", out)[0]
            assert f": {used} of {quota} requests used" in done.out
            assert "bound to Wisenet at http://127.0.0.1:" in done.out  # the demo's sandbox
            assert "the settings name another Wisenet: commands that call it refuse" in done.out
        if "--html" in printed.argv:
            page = clean_folder / printed.argv[printed.argv.index("--html") + 1]
            assert "<html" in page.read_text().lower()
    assert not (clean_folder / "var" / "connector.db").exists()

    # A command that calls Wisenet still refuses the store bound to the demo's sandbox.
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", "sqlite+aiosqlite:///var/demo.db")
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", "another-key")
    assert main(["sync"], clock=clock) == EXIT_CONFIGURATION
    assert "this store belongs to http://127.0.0.1:" in capsys.readouterr().err


def test_a_venv_off_path_prints_the_program_as_invoked_and_its_lines_run_in_a_shell(
    tmp_path: Path,
) -> None:
    """Set up as the README says, the venv is not on PATH: the printed lines name its program.

    `.venv/bin/connector demo` prints `.venv/bin/connector status` and so on; each line runs
    in a shell as printed, exit 0.
    """
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / PROMPT).symlink_to(CONNECTOR)
    venv_bin = str(Path(CONNECTOR).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env |= {"PATH": path, "CONNECTOR_LOG_FORMAT": "json", "TZ": "UTC"}

    def shell(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the project's own command, as printed
            ["/bin/sh", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    demo = shell(f".venv/bin/{PROMPT} demo")
    assert demo.returncode == EXIT_OK, demo.stderr[-2000:]
    printed = [
        line.strip() for line in demo.stdout.splitlines() if "CONNECTOR_DATABASE_URL=" in line
    ]
    assert printed, demo.stdout
    for line in printed:
        assert shlex.split(line)[1] == f".venv/bin/{PROMPT}", line
        done = shell(line)
        assert done.returncode == EXIT_OK, (line, done.stderr[-2000:])
        assert done.stdout.strip(), line
