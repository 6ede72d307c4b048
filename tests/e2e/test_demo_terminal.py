"""`connector demo` typed at a terminal: one screen, ending with the summary table."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.processes import run_connector_on_terminal, screen_lines

pytestmark = pytest.mark.integration

SCREEN = 60
LIFECYCLE = ["Sales", "Progression", "Completion", "Reconnect", "none"]


def test_the_demo_on_a_terminal_fits_one_screen_with_the_summary_table(tmp_path: Path) -> None:
    """At most 60 lines: progress bars, the stage rows in lifecycle order, the writes, the store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(
        TZ="UTC",
        TERM="xterm",
        CONNECTOR_MAPPING_FILE=str(Path(__file__).parents[2] / "config" / "mapping.yaml"),
    )
    code, output = run_connector_on_terminal("demo", env=env, cwd=tmp_path, rows=SCREEN)
    lines = screen_lines(output)
    assert code == 0, "\n".join(lines[-20:])
    assert len(lines) <= SCREEN, "\n".join(lines)
    header = lines.index(next(line for line in lines if line.startswith("stage ")))
    assert header > 0
    assert lines[header].split() == ["stage", "learners", "first", "placed", "changed"]
    rows = lines[header + 1 : header + 1 + len(LIFECYCLE)]
    assert [row.split()[0] for row in rows] == LIFECYCLE
    assert sum(int(row.split()[1]) for row in rows) == 300
    assert any(line.startswith("flags: missing data ") for line in lines)
    writes = next(line for line in lines if line.startswith("writes: "))
    assert re.fullmatch(
        r"writes: [1-9]\d* done, \d+ skipped, 0 queued \(waiting for the budget\), "
        r"0 blocked, 0 failed",
        writes,
    )
    assert any(line.startswith("store: var/demo.db") for line in lines)
    assert not any(line.lstrip().startswith("{") for line in lines)  # no JSON log
    assert any(line.startswith("write: 100%") for line in lines)  # the write phase's bar
