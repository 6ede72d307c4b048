"""The sandbox's control API under `/_sandbox/`: staff edits, clock, limits, faults, webhooks.

It is part of the sandbox app wherever the sandbox is served and is never mounted by
`connector run`. It needs no API key and is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connector.sandbox.entities import (
    COURSE_ENROLMENTS,
    CREDENTIALS,
    LEARNERS,
    TAGS,
    UNIT_ENROLMENTS,
)
from connector.sandbox.service import ENTITIES, Sandbox, SandboxError
from connector.sandbox.store import Row

Handler = Callable[[Request, Sandbox], Awaitable[Any]]
FINALISED = (
    "Completed",
    "Withdrawn",
    "Cancelled (no penalty)",
    "Cancelled (penalty)",
    "Partial Attendance",
)


def control(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run a control handler; SandboxError and bad bodies become JSON errors."""

    async def run(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        try:
            result = await handler(request, sandbox)
        except SandboxError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return run


async def body_of(request: Request) -> dict[str, Any]:
    """The JSON object body (empty when there is none)."""
    raw = await request.body()
    if not raw:
        return {}
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise TypeError("the body must be a JSON object")
    return parsed


def _id(request: Request) -> int:
    return int(request.path_params["id"])


def _day(value: object, sandbox: Sandbox) -> date:
    return sandbox.clock.today() if value is None else date.fromisoformat(str(value))


# --- inspection -----------------------------------------------------------------------------


async def health(_: Request, sandbox: Sandbox) -> Any:
    """Liveness of the sandbox."""
    return {"ok": True, "today": sandbox.clock.today().isoformat()}


async def dataset(_: Request, sandbox: Sandbox) -> Any:
    """Record counts per table."""
    return {table.entity: len(table) for table in sandbox.db.tables()}


async def cases(_: Request, sandbox: Sandbox) -> Any:
    """Every planted case with its learner, enrolments and expected decision."""
    return [case.as_json() for case in sandbox.cases]


async def counters(_: Request, sandbox: Sandbox) -> Any:
    """Requests by endpoint template and status, and refusals by reason."""
    return sandbox.counters.snapshot()


async def patches(_: Request, sandbox: Sandbox) -> Any:
    """Every PATCH applied so far: entity, id, the operations, and whether it changed the record."""
    return sandbox.patches.snapshot()


async def reset_counters(_: Request, sandbox: Sandbox) -> Any:
    """Start counting from zero."""
    sandbox.counters.reset()
    return sandbox.counters.snapshot()


# --- clock, limits, faults ------------------------------------------------------------------


async def clock(request: Request, sandbox: Sandbox) -> Any:
    """GET the clock, or POST `{"advance": {"days": n, "seconds": s}, "frozen": bool}`."""
    if request.method == "POST":
        body = await body_of(request)
        if "frozen" in body:
            sandbox.clock.set_frozen(bool(body["frozen"]))
        advance = body.get("advance") or {}
        sandbox.clock.advance(
            timedelta(days=advance.get("days", 0), seconds=advance.get("seconds", 0))
        )
    now = sandbox.clock.now()
    return {"now": now.isoformat(), "today": now.date().isoformat(), "frozen": sandbox.clock.frozen}


async def limits(request: Request, sandbox: Sandbox) -> Any:
    """GET or POST `{"rate_limit": n, "daily_quota": n, "retry_after": bool}` (0 = unlimited)."""
    if request.method == "POST":
        body = await body_of(request)
        unknown = set(body) - {"rate_limit", "daily_quota", "retry_after"}
        if unknown:
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        for key, value in body.items():
            setattr(sandbox.limits, key, value)
    return {
        "rate_limit": sandbox.limits.rate_limit,
        "daily_quota": sandbox.limits.daily_quota,
        "retry_after": sandbox.limits.retry_after,
    }


async def reset_quota(_: Request, sandbox: Sandbox) -> Any:
    """Forget the day's usage."""
    sandbox.limits.reset_quota()
    return {"ok": True}


async def faults(request: Request, sandbox: Sandbox) -> Any:
    """GET, POST (configure) or DELETE (clear) injected faults."""
    if request.method == "POST":
        body = await body_of(request)
        allowed = {
            "seed",
            "error_rate",
            "error_statuses",
            "drop_rate",
            "latency_ms",
            "arrival_latency_ms",
            "storm",
        }
        unknown = set(body) - allowed
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        sandbox.faults.configure(body)
    if request.method == "DELETE":
        sandbox.faults.clear()
    return sandbox.faults.snapshot()


# --- webhooks -------------------------------------------------------------------------------


async def webhooks(request: Request, sandbox: Sandbox) -> Any:
    """GET or POST the webhook settings (url, mode, secret, duplicates, delays, tamper …)."""
    if request.method == "POST":
        sandbox.webhooks.config.update(await body_of(request))
        sandbox.webhooks.start()
        if not sandbox.webhooks.config.hold:
            sandbox.webhooks.release()  # events gathered while held leave now
    config = sandbox.webhooks.config
    return {key: getattr(config, key) for key in config.__dataclass_fields__ if key != "secret"}


FLUSH_SECONDS = 30.0  # how long a flush waits unless told otherwise


async def flush_webhooks(request: Request, sandbox: Sandbox) -> Any:
    """Wait until every queued webhook was delivered (or given up), at most `{"within": s}`."""
    body = await body_of(request)
    within = float(body.get("within", request.query_params.get("timeout", FLUSH_SECONDS)))
    return {"flushed": await sandbox.webhooks.flush(within), "backlog": sandbox.webhooks.backlog}


async def deliveries(request: Request, sandbox: Sandbox) -> Any:
    """The latest deliveries and their outcomes."""
    return sandbox.webhooks.snapshot(int(request.query_params.get("limit", "200")))


async def trigger(request: Request, sandbox: Sandbox) -> Any:
    """Emit a `Triggered` event for `{"entity": "CourseEnrolment", "id": n}`."""
    body = await body_of(request)
    sandbox.trigger(ENTITIES[body["entity"]], int(body["id"]))
    return {"ok": True}


# --- staff edits ----------------------------------------------------------------------------


async def set_status(request: Request, sandbox: Sandbox) -> Any:
    """Change an enrolment's status: `{"status": "Completed", "actual_end_date": "…"}`."""
    body = await body_of(request)
    status_id = sandbox.vocab.id_of("enrolment-statuses", body["status"])

    def change(row: Row) -> None:
        row["EnrolmentStatusId"] = status_id
        if body["status"] in FINALISED:
            row["ActualEndDate"] = _day(body.get("actual_end_date"), sandbox)

    return sandbox.item(COURSE_ENROLMENTS, sandbox.write(COURSE_ENROLMENTS, _id(request), change))


async def issue_credential(request: Request, sandbox: Sandbox) -> Any:
    """Create a credential for an enrolment: `{"status": "Issued", "date": "…"}`.

    The enrolment itself is not modified, as in Wisenet.
    """
    body = await body_of(request)
    ce_id = _id(request)
    if ce_id not in sandbox.db.course_enrolments:
        raise SandboxError(404, "CourseEnrolment not found")
    on = _day(body.get("date"), sandbox)
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

    return sandbox.item(CREDENTIALS, sandbox.write(CREDENTIALS, _id(request), change))


async def set_outcome(request: Request, sandbox: Sandbox) -> Any:
    """Set a unit's outcome by AVETMISS code: `{"code": "20", "actual_end_date": "…"}`."""
    body = await body_of(request)
    code = body.get("code")
    outcome_id = None if code is None else sandbox.vocab.id_of("outcomes", str(code))

    def change(row: Row) -> None:
        row["OutcomeId"] = outcome_id
        if "actual_end_date" in body:
            row["ActualEndDate"] = _day(body["actual_end_date"], sandbox)

    return sandbox.item(UNIT_ENROLMENTS, sandbox.write(UNIT_ENROLMENTS, _id(request), change))


async def set_active(request: Request, sandbox: Sandbox) -> Any:
    """Activate or deactivate a learner: `{"active": false}`."""
    body = await body_of(request)

    def change(row: Row) -> None:
        row.setdefault("Personal", {})["IsActive"] = bool(body["active"])

    return sandbox.item(LEARNERS, sandbox.write(LEARNERS, _id(request), change))


async def edit_record(request: Request, sandbox: Sandbox) -> Any:
    """Set any `Data` fields by slash path: `{"Personal/UniqueStudentIdentifier": null}`."""
    entity = ENTITIES[request.path_params["entity"]]
    change = _field_edit(await body_of(request))
    return sandbox.item(entity, sandbox.write(entity, _id(request), change))


async def edit_before_patch(request: Request, sandbox: Sandbox) -> Any:
    """Queue an edit like `edit_record` to land just before the record's next PATCH (once).

    Several calls queue several edits, one per following PATCH: a record that keeps changing.
    """
    entity = ENTITIES[request.path_params["entity"]]
    change = _field_edit(await body_of(request))
    return {"queued": sandbox.stage_before_patch(entity, _id(request), change)}


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
    removed = sandbox.delete(ENTITIES[request.path_params["entity"]], _id(request))
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
    ce = sandbox.db.course_enrolments.rows.get(_id(request))
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

    return sandbox.item(TAGS, sandbox.write(TAGS, _id(request), change))


def routes() -> list[BaseRoute]:
    """Every /_sandbox route."""
    table: list[tuple[str, list[str], Handler]] = [
        ("/health", ["GET"], health),
        ("/dataset", ["GET"], dataset),
        ("/cases", ["GET"], cases),
        ("/counters", ["GET"], counters),
        ("/counters/reset", ["POST"], reset_counters),
        ("/patches", ["GET"], patches),
        ("/clock", ["GET", "POST"], clock),
        ("/limits", ["GET", "POST"], limits),
        ("/quota/reset", ["POST"], reset_quota),
        ("/faults", ["GET", "POST", "DELETE"], faults),
        ("/webhooks", ["GET", "POST"], webhooks),
        ("/webhooks/flush", ["POST"], flush_webhooks),
        ("/webhooks/deliveries", ["GET"], deliveries),
        ("/webhooks/trigger", ["POST"], trigger),
        ("/course-enrolments", ["POST"], new_enrolment),
        ("/course-enrolments/{id}/status", ["POST"], set_status),
        ("/course-enrolments/{id}/credentials", ["POST"], issue_credential),
        ("/course-enrolments/{id}/units", ["POST"], enrol_in_units),
        ("/credentials/{id}/status", ["POST"], set_credential_status),
        ("/unit-enrolments/{id}/outcome", ["POST"], set_outcome),
        ("/learners/{id}/active", ["POST"], set_active),
        ("/records/{entity}/{id}", ["POST"], edit_record),
        ("/records/{entity}/{id}/before-patch", ["POST"], edit_before_patch),
        ("/records/{entity}/{id}", ["DELETE"], delete_record),
        ("/tags", ["POST"], new_tag),
        ("/tags/{id}/archive", ["POST"], archive_tag),
    ]
    return [Route(path, control(handler), methods=methods) for path, methods, handler in table]
