"""Bad settings and arguments as the real `connector` process meets them: one of each kind.

`tests/integration/test_cli_errors.py` runs every case through `main`; these run the console
script itself, so nothing between `main` and the person (the entry point, the interpreter's own
handling of an escaping exception) can add a traceback.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.bad_inputs import (
    ARGUMENT_CASES,
    SETTINGS_CASES,
    Case,
    assert_one_named_line,
    prepare,
)
from tests.support.processes import CONNECTOR

pytestmark = pytest.mark.integration
CHOSEN = {
    **{
        name: SETTINGS_CASES[name]
        for name in (
            "postgresql unreachable",
            "database that does not exist",
            "99999999999-day duration",
            "non-UTF-8 .env",
            "run with whsec_ alone",
            "run with a short whsec_ secret",
        )
    },
    **{
        name: ARGUMENT_CASES[name]
        for name in ("deadletters replay beyond 64 bits", "explain a bundle from /dev/zero")
    },
}


@pytest.mark.parametrize("case", CHOSEN.values(), ids=CHOSEN.keys())
def test_the_console_script_stops_with_one_line(case: Case, tmp_path: Path) -> None:
    """The process exits with the documented code and one line naming what is wrong."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    result = subprocess.run(  # noqa: S603 - the connector's own console script
        [CONNECTOR, *case.argv],
        capture_output=True,
        text=True,
        timeout=300,  # a bound for a loaded machine, not a target
        check=False,
        cwd=tmp_path,
        env={**base, "TZ": "UTC", **prepare(case, tmp_path)},
    )
    assert_one_named_line(result.returncode, result.stdout, result.stderr, case)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_output_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A full disk under stdout ends the command with one line on stderr, not a traceback."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    with Path("/dev/full").open("w") as full:
        result = subprocess.run(  # noqa: S603 - the connector's own console script
            [CONNECTOR, "mapping", "schema"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,  # a bound for a loaded machine, not a target
            check=False,
            cwd=tmp_path,
            env={**base, "TZ": "UTC"},
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: No space left on device"]
