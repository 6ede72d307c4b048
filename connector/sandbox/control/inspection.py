"""What the sandbox holds and counted: health, record counts, planted cases, counters, PATCHes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from connector.sandbox.service import Sandbox


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
