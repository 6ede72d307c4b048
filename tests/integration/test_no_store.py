"""Commands that never call Wisenet never create a store: none there is an error with a hint.

SQLite: a missing file, an empty file. PostgreSQL: a database without the store's tables.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from jobs.cli.main import EXIT_CONFIGURATION, main
from tests.support.databases import postgres_database

pytestmark = pytest.mark.integration
MAPPING = Path(__file__).resolve().parents[2] / "config" / "mapping.yaml"
COMMANDS = {
    "status": ["status"],
    "status --json": ["status", "--json"],
    "report": ["report"],
    "report --html": ["report", "--html", "page.html"],
    "export": ["export"],
    "explain": ["explain", "1"],
    "deadletters list": ["deadletters", "list"],
    "mapping preview": ["mapping", "preview", str(MAPPING)],
    "purge": ["purge"],
    "mapping apply": ["mapping", "apply", str(MAPPING), "--yes"],
}


def run_main(
    argv: list[str],
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """`main` with only CONNECTOR_DATABASE_URL set (or nothing): exit code, stdout, stderr."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    if database_url is not None:
        monkeypatch.setenv("CONNECTOR_DATABASE_URL", database_url)
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_no_sqlite_file_is_an_error_with_a_hint_and_creates_none(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The default store missing: exit 2, one line naming it and what to do; no file made."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(argv, None, monkeypatch, capsys)
    assert code == EXIT_CONFIGURATION
    assert out == ""
    assert (
        "configuration error: no store at var/connector.db: run `connector sync` first, "
        "or set CONNECTOR_DATABASE_URL"
    ) in err.splitlines()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", COMMANDS.values(), ids=COMMANDS.keys())
def test_an_empty_sqlite_file_is_an_error_and_stays_empty(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An empty file is no store: exit 2 with the hint; the file is left empty, nothing beside."""
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = run_main(argv, f"sqlite+aiosqlite:///{empty}", monkeypatch, capsys)
    assert code == EXIT_CONFIGURATION
    assert f"no store at {empty} (an empty file): run `connector sync` first" in err
    assert empty.stat().st_size == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.db"]


def table_names(url: str) -> list[str]:
    """The tables of the public schema of the PostgreSQL database at `url`."""
    parsed = make_url(url)

    async def _names() -> list[str]:
        conn = await asyncpg.connect(
            host=parsed.host, user=parsed.username, database=parsed.database
        )
        try:
            rows = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        finally:
            await conn.close()
        return sorted(row["table_name"] for row in rows)

    return asyncio.run(_names())


def test_a_postgresql_database_without_tables_is_an_error_and_gets_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command: exit 2 naming the database (no password) and the upgrade; no table made."""
    monkeypatch.chdir(tmp_path)
    with postgres_database() as url:
        for name, argv in COMMANDS.items():
            code, _, err = run_main(argv, url, monkeypatch, capsys)
            assert code == EXIT_CONFIGURATION, name
            assert (
                f"no store in {url} without the store's tables: run `connector db upgrade` "
                "and `connector sync` first, or set CONNECTOR_DATABASE_URL"
            ) in err, (name, err)
            assert table_names(url) == [], name
