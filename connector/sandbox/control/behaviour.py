"""How the fake account behaves: its clock, limits and quota, injected faults and webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request

from connector.sandbox.control.handler import body_of
from connector.sandbox.service import ENTITIES, Sandbox


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
