from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connector.errors import (
    AuthenticationError,
    InactiveLearnerError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    QuotaExhaustedError,
    RejectedError,
    ServerError,
)
from connector.wisenet.entities import CREDENTIALS
from connector.wisenet.retry import RetryPolicy
from connector.wisenet.usi import UsiFacts
from connector.wisenet.wire import CredentialData
from tests.support.client import API_KEY, BASE_URL, make_client
from tests.support.clock import FakeClock
from tests.support.samples import sample

pytestmark = pytest.mark.usefixtures("wisenet")


@pytest.fixture
def wisenet() -> Iterator[respx.MockRouter]:
    """A mocked Wisenet that fails any request a test did not route."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def learner(learner_id: int, **extra: Any) -> dict[str, Any]:
    """A minimal learner Item."""
    return {"Data": {"LearnerId": learner_id, **extra}, "Relationships": {}}


async def collect(pages: Any) -> list[int]:
    """Flatten pages of Items into their ids."""
    return [item.data.key() async for page in pages for item in page]


# --- envelope and samples ------------------------------------------------------------------


async def test_the_sample_learner_parses_with_the_fields_rules_read(
    wisenet: respx.MockRouter,
) -> None:
    """wisenet-api.md §7.1 parses; no personal value (name, USI, birth date, …) is held."""
    wisenet.get("/learnersAU/10452").respond(json=sample("learner_10452"))
    async with make_client() as client:
        item = await client.get_learner(10452)
    data = item.data
    assert data.learner_id == 10452
    assert data.last_modified_time_stamp == "2025-03-14T09:21:37.52"
    assert data.personal is not None
    assert data.personal.is_active is True
    assert data.personal.usi == UsiFacts(present=True, well_formed=True)
    assert data.personal.street_address is not None
    assert data.personal.street_address.has_postcode
    assert data.personal.has_date_of_birth
    assert data.demographics is not None
    assert data.demographics.disability_flag_id == 2
    assert "Jordan" not in data.model_dump_json()
    kept = data.model_dump_json()
    assert not [value for value in ("3AW88YH9U5", "3065", "@", "1996", "+61412") if value in kept]


async def test_the_sample_enrolments_parse(wisenet: respx.MockRouter) -> None:
    """§7.2 and §7.3 parse into typed models, tag ids included."""
    wisenet.get("/course-enrolments/88213").respond(json=sample("course_enrolment_88213"))
    wisenet.get("/unit-enrolments/455120").respond(json=sample("unit_enrolment_455120"))
    async with make_client() as client:
        ce = (await client.get_course_enrolment(88213)).data
        ue = (await client.get_unit_enrolment(455120)).data
    assert (ce.course_enrolment_id, ce.learner_id, ce.enrolment_status_id) == (88213, 10452, 4)
    assert [t.tag_id for t in ce.tag_ids or []] == [12]
    assert ce.end_date == "2025-11-28T00:00:00"
    assert ce.qualification_issued_flag is False
    assert (ue.unit_enrolment_id, ue.course_enrolment_id, ue.outcome_id) == (455120, 88213, 20)


async def test_every_request_carries_the_api_key(wisenet: respx.MockRouter) -> None:
    """`x-api-key` and `Accept: application/json` go on every request."""
    route = wisenet.get("/learnersAU/1").respond(json=learner(1))
    async with make_client() as client:
        await client.get_learner(1)
    request = route.calls.last.request
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["accept"] == "application/json"


async def test_unknown_fields_and_null_properties_are_tolerated(wisenet: respx.MockRouter) -> None:
    """Fields the model does not know are ignored; nulls and omissions both read as unset."""
    body = learner(7, Personal=None, SomethingNew={"x": 1}, Demographics={"GenderId": None})
    wisenet.get("/learnersAU/7").respond(json=body)
    async with make_client() as client:
        data = (await client.get_learner(7)).data
    assert data.personal is None
    assert data.demographics is not None


# --- paging and filters --------------------------------------------------------------------


async def test_paging_stops_on_a_short_page(wisenet: respx.MockRouter) -> None:
    """Pages of `take` are followed until a short one; skip advances by what arrived."""
    pages = {0: [learner(1), learner(2)], 2: [learner(3), learner(4)], 4: [learner(5)]}
    route = wisenet.get("/learnersAU").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[int(request.url.params["skip"])])
    )
    async with make_client(page_size=2) as client:
        ids = await collect(client.learners())
    assert ids == [1, 2, 3, 4, 5]
    assert [call.request.url.params["skip"] for call in route.calls] == ["0", "2", "4"]
    assert {call.request.url.params["take"] for call in route.calls} == {"2"}


async def test_paging_stops_on_an_empty_page(wisenet: respx.MockRouter) -> None:
    """An exactly-full last page costs one more request, which answers []."""
    route = wisenet.get("/learnersAU").mock(
        side_effect=[
            httpx.Response(200, json=[learner(1), learner(2)]),
            httpx.Response(200, json=[]),
        ]
    )
    async with make_client(page_size=2) as client:
        assert await collect(client.learners()) == [1, 2]
    assert route.call_count == 2


async def test_the_next_page_is_requested_while_the_current_one_is_consumed(
    wisenet: respx.MockRouter,
) -> None:
    """A full page means another is needed: it is already on its way when the first arrives."""
    pages = {0: [learner(1), learner(2)], 2: [learner(3)]}
    route = wisenet.get("/learnersAU").mock(
        side_effect=lambda request: httpx.Response(200, json=pages[int(request.url.params["skip"])])
    )
    async with make_client(page_size=2) as client:
        listing = client.learners()
        first = await anext(listing)
        await asyncio.sleep(0)  # let the prefetch task run
        assert [item.data.learner_id for item in first] == [1, 2]
        assert route.call_count == 2
        assert [item.data.learner_id for item in await anext(listing)] == [3]
        with pytest.raises(StopAsyncIteration):
            await anext(listing)
    assert route.call_count == 2


async def test_abandoning_a_listing_cancels_the_prefetch(wisenet: respx.MockRouter) -> None:
    """A consumer that stops early leaves no request behind it."""
    never = asyncio.Event()

    async def slow_second_page(request: httpx.Request) -> httpx.Response:
        if request.url.params["skip"] != "0":
            await never.wait()
        return httpx.Response(200, json=[learner(1), learner(2)])

    wisenet.get("/learnersAU").mock(side_effect=slow_second_page)
    async with make_client(page_size=2) as client:
        listing = client.learners()
        await anext(listing)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert any(not task.done() for task in others)  # the prefetch is in flight
        await listing.aclose()
        await asyncio.sleep(0)
        assert all(task.done() for task in others)


async def test_a_server_repeating_a_page_is_a_malformed_response(wisenet: respx.MockRouter) -> None:
    """A server that ignores `skip` would loop forever; the client stops with a clear error."""
    wisenet.get("/learnersAU").respond(json=[learner(1), learner(2)])
    async with make_client(page_size=2) as client:
        with pytest.raises(MalformedResponseError, match=r"GET /learnersAU: .*repeats"):
            await collect(client.learners())


async def test_the_modified_filter_uses_each_endpoints_spelling(wisenet: respx.MockRouter) -> None:
    """`lastModifiedTimeStampFilter` mostly; `lastModifiedTimestampFilter` on unit enrolments."""
    ces = wisenet.get("/course-enrolments").respond(json=[])
    ues = wisenet.get("/unit-enrolments").respond(json=[])
    since = datetime(2025, 3, 13, 22, 0, tzinfo=UTC)
    async with make_client() as client:
        await collect(client.course_enrolments(modified_since=since))
        await collect(client.unit_enrolments(modified_since=since))
    ce_params = ces.calls.last.request.url.params
    assert ce_params["lastModifiedTimeStampFilter"] == "ge:2025-03-14T09:00:00.000"
    assert (ce_params["sort"], ce_params["order"]) == ("LastModifiedTimeStamp", "asc")
    ue_params = ues.calls.last.request.url.params
    assert ue_params["lastModifiedTimestampFilter"] == "ge:2025-03-14T09:00:00.000"
    assert "lastModifiedTimeStampFilter" not in ue_params


async def test_equality_filters_are_plain_values(wisenet: respx.MockRouter) -> None:
    """Id and flag filters carry no operator prefix."""
    creds = wisenet.get("/credentials").respond(json=[])
    people = wisenet.get("/learnersAU").respond(json=[])
    async with make_client() as client:
        await collect(client.credentials(course_enrolment_id=88213))
        assert creds.calls.last.request.url.params["courseEnrolmentIdFilter"] == "88213"
        await collect(client.credentials(learner_id=10437))
        await collect(client.learners(is_active=True))
    assert creds.calls.last.request.url.params["learnerIdFilter"] == "10437"
    assert "courseEnrolmentIdFilter" not in creds.calls.last.request.url.params
    assert people.calls.last.request.url.params["isActiveFilter"] == "true"


async def test_credentials_cannot_be_filtered_by_modification() -> None:
    """The client refuses to invent a modified filter an endpoint does not have."""
    client = make_client()
    pages = client._pages(CREDENTIALS.listing, CredentialData, {}, datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="no modified filter"):
        await collect(pages)


# --- retries -------------------------------------------------------------------------------


async def test_a_rate_429_is_retried_after_backoff(wisenet: respx.MockRouter) -> None:
    """A 429 below the quota is the per-second rate: wait and retry."""
    route = wisenet.get("/learnersAU/1").mock(
        side_effect=[
            httpx.Response(429, json={"message": "Too Many Requests"}),
            httpx.Response(200, json=learner(1)),
        ]
    )
    clock = FakeClock()
    async with make_client(clock) as client:
        assert (await client.get_learner(1)).data.learner_id == 1
    assert route.call_count == 2
    assert any(0.25 <= s <= 0.5 for s in clock.sleeps)


async def test_retry_after_is_honoured_and_capped(wisenet: respx.MockRouter) -> None:
    """Retry-After sets the wait, capped by the policy."""
    wisenet.get("/learnersAU/1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": "9999"}),
            httpx.Response(200, json=learner(1)),
        ]
    )
    clock = FakeClock()
    async with make_client(clock, retry=RetryPolicy(retry_after_cap=30)) as client:
        await client.get_learner(1)
    waits = [s for s in clock.sleeps if s >= 1]
    assert waits == [3, 30]


async def test_5xx_and_dropped_connections_are_retried(wisenet: respx.MockRouter) -> None:
    """Server errors, timeouts and dropped connections are transient."""
    route = wisenet.get("/learnersAU/1").mock(
        side_effect=[
            httpx.Response(502),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed"),
            httpx.Response(200, json=learner(1)),
        ]
    )
    async with make_client() as client:
        await client.get_learner(1)
    assert route.call_count == 4


async def test_retries_stop_after_the_attempt_limit(wisenet: respx.MockRouter) -> None:
    """A server that stays down gives up after max_attempts with the last error."""
    route = wisenet.get("/learnersAU/1").respond(500)
    async with make_client(retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(ServerError, match=r"GET /learnersAU/\{id\}: server error 500"):
            await client.get_learner(1)
    assert route.call_count == 3


async def test_retries_stop_after_the_total_time_bound(wisenet: respx.MockRouter) -> None:
    """However many attempts remain, retrying stops once the time bound is used."""
    route = wisenet.get("/learnersAU/1").respond(503, headers={"Retry-After": "40"})
    policy = RetryPolicy(max_attempts=100, total_seconds=100, retry_after_cap=40)
    async with make_client(retry=policy) as client:
        with pytest.raises(ServerError):
            await client.get_learner(1)
    assert route.call_count == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RejectedError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, RejectedError),
    ],
)
async def test_client_errors_are_never_retried(
    wisenet: respx.MockRouter, status: int, error: type[Exception]
) -> None:
    """Other 4xx fail at once, as the matching error."""
    route = wisenet.get("/learnersAU/1").respond(status, json={"Message": "no"})
    async with make_client() as client:
        with pytest.raises(error):
            await client.get_learner(1)
    assert route.call_count == 1


async def test_a_429_near_the_quota_means_the_day_is_spent(wisenet: respx.MockRouter) -> None:
    """With the day's counter at the quota's edge, a 429 stops all calls at once."""
    ok = wisenet.get("/learnersAU/1").respond(json=learner(1))
    spent = wisenet.get("/learnersAU/2").respond(429, json={"message": "Limit Exceeded"})
    async with make_client(daily_quota=50) as client:
        for _ in range(49):
            await client.get_learner(1)
        with pytest.raises(QuotaExhaustedError, match="quota spent"):
            await client.get_learner(2)
        with pytest.raises(QuotaExhaustedError, match="budget of 50 requests is spent"):
            await client.get_learner(1)
        assert (await client.budget.state()).exhausted
    assert (ok.call_count, spent.call_count) == (49, 1)


async def test_429s_that_never_clear_mean_someone_else_spent_the_quota(
    wisenet: respx.MockRouter,
) -> None:
    """A rate limit clears within a second; a minute of 429s is the quota (shared key)."""
    route = wisenet.get("/learnersAU/1").respond(429)
    policy = RetryPolicy(max_attempts=50, max_backoff=16, sustained_429_seconds=60)
    async with make_client(retry=policy) as client:
        with pytest.raises(QuotaExhaustedError):
            await client.get_learner(1)
        assert (await client.budget.state()).exhausted
    assert 5 <= route.call_count < 50


async def test_a_short_429_storm_is_ridden_out(wisenet: respx.MockRouter) -> None:
    """A few 429s in a row are the rate, not the quota."""
    responses = [httpx.Response(429)] * 4 + [httpx.Response(200, json=learner(1))]
    wisenet.get("/learnersAU/1").mock(side_effect=responses)
    async with make_client() as client:
        await client.get_learner(1)
        assert not (await client.budget.state()).exhausted


async def test_a_spent_budget_sends_nothing(wisenet: respx.MockRouter) -> None:
    """Once the local budget is used up, no request leaves the process."""
    route = wisenet.get("/learnersAU/1").respond(json=learner(1))
    async with make_client(daily_quota=2) as client:
        await client.get_learner(1)
        await client.get_learner(1)
        with pytest.raises(QuotaExhaustedError):
            await client.get_learner(1)
    assert route.call_count == 2


async def test_retries_spend_the_budget_too(wisenet: respx.MockRouter) -> None:
    """Every attempt is a request Wisenet counts, so every attempt is counted."""
    wisenet.get("/learnersAU/1").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json=learner(1))]
    )
    async with make_client() as client:
        await client.get_learner(1)
        assert (await client.budget.state()).used == 2


async def test_requests_are_spaced_by_the_rate_limiter(wisenet: respx.MockRouter) -> None:
    """Ten quick calls at 8/s leave 0.125 s apart; the ninth waits out the window's margin."""
    wisenet.get("/learnersAU/1").respond(json=learner(1))
    clock = FakeClock()
    async with make_client(clock, rate_limit=8) as client:
        for _ in range(10):
            await client.get_learner(1)
    assert clock.sleeps == pytest.approx([0.125] * 7 + [0.175, 0.125])


