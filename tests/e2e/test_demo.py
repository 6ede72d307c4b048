"""`connector demo` as a newcomer runs it: the whole job on an embedded sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.service import Sandbox, SandboxConfig

pytestmark = pytest.mark.integration
CONNECTOR = str(Path(sys.executable).parent / "connector")


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


def test_the_demo_runs_the_whole_job_and_logs_no_personal_data(tmp_path: Path) -> None:
    """Exit 0, learners decided and tags written; the logs name no person."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(
        TZ="UTC",
        CONNECTOR_LOG_FORMAT="json",
        CONNECTOR_MAPPING_FILE=str(Path(__file__).parents[2] / "config" / "mapping.yaml"),
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [CONNECTOR, "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "learners evaluated: 300" in out
    assert "0 failed" in out
    assert "learners by stage: Completion" in out
    assert (tmp_path / "var" / "demo.db").stat().st_mode & 0o077 == 0
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line["event"] == "tags.written" for line in logs)
    assert any(line["event"] == "stage.changed" for line in logs)
    secrets = personal_values(Sandbox(SandboxConfig(learners=300)))
    logged = {s for line in logs for s in strings(line)}
    leaked = {
        value
        for value in logged
        for secret in secrets
        if secret == value or (len(secret) > 6 and secret in value)
    }
    assert not leaked
