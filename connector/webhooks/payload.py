"""The webhook payload: ids only (`wisenet-api.md` §5.1), parsed once at the edge.

`RecordId` may be a JSON number or a string of digits, and must fit the store's 64-bit ids;
`Triggered` (a Learncycle automation) is handled as `Updated`. Every string must be storable in
both SQLite and PostgreSQL (no NUL, no lone surrogate, bounded length), so a delivery that
passes here cannot fail the commit it shares with others.
Entity names are matched without regard to case, spaces or underscores, since only
`CourseEnrolment` is documented literally; unknown names are kept as sent so the receiver can
count and ignore them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connector.store.encoding import MAX_BIGINT, integer_problem, text_problem
from connector.wisenet.entities import ENTITIES as REGISTRY

CREATED, UPDATED, DELETED = "Created", "Updated", "Deleted"
EVENTS = {"created": CREATED, "updated": UPDATED, "deleted": DELETED, "triggered": UPDATED}
# Wisenet entity name (normalised) → the name the connector uses; the others are not read.
ENTITY_NAMES = {entity.name.lower(): entity.name for entity in REGISTRY}  # names: no blanks or _
MAX_RECORD_ID = MAX_BIGINT
MAX_TEXT = 100
MAX_DIGITS = 20  # more than any 64-bit integer has; longer numbers are never converted
BLANKS = " \t\r\n"  # what surrounds a value and is trimmed (as the OpenAPI patterns say)


class PayloadError(Exception):
    """The body is not a webhook payload; `field` names the offending field (or `body`)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class WebhookEvent:
    """One delivery's meaning: which record of which entity, and what happened to it."""

    account_number: str
    entity: str
    record_id: int
    record_guid: str | None
    event: str

    @property
    def known_entity(self) -> bool:
        """Whether the connector reads this entity (others are counted and ignored)."""
        return self.entity in ENTITY_NAMES.values()


def parse_payload(body: bytes) -> WebhookEvent:
    """Parse and validate a delivery's body; raise PayloadError naming the field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("body", "is not UTF-8") from exc
    try:
        document = json.loads(text, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("body", "is not JSON") from exc
    if not isinstance(document, dict):
        raise PayloadError("body", "is not a JSON object")
    return WebhookEvent(
        account_number=_text(document, "AccountNumber"),
        entity=_entity(_text(document, "EntityName")),
        record_id=_record_id(document),
        record_guid=_optional_text(document, "RecordGuid"),
        event=_event(_text(document, "Event")),
    )


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if value is None:
        raise PayloadError(name, "is missing")
    if not isinstance(value, str) or not value.strip(BLANKS):
        raise PayloadError(name, "must be a non-empty string")
    problem = text_problem(value, MAX_TEXT)  # the limit applies to what was sent, blanks too
    if problem is not None:
        raise PayloadError(name, problem)
    return value.strip(BLANKS)


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    if document.get(name) is None:
        return None
    return _text(document, name)


def _record_id(document: dict[str, Any]) -> int:
    value = document.get("RecordId")
    if value is None:
        raise PayloadError("RecordId", "is missing")
    if isinstance(value, str) and value.strip(BLANKS).isascii() and value.strip(BLANKS).isdigit():
        value = _integer(value.strip(BLANKS))
    if isinstance(value, _HugeInteger):
        raise PayloadError("RecordId", "is out of range")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("RecordId", "must be a whole number (or a string of digits)")
    problem = integer_problem(value, 1, MAX_RECORD_ID)
    if problem is not None:
        raise PayloadError("RecordId", problem)
    return value


class _HugeInteger:
    """A JSON integer too long to be an id, left unconverted (conversion costs quadratic time)."""


def _integer(digits: str) -> int | _HugeInteger:
    """A JSON integer's value, or a marker when it has more digits than any id."""
    return int(digits) if len(digits.lstrip("-")) <= MAX_DIGITS else _HugeInteger()


def _entity(name: str) -> str:
    key = name.replace(" ", "").replace("_", "").lower()
    return ENTITY_NAMES.get(key, name)


def _event(name: str) -> str:
    event = EVENTS.get(name.lower())
    if event is None:
        raise PayloadError("Event", "must be Created, Updated, Deleted or Triggered")
    return event
