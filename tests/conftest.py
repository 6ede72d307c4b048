"""Test-wide set-up: the process runs in UTC so a naive `now()` shows up as a wrong answer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import structlog

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults (a CLI test may have configured it)."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _no_connector_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own CONNECTOR_* variables out of every test."""
    for name in list(os.environ):
        if name.startswith("CONNECTOR_"):
            monkeypatch.delenv(name)
