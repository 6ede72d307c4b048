"""What one Wisenet response means, decided without I/O (`connector.wisenet.responses`)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connector.errors import (
    AuthenticationError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    WisenetError,
)
from connector.wisenet.endpoints import Endpoint
from connector.wisenet.responses import decipher_response, network_failure, raw_keys

RECORD = Endpoint("/learnersAU/{id}", paged=False)
NOW = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json"}


def decipher(status: int, body: bytes = b"[]", headers: dict[str, str] | None = None) -> object:
    """Classify a GET of the record endpoint."""
    return decipher_response("GET", RECORD, status, JSON if headers is None else headers, body, NOW)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_a_2xx_gives_its_json_body(status: int) -> None:
    """Any success status yields the decoded body, whatever it holds."""
    assert decipher(status, b'[{"Data": {"LearnerId": 1}}]') == [{"Data": {"LearnerId": 1}}]


def test_a_2xx_that_is_not_json_is_malformed_and_names_the_content_type() -> None:
    """An HTML page in place of JSON names its media type, never its text."""
    with pytest.raises(MalformedResponseError) as caught:
        decipher(200, b"<html>secret</html>", {"content-type": "text/html; charset=utf-8"})
    assert str(caught.value) == "GET /learnersAU/{id}: response is not JSON (text/html)"
    assert caught.value.endpoint == "/learnersAU/{id}"
    assert caught.value.method == "GET"


def test_a_body_without_a_content_type_says_so() -> None:
    """A missing content type is reported as such."""
    with pytest.raises(MalformedResponseError, match=r"not JSON \(no content type\)"):
        decipher(200, b"", {})


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, AuthenticationError, "Wisenet refused the API key"),
        (403, AuthenticationError, "Wisenet refused the API key"),
        (404, NotFoundError, "no such record"),
        (400, RejectedError, "rejected with 400"),
        (422, RejectedError, "rejected with 422"),
        (429, RateLimitedError, "rate limited"),
        (500, ServerError, "server error 500"),
        (503, ServerError, "server error 503"),
        (302, MalformedResponseError, "unexpected status 302"),
    ],
)
def test_each_status_means_one_error(status: int, error: type[WisenetError], message: str) -> None:
    """Statuses map to the error tree, naming method, endpoint template and status."""
    with pytest.raises(error) as caught:
        decipher(status, b'{"Message": "ignored"}')
    assert type(caught.value) is error
    assert str(caught.value) == f"GET /learnersAU/{{id}}: {message}"
    assert (caught.value.method, caught.value.endpoint, caught.value.status) == (
        "GET",
        "/learnersAU/{id}",
        status,
    )


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_read_whatever_the_header_case(status: int) -> None:
    """A delta-seconds hint travels with a retriable error."""
    with pytest.raises((RateLimitedError, ServerError)) as caught:
        decipher(status, b"", {"RETRY-AFTER": "7"})
    assert caught.value.retry_after == 7


def test_retry_after_as_a_date_is_read_against_now() -> None:
    """An HTTP-date hint is the seconds from `now` until then."""
    with pytest.raises(RateLimitedError) as caught:
        decipher(429, b"", {"Retry-After": "Fri, 14 Mar 2025 09:00:30 GMT"})
    assert caught.value.retry_after == 30


def test_httpx_headers_are_read_as_they_come() -> None:
    """The transport hands over httpx's headers unchanged."""
    headers = httpx.Headers({"Retry-After": "2", "Content-Type": "application/json"})
    with pytest.raises(RateLimitedError) as caught:
        decipher_response("GET", RECORD, 429, headers, b"", NOW)
    assert caught.value.retry_after == 2


def test_a_client_error_carries_no_retry_hint() -> None:
    """Only retriable errors keep Retry-After; a 404 is final."""
    with pytest.raises(NotFoundError) as caught:
        decipher(404, b"", {"Retry-After": "7"})
    assert not hasattr(caught.value, "retry_after")


def test_deciphering_is_pure() -> None:
    """The same response means the same thing however often it is read."""
    body = b'{"Data": {"LearnerId": 5}}'
    assert decipher(200, body) == decipher(200, body) == {"Data": {"LearnerId": 5}}


@pytest.mark.parametrize(
    ("failure", "described"),
    [
        (httpx.ReadTimeout("slow https://x/?usi=1"), "timed out"),
        (httpx.ConnectError("refused https://x/?usi=1"), "could not connect"),
        (
            httpx.RemoteProtocolError("eof"),
            "connection dropped before the response was complete",
        ),
        (httpx.ReadError("reset"), "connection dropped before the response was complete"),
        (httpx.UnsupportedProtocol("ftp://x"), "no usable response (UnsupportedProtocol)"),
    ],
)
def test_transport_failures_are_described_by_kind(failure: httpx.HTTPError, described: str) -> None:
    """A failure's description never quotes httpx's message (it may hold a URL's query)."""
    assert network_failure(failure) == described


def test_raw_keys_give_each_unreadable_record_its_own_placeholder() -> None:
    """Records without an integer id never make two pages look alike."""
    page = [{"Data": {"LearnerId": 3}}, {"Data": {"LearnerId": "3"}}, "junk", {"Data": None}]
    keys = raw_keys(page, "LearnerId")
    assert keys[0] == 3
    assert len({id(k) for k in keys[1:]}) == 3
    assert raw_keys({"not": "a list"}, "LearnerId") == []