# --- bad input -----------------------------------------------------------------------------


async def test_a_non_json_body_names_the_endpoint(wisenet: respx.MockRouter) -> None:
    """A 200 carrying an HTML error page is a malformed response, named by endpoint."""
    wisenet.get("/course-enrolments/5").respond(
        200, text="<html><body>Jordan Nguyen</body></html>", headers={"content-type": "text/html"}
    )
    async with make_client() as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.get_course_enrolment(5)
    message = str(caught.value)
    assert message == "GET /course-enrolments/{id}: response is not JSON (text/html)"


async def test_a_wrong_envelope_says_where_without_quoting_values(
    wisenet: respx.MockRouter,
) -> None:
    """A record outside `{Data, Relationships}` is refused, naming the path, not the data."""
    wisenet.get("/learnersAU").respond(json=[{"LearnerId": 3, "FirstName": "Jordan"}])
    async with make_client() as client:
        with pytest.raises(MalformedResponseError) as caught:
            await collect(client.learners())
    message = str(caught.value)
    assert message.startswith("GET /learnersAU: unexpected response shape: 0.Data: Field required")
    assert "Jordan" not in message


async def test_a_wrong_type_is_reported_by_field(wisenet: respx.MockRouter) -> None:
    """A field of the wrong type is named by its path."""
    wisenet.get("/learnersAU/1").respond(json={"Data": {"LearnerId": "ten"}})
    async with make_client() as client:
        with pytest.raises(MalformedResponseError, match=r"Data\.LearnerId"):
            await client.get_learner(1)


