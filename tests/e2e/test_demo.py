"""`connector demo` as a newcomer runs it: the whole job on an embedded sandbox."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.service import Sandbox, SandboxConfig
from tests.support.processes import CONNECTOR

pytestmark = pytest.mark.integration


def personal_values(sandbox: Sandbox) -> set[str]:
    """Every name, USI, email, mobile, birth date and street of the sandbox's learners."""
    found: set[Any] = set()
    for row in sandbox.db.learners.rows.values():
        personal = row["Personal"]
        found |= {
            personal.get("FirstName"),
            personal.get("LastName"),
            personal.get("UniqueStudentIdentifier"),
            (personal.get("EmailAddresses") or {}).get("Email"),
            (personal.get("PhoneNumbers") or {}).get("Mobile"),
            str(personal.get("DateOfBirth") or ""),
            (personal.get("StreetAddress") or {}).get("StreetName"),
        }
    return {value.strip() for value in found if isinstance(value, str) and len(value.strip()) > 2}


def strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for inner in value.values() for s in strings(inner)]
    if isinstance(value, list):
        return [s for inner in value for s in strings(inner)]
    return [str(value)]


@dataclass(frozen=True)
class Demo:
    """One `connector demo` run: its folder, output and environment."""

    folder: Path
    result: subprocess.CompletedProcess[str]
    env: dict[str, str]

    def connector(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another command on the demo's store, as an operator would after the demo."""
        db = self.folder / "var" / "demo.db"
        with sqlite3.connect(db) as conn:
            base_url, account = conn.execute(
                "SELECT base_url, account_number FROM store_identity"
            ).fetchone()
        env = {
            **self.env,
            "CONNECTOR_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "CONNECTOR_WISENET_BASE_URL": base_url,
            "CONNECTOR_WISENET_ACCOUNT_NUMBER": account,
            "CONNECTOR_WISENET_API_KEY": "sandbox-key",
        }
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, *args],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`connector demo` run once, in a fresh folder."""
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(  # CONNECTOR_LOG_FORMAT unset: off a terminal the log is JSON by default
        TZ="UTC",
        CONNECTOR_MAPPING_FILE=str(Path(__file__).parents[2] / "config" / "mapping.yaml"),
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [CONNECTOR, "demo"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Demo(folder, result, env)


def sandbox_usis() -> set[str]:
    """The USIs of the demo sandbox's learners, from its data (trimmed, upper-cased)."""
    found = {
        (row["Personal"].get("UniqueStudentIdentifier") or "").strip().upper()
        for row in Sandbox(SandboxConfig(learners=300)).db.learners.rows.values()
    }
    return {usi for usi in found if len(usi) == 10}


def store_values(db: Path) -> str:
    """Every value of every table of a SQLite file, as one upper-cased text."""
    with sqlite3.connect(db) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
        tables = [n for n in names if not n.startswith("sqlite_")]
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
        rows = [
            value
            for name in tables
            if kinds[name] == "table"
            for row in conn.execute(f'SELECT * FROM "{name}"')  # noqa: S608 - table names
            for value in row
        ]
    return "\n".join(map(str, rows)).upper()


def test_the_demo_runs_the_whole_job_and_logs_no_personal_data(demo: Demo) -> None:
    """Exit 0, learners decided and tags written; the logs name no person."""
    out = demo.result.stdout
    assert "learners evaluated: 300" in out
    assert "0 failed" in out
    assert re.search(r"^Completion +[1-9]", out, flags=re.MULTILINE)
    assert (demo.folder / "var" / "demo.db").stat().st_mode & 0o077 == 0
    logs = [json.loads(line) for line in demo.result.stderr.splitlines() if line.startswith("{")]
    events = Counter(line["event"] for line in logs)
    written = re.search(r"^writes: (\d+) done", out, flags=re.MULTILINE)
    placed = re.search(
        r"first placements: learners (\d+), enrolments (\d+); "
        r"stage changes: learners 0, enrolments 0$",
        out,
        flags=re.MULTILINE,
    )
    assert written is not None
    assert placed is not None
    assert events["tags.written"] == int(written[1]) > 0  # off a terminal every event is logged
    assert events["stage.placed"] == int(placed[1]) + int(placed[2]) > 0
    assert events["stage.changed"] == 0  # a first run places learners, it changes no stage
    secrets = personal_values(Sandbox(SandboxConfig(learners=300)))
    logged = {s for line in logs for s in strings(line)}
    leaked = {
        value
        for value in logged
        for secret in secrets
        if secret == value or (len(secret) > 6 and secret in value)
    }
    assert not leaked


def test_no_usi_of_the_sandbox_is_in_the_store_the_logs_or_the_exports(demo: Demo) -> None:
    """Not in any table, nor the file's bytes, nor the demo's output, export or report."""
    usis = sandbox_usis()
    assert len(usis) > 200  # the sandbox's learners have USIs to leak
    db = demo.folder / "var" / "demo.db"
    places = {
        "store tables": store_values(db),
        "store files": b"".join(
            path.read_bytes() for path in sorted((demo.folder / "var").glob("demo.db*"))
        )
        .decode("latin-1")
        .upper(),
        "demo output": (demo.result.stdout + demo.result.stderr).upper(),
    }
    for args in (("export",), ("export", "--json"), ("report", "--json")):
        done = demo.connector(*args)
        places[" ".join(args)] = (done.stdout + done.stderr).upper()
    demo.connector("report", "--html", "report.html")
    places["report page"] = (demo.folder / "report.html").read_text().upper()
    assert "HAS_USI" in places["store tables"]  # the facts are there
    leaked = {place: [usi for usi in usis if usi in text] for place, text in places.items()}
    assert leaked == {place: [] for place in places}
