"""The fake Wisenet API v1, served under `/v1`.

Each request passes the gate in this order: injected arrival latency (jitter on the way in),
API key (401), per-second rate (429), an injected 429 storm, the daily quota (429), injected
latency, injected 5xx, an injected dropped connection; then the handler. Every request is
counted by `METHOD /template` and status.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from connector.sandbox.entities import (
    AUDIT_LOGS,
    CHECKLIST_ITEMS,
    CHECKLISTS,
    COURSE_ENROLMENTS,
    COURSE_OFFERS,
    COURSES,
    CREDENTIALS,
    LEARNERS,
    TAGS,
    UNIT_ENROLMENTS,
    UNITS,
    Entity,
)
from connector.sandbox.query import QueryError, lower_keys, parse_conditions, parse_page
from connector.sandbox.service import Sandbox, SandboxError
from connector.sandbox.timefmt import parse_local

Handler = Callable[[Request, Sandbox], Awaitable[Response]]
_TAG_ENTITIES = ("CourseEnrolment", "Opportunity")


def message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Wisenet-style error body."""
    return JSONResponse({"Message": text}, status_code=status, headers=headers)


class DroppedResponse(Response):
    """Starts a response and drops the connection part-way through the body."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        """Send the headers and a fragment of the body, then abort."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'[{"Data": {', "more_body": True})
        raise ConnectionAbortedError("sandbox fault: connection dropped mid-body")


