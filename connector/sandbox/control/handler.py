"""How a control handler is run, and the helpers handlers read their request with."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.sandbox.service import Sandbox, SandboxError

Handler = Callable[[Request, Sandbox], Awaitable[Any]]


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


def path_id(request: Request) -> int:
    """The record id in the path."""
    return int(request.path_params["id"])


def day_or_today(value: object, sandbox: Sandbox) -> date:
    """An ISO date from a body, or the sandbox's today when it is absent."""
    return sandbox.clock.today() if value is None else date.fromisoformat(str(value))
