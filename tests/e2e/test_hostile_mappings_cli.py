"""Hostile mapping files against the real `connector` processes: refused fast, in little memory.

Each child's peak memory is its own, measured by a small launcher that forks it. The only time
bound is a generous safety kill, so a hang fails the test instead of the suite.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.sandbox.app import free_port
from tests.support.hostile_mappings import CORPUS, EXPECTED, GENERATED
from tests.support.processes import CONNECTOR

pytestmark = pytest.mark.integration
SAFETY_SECONDS = 120.0
PEAK_LIMIT_MB = 200
SOME = [
    "billion-laughs.yaml",
    "merge-key-bomb.yaml",
    "recursive-alias-map.yaml",
    "deep-flow-lists.yaml",
    "latin-1.yaml",
    "utf-16-le-bom.yaml",
    "python-object-tag.yaml",
]


@dataclass(frozen=True)
class Finished:
    """How a child process ended."""

    code: int
    err: str
    seconds: float
    peak_mb: float
    killed: bool


# A small launcher forks the command and reports its child's peak RSS. Measured on a child of
# the test process itself, the peak would include the test process's own pages shared at fork
# (Linux keeps the highest RSS across exec), some 200 MB for an xdist worker.
LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(code)"
)


def run_measured(argv: list[str], env: dict[str, str], folder: Path) -> Finished:
    """Run a command to its end (killed after the safety time); its exit, stderr, peak RSS."""
    err_path, peak_path = folder / "stderr.txt", folder / "peak.txt"
    with err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - this interpreter and a fixed launcher
            [sys.executable, "-c", LAUNCHER, str(peak_path), *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        killer = threading.Timer(SAFETY_SECONDS, os.killpg, (process.pid, signal.SIGKILL))
        killer.start()
        try:
            code = process.wait()
        finally:
            killer.cancel()
    killed = code == -signal.SIGKILL or not peak_path.exists()
    return Finished(
        code=code,
        err=err_path.read_text(errors="replace"),
        seconds=time.perf_counter() - started,
        peak_mb=int(peak_path.read_text()) / 1024 if peak_path.exists() else float("inf"),
        killed=killed,
    )


def environment(**settings: str) -> dict[str, str]:
    """The process environment without CONNECTOR_* variables, plus `settings`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    return {**base, "TZ": "UTC", **{f"CONNECTOR_{k}": v for k, v in settings.items()}}


def assert_refused(found: Finished, path: Path, fragment: str, code: int = 1) -> None:
    """Refused with a located first line, no traceback, within the memory bound."""
    figures = f"{path.name}: exit {found.code}, {found.seconds:.2f} s, peak {found.peak_mb:.0f} MB"
    print(figures)  # noqa: T201 - the figures, shown with -s
    assert not found.killed, f"{path.name} still ran after {SAFETY_SECONDS} s"
    assert found.code == code, found.err
    assert "Traceback" not in found.err
    said = [line for line in found.err.splitlines() if not line.startswith("{")]  # not logs
    first = said[0].removeprefix("configuration error: ")
    assert first.startswith(f"{path}:"), first
    assert first[len(str(path)) + 1 :].split(":", 2)[0].isdigit(), first
    assert fragment in first, first
    assert found.peak_mb < PEAK_LIMIT_MB


@pytest.mark.parametrize("name", SOME)
def test_mapping_check_refuses_hostile_files_as_a_process(name: str, tmp_path: Path) -> None:
    """`connector mapping check FILE`: exit 1, `FILE:LINE:COL: …`, under 200 MB."""
    path = CORPUS / name
    found = run_measured([CONNECTOR, "mapping", "check", str(path)], environment(), tmp_path)
    assert_refused(found, path, EXPECTED[name])


@pytest.mark.parametrize("name", ["six-megabytes", "too-many-values"])
def test_mapping_check_refuses_big_files_as_a_process(name: str, tmp_path: Path) -> None:
    """Six megabytes is refused after reading one byte past the limit; many values at the limit."""
    make, fragment = GENERATED[name]
    path = make(tmp_path)
    found = run_measured([CONNECTOR, "mapping", "check", str(path)], environment(), tmp_path)
    assert_refused(found, path, fragment)


def test_run_refuses_an_alias_bomb_as_its_seed_mapping(tmp_path: Path) -> None:
    """`connector run` stops at once with the located problem (exit 2) instead of never serving."""
    path = CORPUS / "billion-laughs.yaml"
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    env = environment(
        MAPPING_FILE=str(path),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        WISENET_API_KEY="key-that-is-never-used",
        WEBHOOK_SECRET=secret,
        HTTP_BIND=f"127.0.0.1:{free_port()}",
        ADMIN_BIND=f"127.0.0.1:{free_port()}",
        LOG_FORMAT="json",
    )
    found = run_measured([CONNECTOR, "run"], env, tmp_path)
    assert_refused(found, path, EXPECTED[path.name], code=2)
