"""What a command prints and leaves behind agrees with what it did, through `main`."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.store.store import Store
from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.clock import FakeClock
from tests.support.sandbox import served

pytestmark = pytest.mark.integration
BOUND = "https://wisenet.test/v1"
STAGES = ["Sales", "Progression", "Completion", "Reconnect"]  # config/mapping.yaml's order


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, no CONNECTOR_* variable but a JSON log."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", ["sync", "backfill", "reconcile", "sweep"])
def test_a_missing_api_key_stops_before_any_store_is_made(
    command: str, folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 naming the key; no SQLite file is created and no mapping is activated."""
    monkeypatch.setenv("CONNECTOR_WISENET_APIKEY", "x")
    capsys.readouterr()
    assert main([command]) == EXIT_CONFIGURATION
    err = capsys.readouterr().err
    assert "CONNECTOR_WISENET_API_KEY is not set" in err
    assert "did you mean CONNECTOR_WISENET_API_KEY?" in err
    assert "mapping.activated" not in err
    assert list(folder.iterdir()) == []


def test_a_refused_binding_and_status_name_a_missing_account_alike(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store bound without an account number: "(account -)" in the refusal and in `status`."""
    url = f"sqlite+aiosqlite:///{folder / 'bound.db'}"

    async def bind() -> None:
        store = await Store.open(url, FakeClock(), base_url=BOUND, account_number=None)
        await store.close()

    asyncio.run(bind())
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
    monkeypatch.setenv("CONNECTOR_WISENET_BASE_URL", "https://other.wisenet.test/v1")
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", "another-key")
    capsys.readouterr()
    assert main(["sync"]) == EXIT_CONFIGURATION
    assert f"this store belongs to {BOUND} (account -); " in capsys.readouterr().err
    assert main(["status"]) == EXIT_OK
    assert f"bound to Wisenet at {BOUND} (account -)" in capsys.readouterr().out


def test_the_demos_figures_agree_and_report_lists_stages_in_lifecycle_order(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """First placements and changes count learners as the table does, enrolments apart.

    `report` then lists the mapping's stages in its order, then learners with no stage.
    """
    clock = FakeClock(datetime(2026, 11, 29, 22, 0, tzinfo=UTC))
    assert main(["demo"], clock=clock) == EXIT_OK
    out = capsys.readouterr().out
    line = re.search(
        r"first placements: learners (\d+), enrolments (\d+); "
        r"stage changes: learners (\d+), enrolments (\d+)$",
        out,
        flags=re.MULTILINE,
    )
    assert line is not None, out
    lines = out.splitlines()
    header = lines.index(next(row for row in lines if row.startswith("stage ")))
    table = [row.split() for row in lines[header + 1 : header + 1 + len(STAGES) + 1]]
    assert [row[0] for row in table] == [*STAGES, "none"]
    assert int(line[1]) == sum(int(row[2]) for row in table) > 0
    assert int(line[3]) == sum(int(row[3]) for row in table)
    assert int(line[2]) > int(line[1])  # each placed learner has at least one enrolment placed

    monkeypatch.setenv("CONNECTOR_DATABASE_URL", "sqlite+aiosqlite:///var/demo.db")
    assert main(["report"], clock=clock) == EXIT_OK
    report = capsys.readouterr().out.splitlines()
    listed = report[report.index("learners by stage:") + 1 : report.index("flags:")]
    assert [row.split()[0] for row in listed] == [*STAGES, "none"]


def test_off_a_terminal_a_backfills_stderr_is_json_with_a_progress_event_per_page(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No plain progress line among the JSON log lines: each page read is a `listing.progress`."""
    with served() as server:
        for name, value in {
            "WISENET_BASE_URL": server.base_url,
            "WISENET_API_KEY": "sandbox-key",
            "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'c.db'}",
            "MAPPING_FILE": str(DEFAULT_MAPPING),
            "WISENET_RATE_LIMIT": "10",
            "WISENET_DAILY_QUOTA": "100000",
        }.items():
            monkeypatch.setenv(f"CONNECTOR_{name}", value)
        capsys.readouterr()
        assert main(["backfill"], clock=FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    pages = [event for event in events if event["event"] == "listing.progress"]
    assert {event["entity"] for event in pages} >= {"Learner", "CourseEnrolment"}
    assert all(event["level"] == "info" and event["records_read"] > 0 for event in pages)