def endpoint(template: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the gate, counting it under `template` (e.g. `GET /learnersAU/{id}`)."""

    async def gated(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        response = await _gate(request, sandbox)
        if response is None:
            try:
                response = await handler(request, sandbox)
            except SandboxError as exc:
                response = message(exc.status, exc.message)
            except QueryError as exc:
                response = message(400, str(exc))
        sandbox.counters.record(template, response.status_code)
        return response

    return gated


async def _gate(request: Request, sandbox: Sandbox) -> Response | None:  # noqa: PLR0911 - one exit per check, in order
    config, limits, faults = sandbox.config, sandbox.limits, sandbox.faults
    on_its_way = faults.arrival_latency()
    if on_its_way:
        await asyncio.sleep(on_its_way)  # the rate window sees the request when it arrives
    key = request.headers.get("x-api-key")
    if key is None or key not in config.api_keys:
        return message(
            config.auth_failure_status, "Authorization has been denied for this request."
        )
    wait = limits.check_rate(key)
    if wait is not None:
        sandbox.counters.rate_limited += 1
        headers = {"Retry-After": str(max(1, round(wait)))} if limits.retry_after else None
        return JSONResponse(config.rate_body, status_code=429, headers=headers)
    if faults.take_storm():
        sandbox.counters.faults_injected += 1
        after = faults.storm_retry_after
        return JSONResponse(
            config.rate_body,
            status_code=429,
            headers=None if after is None else {"Retry-After": str(after)},
        )
    wait = limits.check_quota(key, sandbox.clock.local_now())
    if wait is not None:
        sandbox.counters.quota_limited += 1
        headers = {"Retry-After": str(round(wait))} if limits.retry_after else None
        return JSONResponse(config.quota_body, status_code=429, headers=headers)
    delay = faults.latency()
    if delay:
        await asyncio.sleep(delay)
    status = faults.server_error()
    if status is not None:
        sandbox.counters.faults_injected += 1
        return message(status, "An error has occurred.")
    if faults.drop():
        sandbox.counters.faults_injected += 1
        return DroppedResponse()
    return None


# --- handlers -------------------------------------------------------------------------------


def list_of(entity: Entity, *, paged: bool = True) -> Handler:
    """GET a filtered, ordered, paged list of an entity."""

    async def handle(request: Request, sandbox: Sandbox) -> Response:
        params = lower_keys(request.query_params)
        conditions = parse_conditions(entity, params, sandbox.config.list_separator)
        sort, descending = _sort(entity, params)
        ids = sandbox.listings.listing(entity, sandbox.db, conditions, sort, descending)
        if paged:
            page = parse_page(params)
            ids = ids[page.skip : page.skip + page.take]
        table = entity.table(sandbox.db)
        return JSONResponse([sandbox.item(entity, table.rows[i]) for i in ids])

    return handle


def _sort(entity: Entity, params: dict[str, str]) -> tuple[str | None, bool]:
    if not entity.sortable:
        return None, False
    wanted = params.get("sort", entity.sortable[0])
    sort = next((s for s in entity.sortable if s.lower() == wanted.lower()), None)
    if sort is None:
        raise QueryError(f"sort must be one of {', '.join(entity.sortable)}")
    order = params.get("order", "asc").lower()
    if order not in ("asc", "desc"):
        raise QueryError("order must be asc or desc")
    return sort, order == "desc"


def one_of(entity: Entity) -> Handler:
    """GET one record by id."""

    async def handle(request: Request, sandbox: Sandbox) -> Response:
        row = entity.table(sandbox.db).get(_path_id(request))
        if row is None:
            return message(404, f"{entity.name} not found")
        return JSONResponse(sandbox.item(entity, row))

    return handle


def _path_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError as exc:
        raise SandboxError(404, "not found") from exc


def patch_of(entity: Entity) -> Handler:
    """PATCH one record with a document of `replace` operations under `Data`."""

    async def handle(request: Request, sandbox: Sandbox) -> Response:
        ident = _path_id(request)
        table = entity.table(sandbox.db)
        if table.get(ident) is not None:
            sandbox.land_staged_edit(entity, ident)
        row = table.get(ident)
        if row is None:
            return message(404, f"{entity.name} not found")
        operations = _patch_document(await request.body())
        learner = sandbox.learner_of(entity, row)
        if learner is not None and learner.get("Personal", {}).get("IsActive") is False:
            return message(
                sandbox.config.inactive_write_status,
                "The learner is inactive and cannot be updated.",
            )
        changes = [(_check_path(entity, op["path"]), op["value"]) for op in operations]
        for path, value in changes:
            if path == ["TagIds"]:
                _check_tags(sandbox, row, value)

        def apply(target: dict[str, Any]) -> None:
            for path, value in changes:
                _assign(target, path, value)

        before = copy.deepcopy([_lookup(row, path) for path, _ in changes])
        updated = sandbox.write(entity, ident, apply)
        sandbox.patches.record(
            entity.name,
            ident,
            operations,
            changed=before != [_lookup(updated, path) for path, _ in changes],
        )
        return JSONResponse(sandbox.item(entity, updated))

    return handle


def _patch_document(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise SandboxError(400, "The request body is not valid JSON.") from exc
    if not isinstance(document, list) or not document:
        raise SandboxError(400, "A PATCH document is a non-empty array of operations.")
    for op in document:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise SandboxError(400, "Each operation needs 'op' and 'path'.")
        if str(op["op"]).lower() != "replace":
            raise SandboxError(400, f"Operation '{op['op']}' is not supported.")
        if "value" not in op:
            raise SandboxError(400, "A replace operation needs a 'value'.")
    return document


def _check_path(entity: Entity, raw: object) -> list[str]:
    parts = str(raw).strip("/").split("/")
    if parts[0] in entity.immutable:
        raise SandboxError(400, f"'{parts[0]}' cannot be changed.")
    node: Any = entity.template
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            raise SandboxError(400, f"Unknown path '{raw}'.")
        node = node[part]
    return parts


def _check_tags(sandbox: Sandbox, row: dict[str, Any], value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, dict) and isinstance(v.get("TagId"), int) for v in value
    ):
        raise SandboxError(400, 'TagIds must be an array of {"TagId": n}.')
    current = {ref["TagId"] for ref in row.get("TagIds", [])}
    for ref in value:
        tag = sandbox.db.tags.get(ref["TagId"])
        if tag is None or tag.get("EntityName") != "CourseEnrolment":
            raise SandboxError(400, f"Tag {ref['TagId']} is not a course enrolment tag.")
        if tag.get("ArchivedFlag") and ref["TagId"] not in current:
            raise SandboxError(400, f"Tag {ref['TagId']} is archived.")


_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def _lookup(row: dict[str, Any], path: list[str]) -> Any:
    node: Any = row
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if isinstance(value, str) and _DATE_TEXT.match(value):
        moment = parse_local(value)
        midnight = moment == datetime.combine(moment.date(), datetime.min.time())
        value = moment.date() if midnight else moment
    if path[-1] == "TagIds":
        seen: dict[int, None] = {}
        for ref in value:
            seen.setdefault(ref["TagId"])
        value = [{"TagId": t} for t in seen]
    target[path[-1]] = value


async def combo(request: Request, sandbox: Sandbox) -> Response:
    """GET /combos/{name} (not paged)."""
    name = request.path_params["name"]
    if not sandbox.vocab.has(name):
        return message(404, f"No combo named '{name}'.")
    return JSONResponse(sandbox.vocab.items(name))


async def create_tags(request: Request, sandbox: Sandbox) -> Response:
    """POST /tags with an array of tag definitions (201)."""
    body = _json_array(await request.body())
    created = []
    for tag in body:
        name, entity_name = tag.get("Name"), tag.get("EntityName")
        if not isinstance(name, str) or not name.strip():
            raise SandboxError(400, "Name is required.")
        if entity_name not in _TAG_ENTITIES:
            raise SandboxError(400, "EntityName must be CourseEnrolment or Opportunity.")
        row = {
            "Name": name,
            "EntityName": entity_name,
            "ArchivedFlag": bool(tag.get("ArchivedFlag", False)),
        }
        created.append(sandbox.create(TAGS, row))
    return JSONResponse([sandbox.item(TAGS, row) for row in created], status_code=201)


async def create_filenotes(request: Request, sandbox: Sandbox) -> Response:
    """POST /filenotes with an array of notes; RecordId, EntityName and Name are required."""
    body = _json_array(await request.body())
    created = []
    for note in body:
        missing = [k for k in ("RecordId", "EntityName", "Name") if note.get(k) in (None, "")]
        if missing:
            raise SandboxError(400, f"Required: {', '.join(missing)}.")
        table = sandbox.db.filenotes
        row = {
            "FilenoteId": sandbox.db.next_id(table, 60000),
            **{
                k: note.get(k)
                for k in ("RecordId", "EntityName", "Name", "Description", "LearnerVisibility")
            },
        }
        table.put(row, sandbox.clock.stamp())
        created.append({"Data": row, "Relationships": {}})
    return JSONResponse(created, status_code=201)


def _json_array(body: bytes) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise SandboxError(400, "The request body is not valid JSON.") from exc
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise SandboxError(400, "The request body must be an array of objects.")
    return parsed


def routes() -> list[BaseRoute]:
    """Every /v1 route."""
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/learnersAU", list_of(LEARNERS)),
        ("GET", "/learnersAU/{id}", one_of(LEARNERS)),
        ("PATCH", "/learnersAU/{id}", patch_of(LEARNERS)),
        ("GET", "/course-enrolments", list_of(COURSE_ENROLMENTS)),
        ("GET", "/course-enrolments/{id}", one_of(COURSE_ENROLMENTS)),
        ("PATCH", "/course-enrolments/{id}", patch_of(COURSE_ENROLMENTS)),
        ("GET", "/unit-enrolments", list_of(UNIT_ENROLMENTS)),
        ("GET", "/unit-enrolments/{id}", one_of(UNIT_ENROLMENTS)),
        ("PATCH", "/unit-enrolments/{id}", patch_of(UNIT_ENROLMENTS)),
        ("GET", "/course-offers", list_of(COURSE_OFFERS)),
        ("GET", "/course-offers/{id}", one_of(COURSE_OFFERS)),
        ("GET", "/courses", list_of(COURSES)),
        ("GET", "/courses/{id}", one_of(COURSES)),
        ("GET", "/units", list_of(UNITS)),
        ("GET", "/units/{id}", one_of(UNITS)),
        ("GET", "/checklists", list_of(CHECKLISTS)),
        ("GET", "/checklist-items", list_of(CHECKLIST_ITEMS)),
        ("GET", "/credentials", list_of(CREDENTIALS)),
        ("GET", "/credentials/{id}", one_of(CREDENTIALS)),
        ("GET", "/tags", list_of(TAGS, paged=False)),
        ("POST", "/tags", create_tags),
        ("POST", "/filenotes", create_filenotes),
        ("GET", "/audit-logs", list_of(AUDIT_LOGS)),
        ("GET", "/combos/{name}", combo),
    ]
    return [
        Route(path, endpoint(f"{method} {path}", handler), methods=[method])
        for method, path, handler in table
    ]
