from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    """The shell commands in the README's fenced `sh` blocks."""
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    """.ci/run and the README cannot drift apart: CI runs exactly what a newcomer runs."""
    test_command = next(c for c in readme_commands() if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_commands_table_documents_explain_of_a_stored_learner() -> None:
    """The demo prints `explain ID`: the table documents it beside `explain --bundle FILE`."""
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    assert any(row.startswith("| `connector explain LEARNER_ID") for row in rows)
    assert any(row.startswith("| `connector explain --bundle FILE") for row in rows)
