"""Builders for a Wisenet client aimed at a respx-mocked or sandbox base URL."""

from __future__ import annotations

import random
from dataclasses import replace
from zoneinfo import ZoneInfo

from connector.wisenet.client import WisenetClient
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.transport import ClientConfig
from tests.support.clock import FakeClock

BASE_URL = "https://wisenet.test/v1"
API_KEY = "test-key"
SYDNEY = ZoneInfo("Australia/Sydney")


def make_client(
    clock: FakeClock | None = None,
    *,
    base_url: str = BASE_URL,
    page_size: int = 1000,
    daily_quota: int = 1000,
    rate_limit: float = 8.0,
    retry: RetryPolicy | None = None,
) -> WisenetClient:
    """A client on a fake clock with seeded jitter."""
    config = ClientConfig(
        base_url=base_url,
        api_key=API_KEY,
        account_tz=SYDNEY,
        page_size=page_size,
        daily_quota=daily_quota,
        rate_limit=rate_limit,
    )
    if retry is not None:
        config = replace(config, retry=retry)
    return WisenetClient(config, clock=clock or FakeClock(), rng=random.Random(42))
