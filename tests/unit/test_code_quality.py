"""ruff and mypy --strict are part of the suite, so a red lint is a red build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python tool module from this interpreter, at the repository root."""
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_ruff_finds_nothing() -> None:
    """The broad ruff rule set passes, and the code is formatted."""
    lint = run_tool("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = run_tool("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


@pytest.mark.slow
def test_mypy_strict_finds_nothing() -> None:
    """Every module type-checks under --strict."""
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout
