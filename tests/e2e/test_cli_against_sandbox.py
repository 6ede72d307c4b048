"""The real `connector` processes: a served sandbox and `connector check` against it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from connector.sandbox.app import free_port
from tests.support.processes import CONNECTOR

pytestmark = pytest.mark.integration


def environment(**settings: str) -> dict[str, str]:
    """The process environment without CONNECTOR_* variables, plus `settings`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    return {**base, "TZ": "UTC", **{f"CONNECTOR_{k}": v for k, v in settings.items()}}


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """`connector sandbox` as a child process, polled until it serves."""
    port = free_port()
    command = [
        CONNECTOR,
        "sandbox",
        "--port",
        str(port),
        "--learners",
        "60",
        "--today",
        "2026-11-29",
    ]
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL) as process:  # noqa: S603
        try:
            for _ in range(400):
                assert process.poll() is None, "connector sandbox exited"
                try:
                    httpx.get(f"{url}/_sandbox/health", timeout=0.5).raise_for_status()
                    break
                except httpx.TransportError:
                    time.sleep(0.05)  # the child process is still starting
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def run_check(url: str, key: str) -> subprocess.CompletedProcess[str]:
    """`connector check` as a process against the sandbox."""
    return subprocess.run(  # noqa: S603 - fixed arguments
        [CONNECTOR, "check"],
        capture_output=True,
        text=True,
        timeout=300,  # a bound for a loaded machine, not a target
        check=False,
        env=environment(WISENET_BASE_URL=f"{url}/v1", WISENET_API_KEY=key, LOG_FORMAT="json"),
    )


def test_check_against_the_sandbox_succeeds(sandbox_url: str) -> None:
    """With the sandbox's key, check loads the combos, reports the budget and exits 0."""
    result = run_check(sandbox_url, "sandbox-key")
    assert result.returncode == 0, result.stderr
    assert "combo enrolment-statuses: 11 values" in result.stdout
    assert "UsiStatus" not in result.stdout  # the sandbox's learners include verified USIs
    assert result.stdout.rstrip().endswith("check passed")


def test_check_with_a_wrong_key_fails_clearly(sandbox_url: str) -> None:
    """A wrong key: exit 1 and one line naming the endpoint."""
    result = run_check(sandbox_url, "wrong-key")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: GET /combos/{name}: Wisenet refused the API key"


def test_check_writes_nothing(sandbox_url: str) -> None:
    """Check only reads: the sandbox saw no PATCH or POST."""
    httpx.post(f"{sandbox_url}/_sandbox/counters/reset").raise_for_status()
    assert run_check(sandbox_url, "sandbox-key").returncode == 0
    counts = httpx.get(f"{sandbox_url}/_sandbox/counters").json()["by_endpoint"]
    assert counts == {"GET /combos/{name}": 5, "GET /learnersAU": 1}


def test_check_against_an_embedded_sandbox() -> None:
    """`connector check --sandbox` needs no key and no running server."""
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [CONNECTOR, "check", "--sandbox"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(LOG_FORMAT="json"),
    )
    assert result.returncode == 0, result.stderr
    assert "embedded sandbox" in result.stdout
