"""The sandbox against wisenet-api.md §8.1, item by item, in process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain, pairwise
from typing import Any

import pytest

from connector.sandbox.service import Sandbox
from tests.support.samples import sample
from tests.support.sandbox import InProcessClient, client_for, make_sandbox


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh 300-learner sandbox."""
    return make_sandbox()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[InProcessClient]:
    """A client of that sandbox with the right key."""
    with client_for(sandbox) as client:
        yield client


def data(response: Any) -> Any:
    """The JSON of a successful response."""
    assert response.status_code in (200, 201), response.text
    return response.json()


def ids(items: list[dict[str, Any]], key: str) -> list[int]:
    """The ids of a list of Items."""
    return [item["Data"][key] for item in items]


def case(sandbox: Sandbox, name: str) -> Any:
    """A planted case by name."""
    return next(c for c in sandbox.cases if c.name == name)


# --- authentication -------------------------------------------------------------------------


def test_the_api_key_is_required(api: InProcessClient) -> None:
    """No key or an unknown key gets 401 with a message; the right one gets data."""
    assert api.get("/v1/learnersAU", headers={"x-api-key": ""}).status_code == 401
    wrong = api.get("/v1/learnersAU", headers={"x-api-key": "nope"})
    assert wrong.status_code == 401
    assert "Message" in wrong.json()
    assert api.get("/v1/learnersAU").status_code == 200


def test_the_auth_failure_status_is_configurable() -> None:
    """Where Wisenet answers 403 instead, the sandbox can too."""
    with client_for(make_sandbox(auth_failure_status=403)) as api:
        assert api.get("/v1/learnersAU", headers={"x-api-key": "nope"}).status_code == 403


# --- envelope -------------------------------------------------------------------------------


