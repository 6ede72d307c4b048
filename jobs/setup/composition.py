"""The composition root: turns Settings into wired-up components."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import structlog

from connector.clock import Clock, SystemClock
from connector.errors import ConfigurationError
from connector.store.budget import StoreBudget
from connector.store.store import Store
from connector.wisenet.client import ClientConfig, RequestObserver, WisenetClient
from jobs.pipeline.sync import SyncContext
from jobs.setup.mapping_file import MappingFileWatch, cannot_read, read_mapping_text
from jobs.setup.settings import Settings
from mappings.calendar import BusinessCalendar
from mappings.compiler import CompiledMapping
from mappings.loader import load_mapping
from mappings.problems import MappingError

log = structlog.get_logger(__name__)


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


@asynccontextmanager
async def sync_context(
    settings: Settings,
    clock: Clock,
    *,
    rate_limit: float | None = None,
    observer: RequestObserver | None = None,
) -> AsyncIterator[SyncContext]:
    """Open the store, activate the mapping and wire the client to the persisted budget.

    A dry run works on a private copy of the store (left as it was) with a client that sends
    no writes. A missing API key stops before the store is opened (or created).
    """
    config = replace(client_config(settings), read_only=settings.dry_run)
    if rate_limit is not None:
        config = replace(config, rate_limit=rate_limit)
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
            settings.wisenet_daily_quota,
            settings.timezone,
            settings.wisenet_quota_reset,
            clock,
        )
        async with WisenetClient(config, clock=clock, budget=budget, observer=observer) as client:
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
