"""Reading Wisenet's answers, without I/O or state: status and body in, a value or an error out.

`decipher_response` classifies one HTTP response (in the manner of
`gidgethub.sansio.decipher_response`); `parse` validates a body into wire models. Every failure
is an error of `connector.errors` naming the method and the endpoint template only, never a
value from the response or the request's query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TypedDict, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from connector.errors import (
    AuthenticationError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
)
from connector.wisenet.endpoints import Endpoint
from connector.wisenet.retry import parse_retry_after
from connector.wisenet.wire import Item, WireModel

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=WireModel)


class _Where(TypedDict):
    method: str
    endpoint: str
    status: int


def decipher_response(
    method: str,
    endpoint: Endpoint,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> object:
    """The JSON body of a 2xx response; otherwise raise the error its status means.

    A 429 is a `RateLimitedError`: whether it rather means the day's quota is spent depends on
    the client's history, so the client tells the two apart. `now` reads an HTTP-date
    `Retry-After`.
    """
    where = _Where(method=method, endpoint=endpoint.template, status=status)
    if 200 <= status < 300:
        return _json_body(method, endpoint, headers, body)
    if status in (401, 403):
        raise AuthenticationError("Wisenet refused the API key", **where)
    if status == 404:
        raise NotFoundError("no such record", **where)
    retry_after = parse_retry_after(_header(headers, "retry-after"), now)
    if status == 429:
        raise RateLimitedError("rate limited", retry_after=retry_after, **where)
    if status >= 500:
        raise ServerError(f"server error {status}", retry_after=retry_after, **where)
    if 400 <= status < 500:
        raise RejectedError(f"rejected with {status}", **where)
    raise MalformedResponseError(f"unexpected status {status}", **where)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name (`name` in lower case)."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _json_body(method: str, endpoint: Endpoint, headers: Mapping[str, str], body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:
        kind = (_header(headers, "content-type") or "no content type").split(";")[0]
        raise malformed(method, endpoint, f"response is not JSON ({kind})") from exc


def network_failure(exc: httpx.HTTPError) -> str:
    """Describe a transport failure by kind; httpx messages may quote URLs with query values."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "connection dropped before the response was complete"
    return f"no usable response ({type(exc).__name__})"


def parse(endpoint: Endpoint, method: str, adapter: TypeAdapter[T], body: object) -> T:
    """Validate a body; a mismatch is a malformed response saying where, quoting no value."""
    try:
        return adapter.validate_python(body)
    except ValidationError as exc:
        raise malformed(method, endpoint, _describe(exc)) from exc


def parse_item_or_data(
    endpoint: Endpoint, method: str, model: type[ModelT], body: object
) -> Item[ModelT]:
    """Accept an Item or a bare `Data` object (the spec declares both for PATCH)."""
    if isinstance(body, dict) and "Data" not in body:
        body = {"Data": body, "Relationships": None}
    return parse(endpoint, method, TypeAdapter(Item[model]), body)  # type: ignore[valid-type]


def _describe(exc: ValidationError) -> str:
    """Say where the response broke the contract, without quoting any value from it."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (+{more} more)" if more > 0 else ""
    return "unexpected response shape: " + "; ".join(problems) + suffix


def malformed(method: str, endpoint: Endpoint, message: str) -> MalformedResponseError:
    """A response that breaks the contract, named by method and endpoint template."""
    return MalformedResponseError(message, method=method, endpoint=endpoint.template)


def id_alias(model: type[WireModel]) -> str | None:
    """The JSON name of a model's id property (`LearnerId`, …)."""
    if model.id_field is None:
        return None
    return model.model_fields[model.id_field].alias


def raw_keys(body: object, alias: str | None) -> list[object]:
    """Record keys of a raw page, for paging, before the page is validated.

    A record without an integer id gets a unique placeholder, so it never makes two pages look
    the same; validation then reports what is wrong with it.
    """
    if not isinstance(body, list):
        return []
    keys: list[object] = []
    for item in body:
        data = item.get("Data") if isinstance(item, dict) else None
        key = data.get(alias) if isinstance(data, dict) and alias else None
        keys.append(key if isinstance(key, int) else object())
    return keys