async def test_a_401_says_the_key_was_refused(wisenet: respx.MockRouter) -> None:
    """A bad key is an authentication error naming the endpoint."""
    wisenet.get("/combos/outcomes").respond(401, json={"message": "Unauthorized"})
    async with make_client() as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.combo("outcomes")
    assert str(caught.value) == "GET /combos/{name}: Wisenet refused the API key"


async def test_errors_never_quote_query_values(wisenet: respx.MockRouter) -> None:
    """Transport errors name the template, not the URL with its filter values."""
    wisenet.get("/learnersAU").mock(side_effect=httpx.ConnectError("https://x/?search=Nguyen"))
    async with make_client(retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(NetworkError) as caught:
            await collect(client.learners())
    assert str(caught.value) == "GET /learnersAU: could not connect"


# --- reference data and writes -------------------------------------------------------------


async def test_combos_resolve_whatever_their_id_property_is_called(
    wisenet: respx.MockRouter,
) -> None:
    """Each combo names its id differently; entries keep id, description and code."""
    wisenet.get("/combos/outcomes").respond(
        json=[
            {"Data": {"OutcomeId": 7711, "Code": "20", "Description": "Competency achieved"}},
            {"Data": {"OutcomeId": 7712, "Code": "00", "Description": None}},
        ]
    )
    async with make_client() as client:
        entries = await client.combo("outcomes")
    assert [(e.id, e.code, e.description) for e in entries] == [
        (7711, "20", "Competency achieved"),
        (7712, "00", None),
    ]


async def test_a_combo_without_an_id_is_malformed(wisenet: respx.MockRouter) -> None:
    """A combo value must carry exactly one integer …Id."""
    wisenet.get("/combos/genders").respond(json=[{"Data": {"Description": "Female"}}])
    async with make_client() as client:
        with pytest.raises(MalformedResponseError, match="item 0: expected one integer"):
            await client.combo("genders")


async def test_tags_list_includes_archived_and_create_posts_an_array(
    wisenet: respx.MockRouter,
) -> None:
    """GET /tags is not paged; POST /tags sends a one-element array and reads 201."""
    listing = wisenet.get("/tags").respond(
        json=[
            {
                "Data": {
                    "TagId": 12,
                    "Name": "VIP",
                    "EntityName": "CourseEnrolment",
                    "ArchivedFlag": True,
                },
                "Relationships": {},
            }
        ]
    )
    created = wisenet.post("/tags").respond(
        201,
        json=[
            {
                "Data": {
                    "TagId": 99,
                    "Name": "certified",
                    "EntityName": "CourseEnrolment",
                    "ArchivedFlag": False,
                },
                "Relationships": {},
            }
        ],
    )
    async with make_client() as client:
        tags = await client.tags()
        tag = await client.create_tag("certified")
    assert [(t.data.name, t.data.archived_flag) for t in tags] == [("VIP", True)]
    assert listing.calls.last.request.url.params["entityNameFilter"] == "CourseEnrolment"
    assert "skip" not in listing.calls.last.request.url.params
    assert tag.data.tag_id == 99
    assert created.calls.last.request.read() == (
        b'[{"Name":"certified","EntityName":"CourseEnrolment","ArchivedFlag":false}]'
    )


async def test_tag_patch_sends_the_whole_list_and_reads_the_item_back(
    wisenet: respx.MockRouter,
) -> None:
    """The PATCH replaces TagIds with the complete list; the response is the new snapshot."""
    updated = sample("course_enrolment_88213")
    updated["Data"]["TagIds"] = [{"TagId": 12}, {"TagId": 57}]
    route = wisenet.patch("/course-enrolments/88213").respond(json=updated)
    async with make_client() as client:
        item = await client.set_course_enrolment_tags(88213, [12, 57], learner_id=10452)
    assert route.calls.last.request.read() == (
        b'[{"op":"replace","path":"TagIds","value":[{"TagId":12},{"TagId":57}]}]'
    )
    assert [t.tag_id for t in item.data.tag_ids or []] == [12, 57]


async def test_tag_patch_accepts_a_bare_data_response(wisenet: respx.MockRouter) -> None:
    """The spec declares a bare Data object for some PATCH responses; both shapes work."""
    data = sample("course_enrolment_88213")["Data"]
    wisenet.patch("/course-enrolments/88213").respond(json=data)
    async with make_client() as client:
        item = await client.set_course_enrolment_tags(88213, [12], learner_id=10452)
    assert item.data.course_enrolment_id == 88213


async def test_a_400_for_an_inactive_learner_is_told_apart(wisenet: respx.MockRouter) -> None:
    """A refused write is checked against the learner once: inactive means skip, not dead."""
    wisenet.patch("/course-enrolments/88213").respond(400, json={"Message": "inactive"})
    inactive = learner(10452, Personal={"IsActive": False})
    reads = wisenet.get("/learnersAU/10452").respond(json=inactive)
    async with make_client() as client:
        with pytest.raises(InactiveLearnerError):
            await client.set_course_enrolment_tags(88213, [12], learner_id=10452)
    assert reads.call_count == 1


async def test_a_400_for_an_active_learner_stays_a_rejection(wisenet: respx.MockRouter) -> None:
    """If the learner is active the refusal is something else: a plain rejection."""
    wisenet.patch("/course-enrolments/88213").respond(400)
    wisenet.get("/learnersAU/10452").respond(json=learner(10452, Personal={"IsActive": True}))
    async with make_client() as client:
        with pytest.raises(RejectedError) as caught:
            await client.set_course_enrolment_tags(88213, [999], learner_id=10452)
    assert not isinstance(caught.value, InactiveLearnerError)


async def test_a_filenote_is_posted_as_an_array(wisenet: respx.MockRouter) -> None:
    """POST /filenotes takes an array with RecordId, EntityName and Name."""
    route = wisenet.post("/filenotes").respond(201, json=[])
    async with make_client() as client:
        await client.post_filenote(record_id=88213, entity_name="CourseEnrolment", name="tagged")
    assert route.calls.last.request.read() == (
        b'[{"RecordId":88213,"EntityName":"CourseEnrolment","Name":"tagged"}]'
    )


async def test_audit_logs_filter_by_action_entity_and_time(wisenet: respx.MockRouter) -> None:
    """Deletes are found through the audit log with an operator time filter."""
    route = wisenet.get("/audit-logs").respond(
        json=[
            {
                "Data": {
                    "AuditLogId": 1,
                    "RecordId": 9,
                    "EntityName": "Learner",
                    "AuditAction": "D",
                    "LastModifiedTimeStamp": "2025-03-14T10:00:00.1",
                }
            }
        ]
    )
    since = datetime(2025, 3, 13, 23, 0, tzinfo=UTC)
    async with make_client() as client:
        entries = [
            i.data
            async for page in client.audit_logs(
                modified_since=since, action="D", entity_name="Learner"
            )
            for i in page
        ]
    params = route.calls.last.request.url.params
    assert (params["auditActionFilter"], params["entityNameFilter"]) == ("D", "Learner")
    assert params["lastModifiedTimeStampFilter"] == "ge:2025-03-14T10:00:00.000"
    assert [(e.record_id, e.audit_action) for e in entries] == [(9, "D")]
