"""The Wisenet transport: every request budgeted, rate-limited and retried; pages read ahead.

Every request spends one unit of the day's budget and waits for a rate-limiter slot before it
is sent (retries included: each attempt is a request Wisenet counts). What a response means is
decided without I/O by `connector.wisenet.responses`; this module keeps the I/O and the state
(budget, limiter, when 429s began). Every httpx or pydantic failure leaves it as an error of
`connector.errors`, naming the method and the endpoint template only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from typing import Self, TypeVar

import httpx
import structlog
from pydantic import TypeAdapter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from connector.clock import Clock
from connector.errors import (
    DryRunWriteError,
    NetworkError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from connector.wisenet.budget import DailyBudget, InMemoryDailyBudget
from connector.wisenet.endpoints import Endpoint
from connector.wisenet.filters import Operator, operator_value
from connector.wisenet.paging import PagingError, SkipTakePager
from connector.wisenet.ratelimit import EvenRateLimiter
from connector.wisenet.responses import (
    decipher_response,
    id_alias,
    malformed,
    network_failure,
    parse,
    raw_keys,
)
from connector.wisenet.retry import RetryPolicy, backoff_delay
from connector.wisenet.timestamps import format_filter_timestamp
from connector.wisenet.wire import Item, WireModel

log = structlog.get_logger(__name__)
# GET attempts counted for whoever set it in this context (`jobs.pipeline.read_costs.counted`). Each
# asyncio task has its own context, so blocks counting at once (the writer's lanes) each count
# their own; a task started inside a block (a page fetched ahead) counts into it.
read_tally: ContextVar[list[int] | None] = ContextVar("read_tally", default=None)

ModelT = TypeVar("ModelT", bound=WireModel)
RequestObserver = Callable[[str, str, str], None]  # method, endpoint template, status


@dataclass(frozen=True)
class ClientConfig:
    """Everything the client needs to know, decided by the composition root."""

    base_url: str
    api_key: str
    account_tz: tzinfo
    rate_limit: float = 8.0
    daily_quota: int = 1000
    quota_reset: time = time(0, 0)
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_size: int = 1000
    read_only: bool = False  # a dry run: any request but a GET is refused, never sent


class WisenetTransport:
    """Sends requests to Wisenet within the day's budget, the rate limit and the retry policy."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock,
        http: httpx.AsyncClient | None = None,
        budget: DailyBudget | None = None,
        limiter: EvenRateLimiter | None = None,
        rng: random.Random | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self._config = config
        self._observer = observer
        self._clock = clock
        self._http = http or httpx.AsyncClient(timeout=config.timeout)
        self._budget = budget or InMemoryDailyBudget(
            config.daily_quota, config.account_tz, config.quota_reset, clock
        )
        self._limiter = limiter or EvenRateLimiter(config.rate_limit, clock)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._first_429_at: float | None = None
        self._base_url = config.base_url.rstrip("/")
        # Called before every request; raises (NotLeaderError) when this process may not send.
        self.gate: Callable[[], Awaitable[None]] | None = None

    @property
    def page_size(self) -> int:
        """Records per page of every listing."""
        return self._config.page_size

    @property
    def budget(self) -> DailyBudget:
        """The day's budget this client spends."""
        return self._budget

    async def aclose(self) -> None:
        """Close the underlying HTTP connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get_one(self, endpoint: Endpoint, model: type[ModelT], ident: int) -> Item[ModelT]:
        body = await self._request("GET", endpoint, path={"id": ident})
        return parse(endpoint, "GET", TypeAdapter(Item[model]), body)  # type: ignore[valid-type]

    async def _pages(
        self,
        endpoint: Endpoint,
        model: type[ModelT],
        params: Mapping[str, str],
        modified_since: datetime | None,
        start: int = 0,
    ) -> AsyncGenerator[list[Item[ModelT]], None]:
        query = dict(params)
        if modified_since is not None:
            if endpoint.modified_filter is None:
                raise ValueError(f"{endpoint.template} has no modified filter")
            stamp = format_filter_timestamp(modified_since, self._config.account_tz)
            query[endpoint.modified_filter] = operator_value(Operator.GE, stamp)
        adapter: TypeAdapter[list[Item[ModelT]]] = TypeAdapter(list[Item[model]])  # type: ignore[valid-type]
        pager = SkipTakePager(take=self._config.page_size, skip=start)
        alias = id_alias(model)

        def fetch_next() -> asyncio.Task[object]:
            params = {**query, **pager.params()}
            task = asyncio.ensure_future(self._request("GET", endpoint, params=params))
            task.add_done_callback(_retrieve_exception)
            return task

        in_flight: asyncio.Task[object] | None = fetch_next()
        try:
            while in_flight is not None:
                body = await in_flight
                in_flight = None
                try:
                    pager.advance(raw_keys(body, alias))
                except PagingError as exc:
                    raise malformed("GET", endpoint, str(exc)) from exc
                if not pager.done:
                    # The page was full, so the next one is needed anyway: ask for it now and
                    # validate this one while it is on its way (same requests, less waiting).
                    in_flight = fetch_next()
                page = parse(endpoint, "GET", adapter, body)
                if page:
                    yield page
        finally:
            if in_flight is not None:
                in_flight.cancel()

    async def _request(
        self,
        method: str,
        endpoint: Endpoint,
        *,
        path: Mapping[str, int | str] | None = None,
        params: Mapping[str, str] | None = None,
        json: object = None,
    ) -> object:
        if self._config.read_only and method != "GET":
            raise DryRunWriteError(
                f"{method} {endpoint.template}: a dry run sends no writes; this one was not sent"
            )
        policy = self._config.retry
        started = self._clock.monotonic()

        def stop(state: RetryCallState) -> bool:
            elapsed = self._clock.monotonic() - started
            return state.attempt_number >= policy.max_attempts or elapsed >= policy.total_seconds

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            assert isinstance(error, TransientError)  # noqa: S101 - guaranteed by `retry=`
            return backoff_delay(policy, state.attempt_number, error, self._rng)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop,
            wait=wait,
            sleep=self._clock.sleep,
            reraise=True,
        )
        url = self._base_url + endpoint.path(**(path or {}))
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, endpoint, url, params, json)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        endpoint: Endpoint,
        url: str,
        params: Mapping[str, str] | None,
        json: object,
    ) -> object:
        if self.gate is not None:
            await self.gate()
        probing = False
        if not await self._budget.try_spend():
            state = await self._budget.state()
            # Spent by Wisenet's word (not our own count): an hourly probe may go.
            probing = state.exhausted and state.used < state.quota and await self._budget.probe()
            if not probing:
                raise QuotaExhaustedError(
                    f"the day's budget of {state.quota} requests is spent "
                    f"(resets {state.resets_at.isoformat()})",
                    method=method,
                    endpoint=endpoint.template,
                )
        headers = {"x-api-key": self._config.api_key, "Accept": "application/json"}
        try:
            async with self._limiter.slot():  # answered (or failed), it frees its window
                response = await self._http.request(
                    method, url, params=params, json=json, headers=headers
                )
        except httpx.HTTPError as exc:
            self._observe(method, endpoint, "network-error")
            raise NetworkError(
                network_failure(exc), method=method, endpoint=endpoint.template
            ) from exc
        self._observe(method, endpoint, str(response.status_code))
        if probing and response.status_code != 429:
            await self._budget.recovered()
            log.info("quota.recovered", endpoint=endpoint.template)
        log.debug(
            "wisenet.request",
            method=method,
            endpoint=endpoint.template,
            status=response.status_code,
        )
        return await self._interpret(method, endpoint, response)

    def _observe(self, method: str, endpoint: Endpoint, status: str) -> None:
        if method == "GET":
            tally = read_tally.get()
            if tally is not None:
                tally[0] += 1
        if self._observer is not None:
            self._observer(method, endpoint.template, status)

    async def _interpret(self, method: str, endpoint: Endpoint, response: httpx.Response) -> object:
        """What `decipher_response` makes of a response, telling a spent quota from a rate 429."""
        status = response.status_code
        if 200 <= status < 300:
            self._first_429_at = None
        try:
            return decipher_response(
                method, endpoint, status, response.headers, response.content, self._clock.now()
            )
        except RateLimitedError:
            if not await self._quota_is_spent():
                raise
        await self._budget.mark_exhausted()
        raise QuotaExhaustedError(
            "Wisenet reports the day's quota spent",
            method=method,
            endpoint=endpoint.template,
            status=status,
        )

    async def _quota_is_spent(self) -> bool:
        """Tell a quota 429 from a rate 429 (the bodies are not to be relied on)."""
        policy = self._config.retry
        now = self._clock.monotonic()
        if self._first_429_at is None:
            self._first_429_at = now
        state = await self._budget.state()
        near_quota = state.used >= state.quota * policy.quota_near_fraction
        sustained = now - self._first_429_at >= policy.sustained_429_seconds
        return near_quota or sustained


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    """Mark a prefetch's failure as seen; whoever awaits the task gets it again."""
    if not task.cancelled():
        task.exception()
