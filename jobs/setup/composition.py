"""The composition root: turns Settings, and any parts a caller brings, into wired-up components.

Every caller wires through here: the commands, the service, the tests and the benches. A caller
that needs a part other than the one settings would build (a fake clock, another rate limit or
daily quota, a faster retry, a seeded jitter, a smaller page, a request observer) hands it in as
`Parts`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from connector.clock import Clock, SystemClock
from connector.errors import ConfigurationError
from connector.store.budget import StoreBudget
from connector.store.store import Store
from connector.wisenet.client import WisenetClient
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.transport import ClientConfig, RequestObserver
from jobs.pipeline.context import SyncContext
from jobs.setup.mapping_file import MappingFileWatch, cannot_read, read_mapping_text
from jobs.setup.settings import Settings
from mappings.calendar import BusinessCalendar
from mappings.compiler import CompiledMapping
from mappings.loader import load_mapping
from mappings.problems import MappingError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Parts:
    """Parts a caller brings instead of the ones settings would build; None means from settings."""

    clock: Clock = field(default_factory=SystemClock)
    rate_limit: float | None = None  # requests per second, instead of CONNECTOR_WISENET_RATE_LIMIT
    # Requests a day, instead of CONNECTOR_WISENET_DAILY_QUOTA (a test's small day, below the
    # setting's lower bound).
    daily_quota: int | None = None
    retry: RetryPolicy | None = None
    page_size: int | None = None
    rng: random.Random | None = None  # the retries' jitter
    observer: RequestObserver | None = None  # told of every request (the service's metrics)


def client_config(settings: Settings, parts: Parts | None = None) -> ClientConfig:
    """Build the client's configuration; stops when no API key is set."""
    parts = parts or Parts()
    config = ClientConfig(
        base_url=settings.wisenet_base_url,
        api_key=settings.require_api_key(),
        account_tz=settings.timezone,
        rate_limit=settings.wisenet_rate_limit,
        daily_quota=settings.wisenet_daily_quota,
        quota_reset=settings.wisenet_quota_reset,
        timeout=settings.wisenet_timeout,
        read_only=settings.dry_run,
    )
    if parts.rate_limit is not None:
        config = replace(config, rate_limit=parts.rate_limit)
    if parts.daily_quota is not None:
        config = replace(config, daily_quota=parts.daily_quota)
    if parts.retry is not None:
        config = replace(config, retry=parts.retry)
    if parts.page_size is not None:
        config = replace(config, page_size=parts.page_size)
    return config


def build_client(settings: Settings, parts: Parts | None = None) -> WisenetClient:
    """A Wisenet client with no persisted budget (for `connector check`, which keeps no store)."""
    parts = parts or Parts()
    return WisenetClient(client_config(settings, parts), clock=parts.clock, rng=parts.rng)


@asynccontextmanager
async def sync_context(
    settings: Settings, parts: Parts | None = None
) -> AsyncIterator[SyncContext]:
    """Open the store, activate the mapping and wire the client to the persisted budget.

    A dry run works on a private copy of the store (left as it was) with a client that sends
    no writes. A missing API key stops before the store is opened (or created).
    """
    parts = parts or Parts()
    clock = parts.clock
    config = client_config(settings, parts)
    store = await Store.open(
        settings.database_url,
        clock,
        base_url=settings.wisenet_base_url,
        account_number=settings.wisenet_account_number,
        dry_run=settings.dry_run,
    )
    try:
        version, mapping = await active_mapping(
            store, Path(settings.mapping_file), settings.business_calendar()
        )
        budget = StoreBudget(
            store.budget,
            config.daily_quota,
            settings.timezone,
            settings.wisenet_quota_reset,
            clock,
        )
        async with WisenetClient(
            config, clock=clock, budget=budget, observer=parts.observer, rng=parts.rng
        ) as client:
            yield SyncContext(
                client=client,
                store=store,
                mapping=mapping,
                mapping_version=version,
                account_tz=settings.timezone,
                overlap=settings.poll_overlap,
                dry_run=settings.dry_run,
                max_snapshot_age=settings.write_max_snapshot_age,
            )
    finally:
        await store.close()


async def active_mapping(
    store: Store, path: Path, calendar: BusinessCalendar
) -> tuple[int, CompiledMapping]:
    """The store's active mapping; the file seeds it on first start and is never applied later.

    Once a mapping is active, a file on disk that differs or turned bad is only reported.
    """
    active = await store.mappings.active()
    if active is None:
        on_disk = await asyncio.to_thread(_seed_text, path)
        compiled = _compile(on_disk, str(path), calendar)
        version = await store.mappings.activate(on_disk, str(path))
        log.info("mapping.activated", version=version, source=str(path))
        return version, compiled
    version, source, text = active
    found = await MappingFileWatch(path).check(text)
    if found.differs:
        log.warning(
            "mapping.differs",
            version=version,
            file=str(path),
            hint="run `connector mapping apply` to switch",
        )
    return version, _compile(text, source, calendar)


def _seed_text(path: Path) -> str:
    """The text that seeds the active mapping; a missing, unreadable or bad file stops."""
    try:
        return read_mapping_text(path)
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{path}: no mapping file to seed the active mapping from"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(cannot_read(path, exc)) from exc
    except MappingError as exc:
        raise ConfigurationError(str(exc)) from exc


def _compile(text: str, source: str, calendar: BusinessCalendar) -> CompiledMapping:
    try:
        return load_mapping(text, source, calendar)
    except MappingError as exc:
        raise ConfigurationError(str(exc)) from exc


@asynccontextmanager
async def opened_store(settings: Settings, clock: Clock) -> AsyncIterator[Store]:
    """The store alone, for commands that never call Wisenet (they need no API key).

    It must exist (these commands never create one), and it may belong to any Wisenet: the
    binding to one account guards the commands that call Wisenet (`sync_context`).
    """
    store = await Store.open_existing(settings.database_url, clock, dry_run=settings.dry_run)
    try:
        yield store
    finally:
        await store.close()
