"""Every bad setting and argument of `tests/support/bad_inputs.py` through `main`, in-process.

The store cases open real sockets (PostgreSQL on 127.0.0.1), hence integration.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.cli.main import main
from tests.support.bad_inputs import (
    ARGUMENT_CASES,
    NOBODY,
    PASSWORD,
    SETTINGS_CASES,
    Case,
    assert_one_named_line,
    prepare,
)
from tests.support.databases import PG_HOST, PG_USER

pytestmark = pytest.mark.integration


def run_main(
    case: Case, folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`main` in `folder` with only the case's CONNECTOR_* settings: exit code, stdout, stderr."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    for name, value in prepare(case, folder).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main(list(case.argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", SETTINGS_CASES.values(), ids=SETTINGS_CASES.keys())
def test_a_bad_setting_stops_with_one_line_naming_it(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreachable, unknown or malformed stores and senseless settings: one line, right code."""
    assert_one_named_line(*run_main(case, tmp_path, monkeypatch, capsys), case)


@pytest.mark.parametrize("case", ARGUMENT_CASES.values(), ids=ARGUMENT_CASES.keys())
def test_a_bad_argument_stops_with_one_line_naming_it(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ids beyond 64 bits, dates out of range, missing folders, endless files: one line, exit 2."""
    assert_one_named_line(*run_main(case, tmp_path, monkeypatch, capsys), case)
    assert not (tmp_path / "var").exists()  # refused before any store was opened


def test_the_database_password_is_masked_where_the_url_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store's URL says which store failed and why, with its password masked."""
    _, _, err = run_main(SETTINGS_CASES["postgresql unreachable"], tmp_path, monkeypatch, capsys)
    line = err.strip()
    assert f"postgresql+asyncpg://{PG_USER}:***@{PG_HOST}:{NOBODY}/connector" in line
    assert line.endswith("cannot connect (Connection refused)")
    assert PASSWORD not in line
