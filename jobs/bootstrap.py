"""The composition root: turns Settings into wired-up components."""

from __future__ import annotations

from connector.clock import Clock, SystemClock
from connector.wisenet.client import ClientConfig, WisenetClient
from jobs.settings import Settings


def client_config(settings: Settings) -> ClientConfig:
    """Build the client's configuration; stops when no API key is set."""
    return ClientConfig(
        base_url=settings.wisenet_base_url,
        api_key=settings.require_api_key(),
        account_tz=settings.timezone,
        rate_limit=settings.wisenet_rate_limit,
        daily_quota=settings.wisenet_daily_quota,
        quota_reset=settings.wisenet_quota_reset,
        timeout=settings.wisenet_timeout,
    )


def build_client(settings: Settings, clock: Clock | None = None) -> WisenetClient:
    """Build a Wisenet client on the real clock unless one is given."""
    return WisenetClient(client_config(settings), clock=clock or SystemClock())
