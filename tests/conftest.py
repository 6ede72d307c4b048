"""Test-wide set-up: the process runs in UTC so a naive `now()` shows up as a wrong answer.

Under `faketime` only the wall clock moves (see tests/support/moved_clock.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import structlog

from tests.support.moved_clock import keep_the_monotonic_clock

os.environ["TZ"] = "UTC"
time.tzset()


def pytest_configure(config: pytest.Config) -> None:
    """Under `faketime`, only the wall clock moves."""
    keep_the_monotonic_clock(config)


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so the parallel workers finish them beside the quick ones, not after."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
