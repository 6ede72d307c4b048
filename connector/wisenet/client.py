"""The Wisenet API v1 client: budgeted, rate-limited, retried, typed at the edge.

Every request spends one unit of the day's budget and waits for a rate-limiter slot before it
is sent (retries included: each attempt is a request Wisenet counts). Responses are parsed into
the wire models of `wire.py`; every httpx or pydantic failure leaves this module as an error of
`connector.errors`, naming the method and the endpoint template only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from typing import Any, TypedDict, TypeVar

import httpx
import structlog
from pydantic import TypeAdapter, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from connector.clock import Clock
from connector.errors import (
    AuthenticationError,
    DryRunWriteError,
    InactiveLearnerError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    RejectedError,
    ServerError,
    TransientError,
)
from connector.wisenet import endpoints as ep
from connector.wisenet.budget import DailyBudget, InMemoryDailyBudget
from connector.wisenet.filters import Operator, equality_filters, operator_value
from connector.wisenet.paging import PagingError, SkipTakePager
from connector.wisenet.ratelimit import EvenRateLimiter
from connector.wisenet.retry import RetryPolicy, backoff_delay, parse_retry_after
from connector.wisenet.timestamps import format_filter_timestamp
from connector.wisenet.wire import (
    AuditLogData,
    ChecklistData,
    ComboEntry,
    ComboItem,
    CourseData,
    CourseEnrolmentData,
    CourseOfferData,
    CredentialData,
    Item,
    LearnerData,
    TagData,
    UnitEnrolmentData,
    WireModel,
    combo_entry,
)

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


class WisenetClient:
    """Async client for the endpoints in `endpoints.py`."""

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

    async def __aenter__(self) -> WisenetClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- lists ----------------------------------------------------------------------------

    def learners(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        is_active: bool | None = None,
    ) -> AsyncGenerator[list[Item[LearnerData]], None]:
        """Pages of learners, optionally only those modified at or after `modified_since`."""
        params = equality_filters(isActiveFilter=is_active)
        return self._pages(ep.LEARNERS, LearnerData, params, modified_since, start)

    async def learner_sample(self) -> list[Item[LearnerData]]:
        """The first page of learners in one request (to see which values an account uses)."""
        params = SkipTakePager(take=self._config.page_size, skip=0).params()
        body = await self._request("GET", ep.LEARNERS, params=params)
        adapter: TypeAdapter[list[Item[LearnerData]]] = TypeAdapter(list[Item[LearnerData]])
        return _parse(ep.LEARNERS, "GET", adapter, body)

    def course_enrolments(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        learner_id: int | None = None,
    ) -> AsyncGenerator[list[Item[CourseEnrolmentData]], None]:
        """Pages of course enrolments, oldest modification first."""
        params = equality_filters(learnerIdFilter=learner_id)
        params.update(sort="LastModifiedTimeStamp", order="asc")
        return self._pages(ep.COURSE_ENROLMENTS, CourseEnrolmentData, params, modified_since, start)

    def unit_enrolments(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        course_enrolment_id: int | None = None,
    ) -> AsyncGenerator[list[Item[UnitEnrolmentData]], None]:
        """Pages of unit enrolments, all or one course enrolment's."""
        params = equality_filters(courseEnrolmentIdFilter=course_enrolment_id)
        return self._pages(ep.UNIT_ENROLMENTS, UnitEnrolmentData, params, modified_since, start)

    def credentials(
        self, *, course_enrolment_id: int | None = None, learner_id: int | None = None
    ) -> AsyncGenerator[list[Item[CredentialData]], None]:
        """Pages of credentials, of one enrolment or learner if given (no modified filter)."""
        params = equality_filters(
            courseEnrolmentIdFilter=course_enrolment_id, learnerIdFilter=learner_id
        )
        return self._pages(ep.CREDENTIALS, CredentialData, params, None)

    def courses(self) -> AsyncGenerator[list[Item[CourseData]], None]:
        """Pages of the account's courses (their codes, for `connector check`)."""
        return self._pages(ep.COURSES, CourseData, {}, None)

    def course_offers(
        self, *, modified_since: datetime | None = None
    ) -> AsyncGenerator[list[Item[CourseOfferData]], None]:
        """Pages of course offers."""
        return self._pages(ep.COURSE_OFFERS, CourseOfferData, {}, modified_since)

    def checklists(
        self,
        *,
        start: int = 0,
        modified_since: datetime | None = None,
        entity_name: str | None = None,
    ) -> AsyncGenerator[list[Item[ChecklistData]], None]:
        """Pages of checklists, optionally those attached to one entity type."""
        params = equality_filters(entityNameFilter=entity_name)
        return self._pages(ep.CHECKLISTS, ChecklistData, params, modified_since, start)

    def audit_logs(
        self,
        *,
        modified_since: datetime,
        action: str | None = None,
        entity_name: str | None = None,
    ) -> AsyncGenerator[list[Item[AuditLogData]], None]:
        """Pages of audit-log entries (`I`, `U`, `D`) at or after `modified_since`."""
        params = equality_filters(auditActionFilter=action, entityNameFilter=entity_name)
        return self._pages(ep.AUDIT_LOGS, AuditLogData, params, modified_since)

    # --- single records -------------------------------------------------------------------

    async def get_learner(self, learner_id: int) -> Item[LearnerData]:
        """One learner by `LearnerId`."""
        return await self._get_one(ep.LEARNER, LearnerData, learner_id)

    async def get_course_enrolment(self, course_enrolment_id: int) -> Item[CourseEnrolmentData]:
        """One course enrolment by id."""
        return await self._get_one(ep.COURSE_ENROLMENT, CourseEnrolmentData, course_enrolment_id)

    async def get_unit_enrolment(self, unit_enrolment_id: int) -> Item[UnitEnrolmentData]:
        """One unit enrolment by id."""
        return await self._get_one(ep.UNIT_ENROLMENT, UnitEnrolmentData, unit_enrolment_id)

    async def get_credential(self, credential_id: int) -> Item[CredentialData]:
        """One credential by id."""
        return await self._get_one(ep.CREDENTIAL, CredentialData, credential_id)

    async def get_course_offer(self, course_offer_id: int) -> Item[CourseOfferData]:
        """One course offer by id."""
        return await self._get_one(ep.COURSE_OFFER, CourseOfferData, course_offer_id)

    # --- reference data -------------------------------------------------------------------

    async def combo(self, name: str) -> list[ComboEntry]:
        """All values of one combo (lookup list), e.g. `enrolment-statuses`."""
        body = await self._request("GET", ep.COMBO, path={"name": name})
        items = _parse(ep.COMBO, "GET", TypeAdapter(list[ComboItem]), body)
        entries = []
        for index, item in enumerate(items):
            try:
                entries.append(combo_entry(item.data))
            except ValueError as exc:
                raise _malformed("GET", ep.COMBO, f"item {index}: {exc}") from exc
        return entries

    async def tags(self, entity_name: str = "CourseEnrolment") -> list[Item[TagData]]:
        """Every tag definition of one entity type, archived ones included (not paged)."""
        body = await self._request(
            "GET", ep.TAGS, params=equality_filters(entityNameFilter=entity_name)
        )
        return _parse(ep.TAGS, "GET", TypeAdapter(list[Item[TagData]]), body)

    async def create_tag(self, name: str, entity_name: str = "CourseEnrolment") -> Item[TagData]:
        """Create one tag definition and return it."""
        payload = [{"Name": name, "EntityName": entity_name, "ArchivedFlag": False}]
        body = await self._request("POST", ep.TAGS, json=payload)
        created = _parse(ep.TAGS, "POST", TypeAdapter(list[Item[TagData]]), body)
        if len(created) != 1:
            raise _malformed("POST", ep.TAGS, f"expected 1 created tag, got {len(created)}")
        return created[0]

    # --- writes ---------------------------------------------------------------------------

    async def set_course_enrolment_tags(
        self, course_enrolment_id: int, tag_ids: Sequence[int], *, learner_id: int
    ) -> Item[CourseEnrolmentData]:
        """Replace a course enrolment's whole `TagIds` list and return the updated record.

        On a 400 the learner is read once: if they are inactive, the refusal is an
        `InactiveLearnerError` (skip and record), otherwise a plain `RejectedError`.
        """
        document = [{"op": "replace", "path": "TagIds", "value": [{"TagId": t} for t in tag_ids]}]
        try:
            body = await self._request(
                "PATCH", ep.COURSE_ENROLMENT, path={"id": course_enrolment_id}, json=document
            )
        except RejectedError as exc:
            if exc.status == 400 and not await self._learner_is_active(learner_id):
                raise InactiveLearnerError(
                    "the learner is inactive, so Wisenet keeps their records read-only",
                    method=exc.method,
                    endpoint=exc.endpoint,
                    status=exc.status,
                ) from exc
            raise
        return _parse_item_or_data(ep.COURSE_ENROLMENT, "PATCH", CourseEnrolmentData, body)

    async def post_filenote(
        self, *, record_id: int, entity_name: str, name: str, description: str | None = None
    ) -> None:
        """Attach a file note (a visible trail of a connector action) to a record."""
        note: dict[str, Any] = {"RecordId": record_id, "EntityName": entity_name, "Name": name}
        if description is not None:
            note["Description"] = description
        await self._request("POST", ep.FILENOTES, json=[note])

    # --- machinery ------------------------------------------------------------------------

    async def _learner_is_active(self, learner_id: int) -> bool:
        learner = await self.get_learner(learner_id)
        personal = learner.data.personal
        return personal is None or personal.is_active is not False

    async def _get_one(
        self, endpoint: ep.Endpoint, model: type[ModelT], ident: int
    ) -> Item[ModelT]:
        body = await self._request("GET", endpoint, path={"id": ident})
        return _parse(endpoint, "GET", TypeAdapter(Item[model]), body)  # type: ignore[valid-type]

    async def _pages(
        self,
        endpoint: ep.Endpoint,
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
        id_alias = _id_alias(model)

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
                    pager.advance(_raw_keys(body, id_alias))
                except PagingError as exc:
                    raise _malformed("GET", endpoint, str(exc)) from exc
                if not pager.done:
                    # The page was full, so the next one is needed anyway: ask for it now and
                    # validate this one while it is on its way (same requests, less waiting).
                    in_flight = fetch_next()
                page = _parse(endpoint, "GET", adapter, body)
                if page:
                    yield page
        finally:
            if in_flight is not None:
                in_flight.cancel()

    async def _request(
        self,
        method: str,
        endpoint: ep.Endpoint,
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
        endpoint: ep.Endpoint,
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
                _network_failure(exc), method=method, endpoint=endpoint.template
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

    def _observe(self, method: str, endpoint: ep.Endpoint, status: str) -> None:
        if method == "GET":
            tally = read_tally.get()
            if tally is not None:
                tally[0] += 1
        if self._observer is not None:
            self._observer(method, endpoint.template, status)

    async def _interpret(
        self, method: str, endpoint: ep.Endpoint, response: httpx.Response
    ) -> object:
        status = response.status_code
        where = _Where(method=method, endpoint=endpoint.template, status=status)
        if 200 <= status < 300:
            self._first_429_at = None
            return _json_body(method, endpoint, response)
        if status in (401, 403):
            raise AuthenticationError("Wisenet refused the API key", **where)
        if status == 404:
            raise NotFoundError("no such record", **where)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        if status == 429:
            if await self._quota_is_spent():
                await self._budget.mark_exhausted()
                raise QuotaExhaustedError("Wisenet reports the day's quota spent", **where)
            raise RateLimitedError("rate limited", retry_after=retry_after, **where)
        if status >= 500:
            raise ServerError(f"server error {status}", retry_after=retry_after, **where)
        if 400 <= status < 500:
            raise RejectedError(f"rejected with {status}", **where)
        raise MalformedResponseError(f"unexpected status {status}", **where)

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


def _id_alias(model: type[WireModel]) -> str | None:
    """The JSON name of a model's id property (`LearnerId`, …)."""
    if model.id_field is None:
        return None
    return model.model_fields[model.id_field].alias


def _raw_keys(body: object, id_alias: str | None) -> list[object]:
    """Record keys of a raw page, for paging, before the page is validated.

    A record without an integer id gets a unique placeholder, so it never makes two pages look
    the same; validation then reports what is wrong with it.
    """
    if not isinstance(body, list):
        return []
    keys: list[object] = []
    for item in body:
        data = item.get("Data") if isinstance(item, dict) else None
        key = data.get(id_alias) if isinstance(data, dict) and id_alias else None
        keys.append(key if isinstance(key, int) else object())
    return keys


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    """Mark a prefetch's failure as seen; whoever awaits the task gets it again."""
    if not task.cancelled():
        task.exception()


def _network_failure(exc: httpx.HTTPError) -> str:
    """Describe a transport failure by kind; httpx messages may quote URLs with query values."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "connection dropped before the response was complete"
    return f"no usable response ({type(exc).__name__})"


def _json_body(method: str, endpoint: ep.Endpoint, response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise _malformed(method, endpoint, f"response is not JSON ({kind})") from exc


T = TypeVar("T")


class _Where(TypedDict):
    method: str
    endpoint: str
    status: int


def _parse(endpoint: ep.Endpoint, method: str, adapter: TypeAdapter[T], body: object) -> T:
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        raise _malformed(method, endpoint, _describe(exc)) from exc


def _parse_item_or_data(
    endpoint: ep.Endpoint, method: str, model: type[ModelT], body: object
) -> Item[ModelT]:
    """Accept an Item or a bare `Data` object (the spec declares both for PATCH)."""
    if isinstance(body, dict) and "Data" not in body:
        body = {"Data": body, "Relationships": None}
    return _parse(endpoint, method, TypeAdapter(Item[model]), body)  # type: ignore[valid-type]


def _describe(exc: ValidationError) -> str:
    """Say where the response broke the contract, without quoting any value from it."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (+{more} more)" if more > 0 else ""
    return "unexpected response shape: " + "; ".join(problems) + suffix


def _malformed(method: str, endpoint: ep.Endpoint, message: str) -> MalformedResponseError:
    return MalformedResponseError(message, method=method, endpoint=endpoint.template)
