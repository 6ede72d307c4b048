"""Sandboxes for tests, served in process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connector.sandbox.app import SandboxServer, create_app
from connector.sandbox.service import Sandbox, SandboxConfig
from tests.support.bundles import DEFAULT_MAPPING

TODAY = date(2026, 11, 29)
ACCOUNT_TZ = ZoneInfo("Australia/Sydney")
KEY = "sandbox-key"
BASE = SandboxConfig(
    learners=300, seed=1, today=TODAY, rate_limit=0, daily_quota=0, frozen_clock=True
)


def make_sandbox(**overrides: Any) -> Sandbox:
    """A sandbox with test defaults: 300 learners, fixed today, limits off, frozen clock."""
    return Sandbox(replace(BASE, **overrides))


class InProcessClient:
    """A synchronous HTTP client that calls the sandbox app directly (no socket)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._app = create_app(sandbox)
        self.headers = {"x-api-key": KEY}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request through the ASGI app."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://sandbox.test", headers=self.headers
            ) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        """PATCH."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", url, **kwargs)


@contextmanager
def client_for(sandbox: Sandbox) -> Iterator[InProcessClient]:
    """An in-process client of `sandbox`."""
    yield InProcessClient(sandbox)


@contextmanager
def served(**overrides: Any) -> Iterator[SandboxServer]:
    """A sandbox with test defaults served over real HTTP on a free port."""
    server = SandboxServer(make_sandbox(**overrides))
    server.start()
    try:
        yield server
    finally:
        server.stop()


CONTROL_TIMEOUT = 150.0  # longer than any flush a test asks for: the flush answers first


def settings_for(server: SandboxServer, database_url: str) -> dict[str, str]:
    """`CONNECTOR_*` values (without the prefix) for CLI runs against `server`.

    JSON logs, the default mapping, the sandbox's rate and a quota no test reaches.
    """
    return {
        "WISENET_BASE_URL": server.base_url,
        "WISENET_API_KEY": "sandbox-key",
        "DATABASE_URL": database_url,
        "MAPPING_FILE": str(DEFAULT_MAPPING),
        "LOG_FORMAT": "json",
        "WISENET_RATE_LIMIT": "10",
        "WISENET_DAILY_QUOTA": "100000",
    }


def control(server: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    """Call the sandbox's control API over HTTP and return its JSON."""
    url = f"{server.url}/_sandbox{path}"
    response = httpx.request(method, url, timeout=CONTROL_TIMEOUT, **kwargs)
    response.raise_for_status()
    return response.json()


def process_today() -> date:
    """The day a connector process on the real clock decides on: today in the account's zone."""
    return datetime.now(ACCOUNT_TZ).date()


@contextmanager
def served_for_processes(**overrides: Any) -> Iterator[SandboxServer]:
    """A served sandbox whose data are made for the day that connector processes decide on.

    Processes run on the real clock, so the sandbox's generated data and the reference follow that
    clock too (`faketime` moves both). A failed check is reported as a skip only when the
    account's midnight passed during the test, since its processes then decided on two days.
    """
    today = process_today()
    with served(today=today, **overrides) as server:
        try:
            yield server
        except AssertionError:
            if process_today() != today:
                pytest.skip("the account's day changed during the test")
            raise
