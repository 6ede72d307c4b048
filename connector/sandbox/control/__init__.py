"""The sandbox's control API under `/_sandbox/`: staff edits, clock, limits, faults, webhooks.

It is part of the sandbox app wherever the sandbox is served and is never mounted by
`connector run`. It needs no API key and is not counted.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from connector.sandbox.control.behaviour import (
    clock,
    deliveries,
    faults,
    flush_webhooks,
    limits,
    reset_quota,
    trigger,
    webhooks,
)
from connector.sandbox.control.handler import Handler, control
from connector.sandbox.control.inspection import (
    cases,
    counters,
    dataset,
    health,
    patches,
    reset_counters,
)
from connector.sandbox.control.staff_edits import (
    archive_tag,
    delete_record,
    edit_before_patch,
    edit_record,
    enrol_in_units,
    issue_credential,
    new_enrolment,
    new_tag,
    set_active,
    set_credential_status,
    set_outcome,
    set_status,
)


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
