"""What staff do in Wisenet, done through the control API.

Status changes, credentials, outcomes, field edits (now or just before the next PATCH), deletes,
new enrolments, unit enrolments and tags.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request

from connector.sandbox.control.handler import body_of, day_or_today, path_id
from connector.sandbox.entities import (
    COURSE_ENROLMENTS,
    CREDENTIALS,
    LEARNERS,
    TAGS,
    UNIT_ENROLMENTS,
)
from connector.sandbox.service import ENTITIES, Sandbox, SandboxError
from connector.sandbox.store import Row

FINALISED = (
    "Completed",
    "Withdrawn",
    "Cancelled (no penalty)",
    "Cancelled (penalty)",
    "Partial Attendance",
)


async def set_status(request: Request, sandbox: Sandbox) -> Any:
    """Change an enrolment's status: `{"status": "Completed", "actual_end_date": "…"}`."""
    body = await body_of(request)
    status_id = sandbox.vocab.id_of("enrolment-statuses", body["status"])

    def change(row: Row) -> None:
        row["EnrolmentStatusId"] = status_id
        if body["status"] in FINALISED:
            row["ActualEndDate"] = day_or_today(body.get("actual_end_date"), sandbox)

    return sandbox.item(
        COURSE_ENROLMENTS, sandbox.write(COURSE_ENROLMENTS, path_id(request), change)
    )


async def issue_credential(request: Request, sandbox: Sandbox) -> Any:
    """Create a credential for an enrolment: `{"status": "Issued", "date": "…"}`.

    The enrolment itself is not modified, as in Wisenet.
    """
    body = await body_of(request)
    ce_id = path_id(request)
    if ce_id not in sandbox.db.course_enrolments:
        raise SandboxError(404, "CourseEnrolment not found")
    on = day_or_today(body.get("date"), sandbox)
    row = sandbox.create(
        CREDENTIALS,
        {
            "CourseEnrolmentId": ce_id,
            "CredentialStatusId": sandbox.vocab.id_of(
                "credential-statuses", body.get("status", "Issued")
            ),
            "CredentialNumber": str(8_000_000_000 + ce_id),
            "CredentialDate": on,
            "StatusChangeDate": sandbox.clock.local_now(),
        },
    )
    return sandbox.item(CREDENTIALS, row)


async def set_credential_status(request: Request, sandbox: Sandbox) -> Any:
    """Change a credential's status: `{"status": "Cancelled"}`."""
    body = await body_of(request)
    status_id = sandbox.vocab.id_of("credential-statuses", body["status"])

    def change(row: Row) -> None:
        row["CredentialStatusId"] = status_id
        row["StatusChangeDate"] = sandbox.clock.local_now()

    return sandbox.item(CREDENTIALS, sandbox.write(CREDENTIALS, path_id(request), change))


async def set_outcome(request: Request, sandbox: Sandbox) -> Any:
    """Set a unit's outcome by AVETMISS code: `{"code": "20", "actual_end_date": "…"}`."""
    body = await body_of(request)
    code = body.get("code")
    outcome_id = None if code is None else sandbox.vocab.id_of("outcomes", str(code))

    def change(row: Row) -> None:
        row["OutcomeId"] = outcome_id
        if "actual_end_date" in body:
            row["ActualEndDate"] = day_or_today(body["actual_end_date"], sandbox)

    return sandbox.item(UNIT_ENROLMENTS, sandbox.write(UNIT_ENROLMENTS, path_id(request), change))


async def set_active(request: Request, sandbox: Sandbox) -> Any:
    """Activate or deactivate a learner: `{"active": false}`."""
    body = await body_of(request)

    def change(row: Row) -> None:
        row.setdefault("Personal", {})["IsActive"] = bool(body["active"])

    return sandbox.item(LEARNERS, sandbox.write(LEARNERS, path_id(request), change))


async def edit_record(request: Request, sandbox: Sandbox) -> Any:
    """Set any `Data` fields by slash path: `{"Personal/UniqueStudentIdentifier": null}`."""
    entity = ENTITIES[request.path_params["entity"]]
    change = _field_edit(await body_of(request))
    return sandbox.item(entity, sandbox.write(entity, path_id(request), change))


