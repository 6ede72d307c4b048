"""The admin endpoints on `CONNECTOR_ADMIN_BIND`: `/healthz`, `/readyz`, `/metrics`.

`/healthz` says the process is alive. `/readyz` answers 200 when the service can do its work
(store reachable, a mapping active, and the scheduler running here or this replica standing by
for the leader) and 503 otherwise; its body also
names what is degraded without stopping the work: a mapping file that differs from the active
mapping or cannot be used (unreadable, not UTF-8, over a limit, invalid: the active mapping stays
in use), polls paused by the budget, webhook silence, a backlog in the inbox. `/metrics` is
the Prometheus text format; the gauges that describe the store are read at each scrape.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from connector.metrics import ConnectorMetrics
from jobs.pipeline.context import SyncContext
from jobs.pipeline.runs import write_reserve
from jobs.reports.report_page import report_html
from jobs.setup.mapping_file import MappingFileWatch

log = structlog.get_logger(__name__)
INBOX_LAG = timedelta(minutes=5)  # older pending deliveries make the service "degraded"


@dataclass
class ServiceState:
    """What the running service knows about itself, for `/readyz` and `/metrics`."""

    mapping_file: Path
    webhook_silence: timedelta
    scheduler_running: bool = False
    role: str = "starting"  # then "leader" (holds the scheduler lock) or "standby"
    last_unannounced: int = 0  # changes the latest poll found that no delivery announced
    wisenet_error: str | None = None  # the latest job failure's message (ids only)
    next_runs: dict[str, str] = field(default_factory=dict)
    mapping_watch: MappingFileWatch = field(init=False)

    def __post_init__(self) -> None:
        self.mapping_watch = MappingFileWatch(self.mapping_file)


@dataclass
class Admin:
    """The admin app's dependencies."""

    ctx: SyncContext
    state: ServiceState
    metrics: ConnectorMetrics
    report_token: str | None = None
    daily_quota: int = 1000

    def app(self) -> Starlette:
        """The admin ASGI app."""
        return Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/readyz", self.readyz),
                Route("/metrics", self.scrape),
                Route("/report", self.report),
            ]
        )

    async def report(self, request: Request) -> Response:
        """The HTML report, for a bearer of CONNECTOR_REPORT_TOKEN (it holds personal data)."""
        if not self.report_token:
            return JSONResponse(
                {"error": "report_disabled", "detail": "set CONNECTOR_REPORT_TOKEN to serve it"},
                404,
            )
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.report_token.encode()
        ):
            return JSONResponse(
                {"error": "unauthorized", "detail": "send Authorization: Bearer <report token>"},
                401,
                headers={"WWW-Authenticate": 'Bearer realm="report"'},
            )
        page = await report_html(self.ctx.store, self.daily_quota, self.ctx.account_tz)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def healthz(self, _: Request) -> JSONResponse:
        """Alive."""
        return JSONResponse({"status": "alive"})

    async def readyz(self, _: Request) -> JSONResponse:
        """Whether the service can work, and what is degraded."""
        try:
            checks = await self.checks()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("readyz.store_unreachable", error=type(exc).__name__)
            return JSONResponse({"status": "unready", "store": {"reachable": False}}, 503)
        problems = [name for name, fine in checks.pop("_essential").items() if not fine]
        degraded = [name for name, bad in checks.pop("_degraded").items() if bad]
        status = "unready" if problems else "degraded" if degraded else "ready"
        body = {"status": status, "problems": problems, "degraded": degraded, **checks}
        return JSONResponse(body, 503 if problems else 200)

    async def checks(self) -> dict[str, Any]:
        """Every check's facts, with the essential and the degrading ones summed up."""
        store, clock = self.ctx.store, self.ctx.store.clock
        await store.db.ping()
        now = clock.now()
        active = await store.mappings.active()
        on_disk = await self.state.mapping_watch.check(active[2] if active else None)
        budget = await self.ctx.client.budget.state()
        inbox = await store.inbox.state()
        last = inbox.last_delivery
        quiet = last is None or now - last > self.state.webhook_silence
        silent = quiet and self.state.last_unannounced > 0
        lagging = inbox.oldest_pending is not None and now - inbox.oldest_pending > INBOX_LAG
        polls_paused = budget.exhausted or budget.remaining < write_reserve(budget.quota)
        return {
            "store": {"reachable": True},
            "mapping": {
                "active_version": active[0] if active else None,
                "file_differs": on_disk.differs,
                "file": on_disk.as_json(),
            },
            "scheduler": {
                "role": self.state.role,
                "running": self.state.scheduler_running,
                "next_runs": self.state.next_runs,
            },
            "budget": {
                "used": budget.used,
                "quota": budget.quota,
                "remaining": budget.remaining,
                "exhausted": budget.exhausted,
                "polls_paused": polls_paused,
                "resets_at": budget.resets_at.isoformat(timespec="minutes"),
            },
            "webhooks": {
                "last_delivery": _iso(last),
                "silent": silent,
                "unannounced_changes_last_poll": self.state.last_unannounced,
                "inbox_depth": inbox.depth,
                "oldest_pending": _iso(inbox.oldest_pending),
            },
            "wisenet": {"last_error": self.state.wisenet_error},
            "_essential": {
                "store": True,
                "mapping": active is not None,
                # A standby is ready: it accepts webhooks while the leader does the rest.
                "scheduler": self.state.scheduler_running or self.state.role == "standby",
            },
            "_degraded": {
                "mapping_file_differs": on_disk.differs,
                "mapping_file_bad": on_disk.bad,
                "budget": polls_paused,
                "webhook_silence": silent,
                "inbox_lag": lagging,
                "wisenet": self.state.wisenet_error is not None,
            },
        }

    async def scrape(self, _: Request) -> Response:
        """Prometheus metrics, with the store's gauges read now."""
        try:
            await self.refresh()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("metrics.store_unreachable", error=type(exc).__name__)
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def refresh(self) -> None:
        """Set the gauges that describe the store and the budget."""
        store, m = self.ctx.store, self.metrics
        inbox = await store.inbox.state()
        now = store.clock.now()
        m.inbox_depth.set(inbox.depth)
        oldest = inbox.oldest_pending
        m.inbox_oldest_age.set(0 if oldest is None else (now - oldest).total_seconds())
        if inbox.last_delivery is not None:
            m.webhook_last_delivery.set(inbox.last_delivery.timestamp())
        budget = await self.ctx.client.budget.state()
        m.wisenet_up.set(0 if self.state.wisenet_error else 1)
        m.budget_remaining.set(budget.remaining)
        m.budget_exhausted.set(1 if budget.exhausted else 0)
        blocked = {group.tag: group.writes for group in await store.outbox.blocked()}
        m.outbox_depth.set(await store.outbox.size() - sum(blocked.values()))
        m.set_counts(m.writes_blocked, blocked)
        counts = await store.decisions.summary()
        m.set_counts(m.learners_by_stage, counts["stages"])
        m.set_counts(m.flags_by_type, counts["flags"])
        active = await store.mappings.active()
        on_disk = await self.state.mapping_watch.check(active[2] if active else None)
        m.mapping_differs.set(1 if on_disk.differs else 0)
        m.mapping_file_bad.set(1 if on_disk.bad else 0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