def keys_of(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON object, e.g. `Personal.StreetAddress.Postcode`."""
    if not isinstance(value, dict):
        return set()
    paths = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        paths |= keys_of(inner, f"{path}.")
    return paths


@pytest.mark.parametrize(
    ("sample_name", "path", "id_key"),
    [
        ("learner_10452", "/v1/learnersAU", "LearnerId"),
        ("course_enrolment_88213", "/v1/course-enrolments", "CourseEnrolmentId"),
        ("unit_enrolment_455120", "/v1/unit-enrolments", "UnitEnrolmentId"),
    ],
)
def test_records_have_every_property_of_the_contract_samples(
    api: InProcessClient, sample_name: str, path: str, id_key: str
) -> None:
    """Each §7 sample's Data and Relationships keys exist in the sandbox's records."""
    literal = sample(sample_name)
    first = data(api.get(path, params={"take": 1}))[0]
    one = data(api.get(f"{path}/{first['Data'][id_key]}"))
    assert set(one) == {"Data", "Relationships"}
    assert keys_of(literal["Data"]) - keys_of(one["Data"]) == set()
    assert set(literal["Relationships"]) - set(one["Relationships"]) == set()


def test_unset_properties_are_null_not_missing(api: InProcessClient) -> None:
    """Properties the record does not set are present with null."""
    learner = data(api.get("/v1/learnersAU", params={"take": 1}))[0]["Data"]
    assert learner["International"] is None
    assert "NextOfKin" in learner
    assert learner["Personal"]["MiddleName"] is None


def test_relationships_follow_the_current_data(api: InProcessClient, sandbox: Sandbox) -> None:
    """A status change shows in the enrolment's Relationships at once."""
    ce_id = case(sandbox, "stage-current").course_enrolment_ids[0]
    assert data(
        api.post(f"/_sandbox/course-enrolments/{ce_id}/status", json={"status": "Completed"})
    )
    item = data(api.get(f"/v1/course-enrolments/{ce_id}"))
    assert item["Relationships"]["EnrolmentStatus"]["Description"] == "Completed"
    assert item["Data"]["ActualEndDate"] == "2026-11-29T00:00:00"


def test_an_unknown_id_is_404(api: InProcessClient) -> None:
    """A record that does not exist answers 404 with a message."""
    missing = api.get("/v1/course-enrolments/1")
    assert missing.status_code == 404
    assert "Message" in missing.json()


# --- paging ---------------------------------------------------------------------------------


def test_lists_are_bare_arrays_paged_by_skip_and_take(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """Skip and take slice an id-ordered listing; the end is a short page."""
    everything = ids(data(api.get("/v1/learnersAU")), "LearnerId")
    assert everything == sorted(sandbox.db.learners.ids())
    pages = [
        ids(data(api.get("/v1/learnersAU", params={"skip": s, "take": 128})), "LearnerId")
        for s in range(0, 384, 128)
    ]
    assert [len(p) for p in pages] == [128, 128, 44]
    assert list(chain.from_iterable(pages)) == everything


def test_take_defaults_to_and_is_capped_at_1000(api: InProcessClient, sandbox: Sandbox) -> None:
    """More than 1,000 unit enrolments exist; no page holds more than 1,000."""
    assert len(sandbox.db.unit_enrolments) > 1000
    assert len(data(api.get("/v1/unit-enrolments"))) == 1000
    assert len(data(api.get("/v1/unit-enrolments", params={"take": 5000}))) == 1000


def test_tags_and_combos_are_not_paged(api: InProcessClient) -> None:
    """Paging parameters are ignored where Wisenet does not page."""
    assert len(data(api.get("/v1/tags", params={"skip": 3, "take": 1}))) == 6
    assert len(data(api.get("/v1/combos/outcomes", params={"take": 2}))) == 18


def test_a_bad_paging_value_is_400(api: InProcessClient) -> None:
    """Non-numeric or negative paging is refused."""
    assert api.get("/v1/learnersAU", params={"skip": "x"}).status_code == 400
    assert api.get("/v1/learnersAU", params={"take": -1}).status_code == 400


# --- filters --------------------------------------------------------------------------------


def modified(items: list[dict[str, Any]]) -> list[str]:
    """The LastModifiedTimeStamp of each Item."""
    return [item["Data"]["LastModifiedTimeStamp"] for item in items]


def test_operator_filters_on_the_modified_timestamp(api: InProcessClient) -> None:
    """gt, ge, lt, le, eq, ne, bt, in, ni, ct and nc all select what they say."""
    everything = data(api.get("/v1/course-enrolments"))
    stamps = modified(everything)
    middle = stamps[len(stamps) // 2]

    def count(value: str) -> int:
        return len(
            data(api.get("/v1/course-enrolments", params={"lastModifiedTimeStampFilter": value}))
        )

    before = sum(1 for s in stamps if _ts(s) < _ts(middle))
    assert count(f"ge:{middle}") == len(stamps) - before
    assert count(f"gt:{middle}") == len(stamps) - before - 1
    assert count(f"lt:{middle}") == before
    assert count(f"le:{middle}") == before + 1
    assert count(f"eq:{middle}") == 1
    assert count(middle) == 1
    assert count(f"ne:{middle}") == len(stamps) - 1
    assert count(f"bt:{stamps[10]},{stamps[19]}") == 10
    assert count(f"in:{stamps[3]},{stamps[7]}") == 2
    assert count(f"ni:{stamps[3]},{stamps[7]}") == len(stamps) - 2
    day = middle[:10]
    assert count(f"ct:{day}") == sum(1 for s in stamps if s.startswith(day))
    assert count(f"nc:{day}") == sum(1 for s in stamps if not s.startswith(day))


def _ts(text: str) -> tuple[int, ...]:
    parts = re.split(r"[-T:.]", text)
    frac = (parts[6] if len(parts) > 6 else "").ljust(3, "0")
    return (*map(int, parts[:6]), int(frac))


def test_both_spellings_of_the_modified_filter_work_everywhere(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """Query names match case-insensitively, so either spelling filters either endpoint."""
    tables = {
        "/v1/course-enrolments": (sandbox.db.course_enrolments, "CourseEnrolmentId"),
        "/v1/unit-enrolments": (sandbox.db.unit_enrolments, "UnitEnrolmentId"),
        "/v1/learnersAU": (sandbox.db.learners, "LearnerId"),
    }
    for path, (table, key) in tables.items():
        stamps = sorted(table.modified.values())
        cut = stamps[-40]
        expected = sorted(i for i, stamp in table.modified.items() if stamp >= cut)
        value = "ge:" + cut.isoformat(timespec="milliseconds")
        for name in (
            "lastModifiedTimeStampFilter",
            "lastModifiedTimestampFilter",
            "LASTMODIFIEDTIMESTAMPFILTER",
        ):
            found = sorted(ids(data(api.get(path, params={name: value})), key))
            assert found == expected, (path, name)
        assert len(expected) == 40


def test_credentials_have_no_modified_filter(api: InProcessClient, sandbox: Sandbox) -> None:
    """A modified filter on /credentials is an unknown parameter and is ignored."""
    filtered = data(
        api.get("/v1/credentials", params={"lastModifiedTimeStampFilter": "ge:2099-01-01T00:00:00"})
    )
    assert len(filtered) == len(sandbox.db.credentials)
    assert "LastModifiedTimeStamp" not in filtered[0]["Data"]


def test_equality_filters_on_ids_and_flags(api: InProcessClient, sandbox: Sandbox) -> None:
    """Id and flag filters select by equality; an operator on an id filter is refused."""
    planted = case(sandbox, "example-withdrawn-plus-certified")
    mine = data(api.get("/v1/course-enrolments", params={"learnerIdFilter": planted.learner_id}))
    assert sorted(ids(mine, "CourseEnrolmentId")) == sorted(planted.course_enrolment_ids)
    inactive = data(api.get("/v1/learnersAU", params={"isActiveFilter": "false"}))
    assert inactive
    assert all(item["Data"]["Personal"]["IsActive"] is False for item in inactive)
    assert api.get("/v1/course-enrolments", params={"learnerIdFilter": "in:1,2"}).status_code == 400


def test_course_offer_start_date_takes_operators(api: InProcessClient) -> None:
    """The course offer start date filter accepts operator prefixes."""
    future = data(
        api.get(
            "/v1/course-offers", params={"courseOfferStartDateFilter": "gt:2026-11-29T00:00:00"}
        )
    )
    assert future
    assert all(item["Data"]["CourseOfferStartDate"] > "2026-11-29" for item in future)


def test_the_list_separator_is_configurable() -> None:
    """Where Wisenet turns out to separate lists with ';', the sandbox can too."""
    sandbox = make_sandbox(list_separator=";")
    with client_for(sandbox) as api:
        stamps = modified(data(api.get("/v1/course-enrolments")))
        chosen = {"lastModifiedTimeStampFilter": f"in:{stamps[1]};{stamps[2]}"}
        assert len(data(api.get("/v1/course-enrolments", params=chosen))) == 2


def test_a_malformed_filter_value_is_400(api: InProcessClient) -> None:
    """An unreadable date is refused, naming the filter."""
    bad = api.get("/v1/learnersAU", params={"lastModifiedTimeStampFilter": "ge:yesterday"})
    assert bad.status_code == 400
    assert "lastmodifiedtimestampfilter" in bad.json()["Message"]


def test_unknown_parameters_are_ignored(api: InProcessClient) -> None:
    """A parameter the endpoint does not know changes nothing."""
    assert data(api.get("/v1/tags", params={"colour": "blue"}))


# --- sort and order -------------------------------------------------------------------------


def test_course_enrolments_sort_by_modification_ascending_by_default(api: InProcessClient) -> None:
    """Default sort is LastModifiedTimeStamp, ascending."""
    stamps = [_ts(s) for s in modified(data(api.get("/v1/course-enrolments")))]
    assert stamps == sorted(stamps)


def test_course_enrolments_sort_by_end_date_descending(api: InProcessClient) -> None:
    """sort=EndDate&order=desc puts the latest end first (no end date last)."""
    items = data(api.get("/v1/course-enrolments", params={"sort": "EndDate", "order": "desc"}))
    ends = [item["Data"]["EndDate"] for item in items if item["Data"]["EndDate"]]
    assert ends == sorted(ends, reverse=True)
    assert api.get("/v1/course-enrolments", params={"sort": "Colour"}).status_code == 400


# --- timestamps -----------------------------------------------------------------------------


def test_timestamps_are_local_with_trimmed_fractions(api: InProcessClient) -> None:
    """No offsets; fractions of 0 to 3 digits with trailing zeros trimmed; dates at midnight."""
    items = data(api.get("/v1/unit-enrolments"))
    stamps = modified(items)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?", s) for s in stamps)
    assert not any(s.endswith("0") and "." in s for s in stamps)
    lengths = {len(s.partition(".")[2]) for s in stamps}
    assert {0, 1, 2} <= lengths
    assert all(item["Data"]["StartDate"].endswith("T00:00:00") for item in items)


# --- limits ---------------------------------------------------------------------------------


def test_more_than_ten_requests_in_a_second_get_429() -> None:
    """Past 10 accepted requests in one second the rate 429 comes, with its own body."""
    sandbox = make_sandbox(rate_limit=10)
    with client_for(sandbox) as api:
        statuses = [api.get("/v1/tags") for _ in range(15)]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused
    assert refused[0].json() == {"message": "Too Many Requests"}
    assert sandbox.counters.rate_limited == len(refused)
    assert sum(r.status_code == 200 for r in statuses) >= 10


def test_the_daily_quota_gets_429_with_a_different_body() -> None:
    """Past the quota every request is refused until the clock passes midnight."""
    sandbox = make_sandbox(daily_quota=3)
    with client_for(sandbox) as api:
        assert [api.get("/v1/tags").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert api.get("/v1/tags").json() == {"message": "Limit Exceeded"}
        assert sandbox.counters.quota_limited == 2
        data(api.post("/_sandbox/clock", json={"advance": {"days": 1}}))
        assert api.get("/v1/tags").status_code == 200


def test_the_quota_can_be_reset_and_retry_after_switched_on() -> None:
    """Control: reset the quota; optionally say Retry-After on 429s."""
    sandbox = make_sandbox(daily_quota=1)
    with client_for(sandbox) as api:
        api.get("/v1/tags")
        data(api.post("/_sandbox/limits", json={"retry_after": True}))
        refused = api.get("/v1/tags")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        data(api.post("/_sandbox/quota/reset"))
        assert api.get("/v1/tags").status_code == 200


def test_zero_means_unlimited(api: InProcessClient) -> None:
    """With both limits at 0 (the test default) nothing is refused."""
    assert all(api.get("/v1/tags").status_code == 200 for _ in range(30))


# --- writes ---------------------------------------------------------------------------------


def patch(api: InProcessClient, path: str, *operations: dict[str, Any]) -> Any:
    """Send a PATCH document."""
    return api.patch(path, json=list(operations))


def test_patch_replaces_fields_under_data_by_slash_path(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """`replace` in any case, with or without a leading slash, nested paths included."""
    learner = case(sandbox, "stage-current").learner_id
    done = data(
        patch(
            api,
            f"/v1/learnersAU/{learner}",
            {"op": "Replace", "path": "/Personal/EmailAddresses/Email", "value": "new@example.com"},
            {"op": "replace", "path": "Personal/GenderId", "value": None},
        )
    )
    assert done["Data"]["Personal"]["EmailAddresses"]["Email"] == "new@example.com"
    assert done["Data"]["Personal"]["GenderId"] is None


def test_the_patch_log_says_whether_each_patch_changed_the_record(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """The same PATCH twice: logged twice, the second as a change of nothing."""
    learner = case(sandbox, "stage-current").learner_id
    operation = {"op": "replace", "path": "Personal/GenderId", "value": None}
    for _ in range(2):
        data(patch(api, f"/v1/learnersAU/{learner}", operation))
    log = data(api.get("/_sandbox/patches"))
    assert [(p["entity"], p["id"], p["operations"]) for p in log] == [
        ("Learner", learner, [operation])
    ] * 2
    assert [p["changed"] for p in log] == [True, False]


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/v1/learnersAU/{learner}", {"op": "replace", "path": "Personal/ShoeSize", "value": 9}),
        ("/v1/learnersAU/{learner}", {"op": "replace", "path": "LearnerId", "value": 9}),
        ("/v1/learnersAU/{learner}", {"op": "add", "path": "Personal/GenderId", "value": 1}),
        ("/v1/learnersAU/{learner}", {"path": "Personal/GenderId", "value": 1}),
        ("/v1/unit-enrolments/{unit}", {"op": "replace", "path": "UnitOfferId", "value": 1}),
        ("/v1/unit-enrolments/{unit}", {"op": "replace", "path": "CourseEnrolmentId", "value": 1}),
        ("/v1/course-enrolments/{ce}", {"op": "replace", "path": "TagIds", "value": [{"Tag": 1}]}),
    ],
)
def test_bad_patches_are_400(
    api: InProcessClient, sandbox: Sandbox, path: str, operation: dict[str, Any]
) -> None:
    """Unknown paths, ids, immutable links, other ops and malformed operations are refused."""
    planted = case(sandbox, "outcome-overdue")
    unit = sorted(
        sandbox.db.unit_enrolments.ids_where("CourseEnrolmentId", planted.course_enrolment_ids[0])
    )[0]
    url = path.format(learner=planted.learner_id, unit=unit, ce=planted.course_enrolment_ids[0])
    assert patch(api, url, operation).status_code == 400


def test_writes_to_inactive_learners_and_their_enrolments_are_refused(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """An inactive learner is read-only through the API, enrolments included."""
    planted = case(sandbox, "inactive-learner-reconnect")
    ce = planted.course_enrolment_ids[0]
    refused = patch(
        api, f"/v1/course-enrolments/{ce}", {"op": "replace", "path": "TagIds", "value": []}
    )
    assert refused.status_code == 400
    assert "inactive" in refused.json()["Message"]
    assert (
        patch(
            api,
            f"/v1/learnersAU/{planted.learner_id}",
            {"op": "replace", "path": "Personal/IsActive", "value": True},
        ).status_code
        == 400
    )


def test_tag_ids_replace_the_whole_list(api: InProcessClient, sandbox: Sandbox) -> None:
    """The new list replaces the old; archived tags already there may stay; others are refused."""
    ce = case(sandbox, "human-tags-kept").course_enrolment_ids[0]
    tags = {t["Data"]["Name"]: t["Data"]["TagId"] for t in data(api.get("/v1/tags"))}
    path = f"/v1/course-enrolments/{ce}"

    def set_tags(*tag_ids: int) -> Any:
        return patch(
            api, path, {"op": "replace", "path": "TagIds", "value": [{"TagId": t} for t in tag_ids]}
        )

    kept = data(set_tags(tags["Follow up"], tags["Scholarship"]))
    assert [t["TagId"] for t in kept["Data"]["TagIds"]] == [tags["Follow up"], tags["Scholarship"]]
    assert {t["Name"] for t in kept["Relationships"]["Tags"]} == {"Follow up", "Scholarship"}
    assert set_tags(tags["Old intake"]).status_code == 400  # archived, not on the enrolment
    assert set_tags(999_999).status_code == 400  # unknown
    opportunity = data(api.post("/v1/tags", json=[{"Name": "Lead", "EntityName": "Opportunity"}]))
    assert set_tags(opportunity[0]["Data"]["TagId"]).status_code == 400


def test_every_write_bumps_the_modified_timestamp_strictly(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """Tag-only changes bump it too, and each write is later than the last."""
    ce = case(sandbox, "stage-current").course_enrolment_ids[0]
    path = f"/v1/course-enrolments/{ce}"
    seen = [_ts(data(api.get(path))["Data"]["LastModifiedTimeStamp"])]
    for _ in range(5):
        item = data(patch(api, path, {"op": "replace", "path": "TagIds", "value": []}))
        seen.append(_ts(item["Data"]["LastModifiedTimeStamp"]))
    assert all(a < b for a, b in pairwise(seen))


def test_tags_list_filters_and_create(api: InProcessClient) -> None:
    """GET /tags filters by entity, name and archived flag; POST answers 201 with Items."""
    archived = data(api.get("/v1/tags", params={"archivedFlagFilter": "true"}))
    assert {t["Data"]["Name"] for t in archived} == {"Follow up", "Old intake"}
    assert [t["Data"]["Name"] for t in data(api.get("/v1/tags", params={"search": "vip"}))] == [
        "VIP"
    ]
    created = api.post(
        "/v1/tags",
        json=[{"Name": "certified", "EntityName": "CourseEnrolment", "ArchivedFlag": False}],
    )
    assert created.status_code == 201
    assert created.json()[0]["Data"]["Name"] == "certified"
    assert api.post("/v1/tags", json=[{"Name": "x", "EntityName": "Learner"}]).status_code == 400


def test_filenotes_need_record_entity_and_name(api: InProcessClient) -> None:
    """POST /filenotes: 201 with the three required fields, 400 naming what is missing."""
    ok = api.post(
        "/v1/filenotes", json=[{"RecordId": 1, "EntityName": "CourseEnrolment", "Name": "tagged"}]
    )
    assert ok.status_code == 201
    missing = api.post("/v1/filenotes", json=[{"RecordId": 1}])
    assert missing.status_code == 400
    assert missing.json()["Message"] == "Required: EntityName, Name."


# --- combos ---------------------------------------------------------------------------------


def test_combos_carry_the_vocabularies_under_stable_ids_that_are_not_1_to_n(
    api: InProcessClient,
) -> None:
    """Every §6 enrolment status is there; ids are stable per seed and do not start at 1."""
    statuses = data(api.get("/v1/combos/enrolment-statuses"))
    names = [s["Data"]["Description"] for s in statuses]
    assert names[:10] == [
        "Enquiry",
        "Pending",
        "Current",
        "Completed",
        "Completion Pending",
        "Withdrawn",
        "Cancelled (no penalty)",
        "Cancelled (penalty)",
        "Partial Attendance",
        "Declined",
    ]
    numbers = [s["Data"]["EnrolmentStatusId"] for s in statuses]
    assert numbers != list(range(1, len(numbers) + 1))
    with client_for(make_sandbox()) as again:
        assert data(again.get("/v1/combos/enrolment-statuses")) == statuses
    assert api.get("/v1/combos/no-such-combo").status_code == 404


def test_shuffled_combo_ids_keep_the_data_consistent() -> None:
    """With shuffled ids, descriptions stay and records point at the new ids."""
    with client_for(make_sandbox(shuffle_combos=True)) as api:
        combo = {
            s["Data"]["EnrolmentStatusId"]: s["Data"]["Description"]
            for s in data(api.get("/v1/combos/enrolment-statuses"))
        }
        for item in data(api.get("/v1/course-enrolments")):
            status_id = item["Data"]["EnrolmentStatusId"]
            assert combo[status_id] == item["Relationships"]["EnrolmentStatus"]["Description"]
    with client_for(make_sandbox()) as plain:
        plain_ids = {
            s["Data"]["EnrolmentStatusId"] for s in data(plain.get("/v1/combos/enrolment-statuses"))
        }
    assert plain_ids != set(combo)


# --- audit log and deletes ------------------------------------------------------------------


def test_audit_log_records_inserts_updates_and_deletes(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """I, U and D entries appear; a deleted record is 404 and survives only in the audit log."""
    planted = case(sandbox, "stage-enquiry")
    ce = planted.course_enrolment_ids[0]
    data(api.post(f"/_sandbox/course-enrolments/{ce}/status", json={"status": "Pending"}))
    data(api.post(f"/_sandbox/course-enrolments/{ce}/credentials", json={"status": "Requested"}))
    deleted = data(api.delete(f"/_sandbox/records/Learner/{planted.learner_id}"))
    assert {"entity": "Learner", "id": planted.learner_id} in deleted["deleted"]
    assert api.get(f"/v1/learnersAU/{planted.learner_id}").status_code == 404
    assert api.get(f"/v1/course-enrolments/{ce}").status_code == 404
    log = [
        (e["Data"]["EntityName"], e["Data"]["RecordId"], e["Data"]["AuditAction"])
        for e in data(api.get("/v1/audit-logs"))
    ]
    assert ("CourseEnrolment", ce, "U") in log
    assert ("Credential", sandbox.db.next_id(sandbox.db.credentials) - 1, "I") in log
    assert ("CourseEnrolment", ce, "D") in log
    assert log[-1] == ("Learner", planted.learner_id, "D")
    deletes = data(
        api.get("/v1/audit-logs", params={"auditActionFilter": "D", "entityNameFilter": "Learner"})
    )
    assert [e["Data"]["RecordId"] for e in deletes] == [planted.learner_id]


# --- control API ----------------------------------------------------------------------------


def test_counters_count_requests_per_endpoint_template(api: InProcessClient) -> None:
    """Counters group by METHOD /template and status, and reset on request."""
    api.get("/v1/learnersAU/1")
    api.get("/v1/learnersAU", params={"take": 1})
    api.get("/v1/learnersAU", params={"take": 2})
    counts = data(api.get("/_sandbox/counters"))
    assert counts["by_endpoint"] == {"GET /learnersAU": 2, "GET /learnersAU/{id}": 1}
    assert counts["by_status"] == {"200": 2, "404": 1}
    assert data(api.post("/_sandbox/counters/reset"))["total"] == 0


def test_the_clock_moves_only_forward_and_only_when_told(api: InProcessClient) -> None:
    """A frozen clock stays; advancing moves today."""
    assert data(api.get("/_sandbox/clock"))["today"] == "2026-11-29"
    moved = data(api.post("/_sandbox/clock", json={"advance": {"days": 31}}))
    assert moved["today"] == "2026-12-30"
    assert api.post("/_sandbox/clock", json={"advance": {"days": -1}}).status_code == 400


def test_the_clock_advances_real_time_across_the_end_of_daylight_saving(
    api: InProcessClient,
) -> None:
    """Sydney's clocks go back an hour on 4 April 2027: 200 days later is 08:00 local, not 09:00.

    The connector's clock counts seconds; a sandbox adding days to its wall clock ran an hour
    ahead of it from then on.
    """
    before = datetime.fromisoformat(data(api.get("/_sandbox/clock"))["now"])
    moved = data(api.post("/_sandbox/clock", json={"advance": {"days": 200}}))
    after = datetime.fromisoformat(moved["now"])
    assert (after - before.astimezone(UTC)).total_seconds() == 200 * 86400
    assert (before.hour, before.utcoffset()) == (9, timedelta(hours=11))
    assert (after.hour, after.utcoffset()) == (8, timedelta(hours=10))


def test_a_new_enrolment_can_be_enrolled_in_its_offers_units(api: InProcessClient) -> None:
    """Staff enrol an accepted enrolment in its units: each unit of the offer, no outcome yet."""
    learner_id = ids(data(api.get("/v1/learnersAU", params={"take": 1})), "LearnerId")[0]
    ce = data(api.post("/_sandbox/course-enrolments", json={"learner_id": learner_id}))["Data"]
    units = data(api.post(f"/_sandbox/course-enrolments/{ce['CourseEnrolmentId']}/units"))
    assert units
    listed = data(
        api.get("/v1/unit-enrolments", params={"courseEnrolmentIdFilter": ce["CourseEnrolmentId"]})
    )
    assert ids(listed, "UnitEnrolmentId") == ids(units, "UnitEnrolmentId")
    assert all(u["Data"]["OutcomeId"] is None for u in listed)
    assert api.post("/_sandbox/course-enrolments/1/units").status_code == 404


def test_planted_cases_are_listed_with_their_expectations(api: InProcessClient) -> None:
    """Every boundary day and worked example is named, with its learner and expectation."""
    cases = {c["name"]: c for c in data(api.get("/_sandbox/cases"))}
    for day in (
        "reconnect-day-59",
        "reconnect-day-60",
        "reconnect-day-61",
        "certificate-day-20",
        "certificate-day-21",
        "certificate-day-30",
        "certificate-day-31",
        "finalisation-day-14",
        "finalisation-day-15",
        "lookback-day-364",
        "lookback-day-365",
        "lookback-day-366",
    ):
        assert day in cases
    assert cases["reconnect-day-60"]["expect"]["learner_stage"] == "Reconnect"
    assert cases["example-certified-plus-enquiry"]["expect"]["learner_stage"] == "Sales"
    assert len(cases) >= 50


def test_staff_edits_change_what_the_api_serves(api: InProcessClient, sandbox: Sandbox) -> None:
    """Outcome, USI and activity edits go through the same write path as the API."""
    planted = case(sandbox, "outcome-overdue")
    unit = sorted(
        sandbox.db.unit_enrolments.ids_where("CourseEnrolmentId", planted.course_enrolment_ids[0])
    )[-1]
    done = data(api.post(f"/_sandbox/unit-enrolments/{unit}/outcome", json={"code": "20"}))
    assert done["Relationships"]["Outcome"]["Code"] == "20"
    cleared = data(
        api.post(
            f"/_sandbox/records/Learner/{planted.learner_id}",
            json={"Personal/UniqueStudentIdentifier": None},
        )
    )
    assert cleared["Data"]["Personal"]["UniqueStudentIdentifier"] is None
    off = data(api.post(f"/_sandbox/learners/{planted.learner_id}/active", json={"active": False}))
    assert off["Data"]["Personal"]["IsActive"] is False
    assert api.post("/_sandbox/faults", json={"colour": 1}).status_code == 400


def test_fault_knobs_inject_storms_and_server_errors(
    api: InProcessClient, sandbox: Sandbox
) -> None:
    """A 429 storm, then 5xx at the configured rate; faults are counted, not as rate refusals."""
    data(api.post("/_sandbox/faults", json={"storm": {"requests": 3, "retry_after": 2}}))
    storm = [api.get("/v1/tags") for _ in range(4)]
    assert [r.status_code for r in storm] == [429, 429, 429, 200]
    assert storm[0].headers["Retry-After"] == "2"
    data(api.post("/_sandbox/faults", json={"error_rate": 1.0, "error_statuses": [503]}))
    assert api.get("/v1/tags").status_code == 503
    data(api.delete("/_sandbox/faults"))
    assert api.get("/v1/tags").status_code == 200
    assert sandbox.counters.rate_limited == 0
    assert sandbox.counters.faults_injected == 4
