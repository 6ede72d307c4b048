"""The webhook payload: ids only, parsed once, every fault named by its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.webhooks.payload import PayloadError, WebhookEvent, parse_payload

GOOD: dict[str, Any] = {
    "AccountNumber": "ACME01",
    "RecordId": 88213,
    "RecordGuid": "0b6e2f0a-5d2c-4c1b-9a57-3f1d2a7c9e41",
    "EntityName": "CourseEnrolment",
    "Event": "Updated",
}


def body(**changes: Any) -> bytes:
    """The documented example payload with some fields changed (None removes one)."""
    document = {**GOOD, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_the_documented_example_parses() -> None:
    """`wisenet-api.md` §5.1's example becomes one event."""
    assert parse_payload(body()) == WebhookEvent(
        "ACME01", "CourseEnrolment", 88213, GOOD["RecordGuid"], "Updated"
    )


def test_a_record_id_may_be_a_string_of_digits() -> None:
    """Whether RecordId is a number or a string is unknown: both are accepted."""
    assert parse_payload(body(RecordId="88213")).record_id == 88213
    assert parse_payload(body(RecordId=" 42 ")).record_id == 42


def test_triggered_is_handled_as_updated_and_event_case_is_ignored() -> None:
    """A Learncycle automation's `Triggered` means: fetch the record again."""
    assert parse_payload(body(Event="Triggered")).event == "Updated"
    assert parse_payload(body(Event="deleted")).event == "Deleted"
    assert parse_payload(body(Event="CREATED")).event == "Created"


@pytest.mark.parametrize(
    ("sent", "known"),
    [
        ("CourseEnrolment", "CourseEnrolment"),
        ("Course Enrolment", "CourseEnrolment"),
        ("unit_enrolment", "UnitEnrolment"),
        ("LEARNER", "Learner"),
        ("Credential", "Credential"),
    ],
)
def test_entity_names_match_without_case_spaces_or_underscores(sent: str, known: str) -> None:
    """Only `CourseEnrolment` is documented literally, so near spellings are accepted."""
    event = parse_payload(body(EntityName=sent))
    assert event.entity == known
    assert event.known_entity


def test_an_entity_the_connector_does_not_read_is_kept_as_sent() -> None:
    """A `CourseOffer` event parses but is not a known entity (the receiver ignores it)."""
    event = parse_payload(body(EntityName="CourseOffer"))
    assert (event.entity, event.known_entity) == ("CourseOffer", False)


def test_the_largest_64_bit_id_and_a_guid_of_100_characters_are_accepted() -> None:
    """The bounds are those of the store's columns, inclusive."""
    event = parse_payload(body(RecordId=str(2**63 - 1), RecordGuid="g" * 100))
    assert (event.record_id, event.record_guid) == (2**63 - 1, "g" * 100)


def test_the_guid_is_optional() -> None:
    """A payload without RecordGuid is still an event."""
    assert parse_payload(body(RecordGuid=None)).record_guid is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe", "body"),
        (b"{", "body"),
        (b"[1, 2]", "body"),
        (b'"text"', "body"),
        (b"[" * 100_000, "body"),
        (body(AccountNumber=None), "AccountNumber"),
        (body(AccountNumber=""), "AccountNumber"),
        (body(AccountNumber=12), "AccountNumber"),
        (body(AccountNumber="A" * 101), "AccountNumber"),
        (body(RecordId=None), "RecordId"),
        (body(RecordId=0), "RecordId"),
        (body(RecordId=-5), "RecordId"),
        (body(RecordId=1.5), "RecordId"),
        (body(RecordId=True), "RecordId"),
        (body(RecordId="12a"), "RecordId"),
        (body(RecordId="9" * 30), "RecordId"),
        (body(RecordId=2**64), "RecordId"),
        (body(RecordId="١٢"), "RecordId"),
        (body(EntityName=None), "EntityName"),
        (body(EntityName=[]), "EntityName"),
        (body(Event=None), "Event"),
        (body(Event="Archived"), "Event"),
        (body(RecordGuid=7), "RecordGuid"),
        (body(RecordGuid="\ud800" + GOOD["RecordGuid"]), "RecordGuid"),
        (body(RecordGuid=GOOD["RecordGuid"] + "\x00"), "RecordGuid"),
        (body(AccountNumber="ACME\udfff01"), "AccountNumber"),
        (body(EntityName="Learner\x00"), "EntityName"),
        (body(RecordId=2**63), "RecordId"),
        (body(RecordId=-(2**63)), "RecordId"),
        (body(RecordId="9" * 5001), "RecordId"),
        (body().replace(b"88213", b"1" + b"0" * 5000), "RecordId"),
        (body().replace(b"88213", b"-" + b"9" * 5000), "RecordId"),
        (
            body(RecordGuid=None).replace(
                b"}", b', "Other": ' + b"7" * 5001 + b', "RecordId": 1e999}'
            ),
            "RecordId",
        ),
    ],
)
def test_malformed_payloads_name_the_field(raw: bytes, field: str) -> None:
    """Each fault is a PayloadError naming the field (or the body), never another error."""
    with pytest.raises(PayloadError) as caught:
        parse_payload(raw)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_the_length_limit_counts_the_blanks_that_were_sent() -> None:
    """A value over the limit only with its surrounding blanks is still over it, as documented."""
    padded = "\t" + "A" * 99 + "\n"
    body = json.dumps(
        {"AccountNumber": padded, "RecordId": 1, "EntityName": "Learner", "Event": "Updated"}
    ).encode()
    with pytest.raises(PayloadError) as caught:
        parse_payload(body)
    assert caught.value.field == "AccountNumber"