async def edit_before_patch(request: Request, sandbox: Sandbox) -> Any:
    """Queue an edit like `edit_record` to land just before the record's next PATCH (once).

    Several calls queue several edits, one per following PATCH: a record that keeps changing.
    """
    entity = ENTITIES[request.path_params["entity"]]
    change = _field_edit(await body_of(request))
    return {"queued": sandbox.stage_before_patch(entity, path_id(request), change)}


def _field_edit(body: dict[str, Any]) -> Callable[[Row], None]:
    """A change setting `Data` fields by slash path."""

    def change(row: Row) -> None:
        for path, value in body.items():
            target = row
            parts = path.strip("/").split("/")
            for part in parts[:-1]:
                child = target.get(part)
                if not isinstance(child, dict):
                    child = target[part] = {}
                target = child
            target[parts[-1]] = _date_or_value(value)

    return change


def _date_or_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


async def delete_record(request: Request, sandbox: Sandbox) -> Any:
    """Delete a record (v1 has no DELETE; staff delete in Wisenet)."""
    removed = sandbox.delete(ENTITIES[request.path_params["entity"]], path_id(request))
    return {"deleted": [{"entity": entity, "id": ident} for entity, ident in removed]}


async def new_enrolment(request: Request, sandbox: Sandbox) -> Any:
    """Enrol a learner again: `{"learner_id": n, "status": "Enquiry", "course_offer_id": n}`."""
    body = await body_of(request)
    learner_id = int(body["learner_id"])
    if learner_id not in sandbox.db.learners:
        raise SandboxError(404, "Learner not found")
    offers = sandbox.db.course_offers
    offer_id = body.get("course_offer_id") or max(
        offers.ids(), key=lambda o: offers.rows[o]["CourseOfferStartDate"]
    )
    offer = offers.rows[int(offer_id)]
    today = sandbox.clock.today()
    row = sandbox.create(
        COURSE_ENROLMENTS,
        {
            "LearnerId": learner_id,
            "CourseOfferId": offer["CourseOfferId"],
            "EnrolmentStatusId": sandbox.vocab.id_of(
                "enrolment-statuses", body.get("status", "Enquiry")
            ),
            "EnquiryDate": sandbox.clock.local_now(),
            "StartDate": offer["CourseOfferStartDate"],
            "EndDate": offer["CourseOfferEndDate"],
            "ForAvetmissFlag": True,
            "TagIds": [],
            "QualificationIssuedFlag": False,
            "CreatedOn": sandbox.clock.local_now(),
            "ApplicationExpiryDate": today + timedelta(days=30),
        },
    )
    return sandbox.item(COURSE_ENROLMENTS, row)


async def enrol_in_units(request: Request, sandbox: Sandbox) -> Any:
    """Enrol a course enrolment in every unit of its offer, no outcome yet: `{}`."""
    ce = sandbox.db.course_enrolments.rows.get(path_id(request))
    if ce is None:
        raise SandboxError(404, "CourseEnrolment not found")
    offers = sandbox.db.unit_offers
    unit_offers = [
        offers.rows[i] for i in sorted(offers.ids_where("CourseOfferId", ce["CourseOfferId"]))
    ]
    created = [
        sandbox.create(
            UNIT_ENROLMENTS,
            {
                "UnitOfferId": unit["UnitOfferId"],
                "CourseEnrolmentId": ce["CourseEnrolmentId"],
                "StartDate": unit["StartDate"],
                "EndDate": unit["EndDate"],
                "ActualEndDate": None,
                "OutcomeId": None,
                "ResultId": None,
                "ForGovtReportingFlag": True,
                "IsLockedFlag": False,
            },
        )
        for unit in unit_offers
    ]
    return [sandbox.item(UNIT_ENROLMENTS, row) for row in created]


async def new_tag(request: Request, sandbox: Sandbox) -> Any:
    """A staff-made tag: `{"name": "certified", "archived": false}`."""
    body = await body_of(request)
    row = sandbox.create(
        TAGS,
        {
            "Name": str(body["name"]),
            "EntityName": "CourseEnrolment",
            "ArchivedFlag": bool(body.get("archived", False)),
        },
    )
    return sandbox.item(TAGS, row)


async def archive_tag(request: Request, sandbox: Sandbox) -> Any:
    """Archive or restore a tag: `{"archived": true}`."""
    body = await body_of(request)

    def change(row: Row) -> None:
        row["ArchivedFlag"] = bool(body.get("archived", True))

    return sandbox.item(TAGS, sandbox.write(TAGS, path_id(request), change))
