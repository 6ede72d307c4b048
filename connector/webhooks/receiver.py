"""`POST /webhooks/wisenet`: verify the raw body, commit it to the inbox, answer 202.

Order of checks: size (413), content type (415), signature on the raw bytes before any
parsing (401), payload (400, naming the field: a value the store could not hold is one). A
payload for another account, or for an entity the connector does not read, is acknowledged
(202), counted and dropped. Nothing valid is acknowledged before it is committed: when the
store cannot take it the answer is 503, so Wisenet retries; a delivery the store fails for
another reason gets 500 alone, its neighbours in the same commit are unaffected. Every error
body is JSON with a stable `error` code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.clock import Clock
from connector.metrics import ConnectorMetrics
from connector.store.inbox_writer import (
    Delivery,
    InboxWriter,
    UnstorableDeliveryError,
    unreachable,
)
from connector.store.store import Store
from connector.webhooks.payload import PayloadError, WebhookEvent, parse_payload
from connector.webhooks.verify import SignatureError, VerifierConfig, verify

log = structlog.get_logger(__name__)
PATH = "/webhooks/wisenet"
STORE_TIMEOUT_SECONDS = 10.0
RETRY_AFTER_SECONDS = "30"


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": code, "detail": str(exc.detail)}, exc.status_code, headers=exc.headers
    )


class _TooLargeError(Exception):
    """The body is over the limit."""


class _RefusedError(Exception):
    """A delivery refused before its signature is checked."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status, self.code, self.detail = status, code, detail
        super().__init__(detail)


@dataclass
class Receiver:
    """What the endpoint needs: how to verify, where to commit, whom to wake."""

    verifier: VerifierConfig
    store: Store
    clock: Clock
    account_number: str | None
    max_bytes: int
    metrics: ConnectorMetrics
    on_accepted: Callable[[], None] = lambda: None
    _inbox: InboxWriter = field(init=False)

    def __post_init__(self) -> None:
        self._inbox = InboxWriter(self.store)

    def routes(self) -> list[Route]:
        """The receiver's route."""
        return [Route(PATH, self.receive, methods=["POST"])]

    def app(self) -> Starlette:
        """The receiver as an ASGI app; unknown paths and methods answer JSON too."""
        return Starlette(routes=self.routes(), exception_handlers={HTTPException: _http_error})

    async def receive(self, request: Request) -> JSONResponse:
        """Handle one delivery."""
        try:
            body = await self._checked_body(request)
            verified = verify(body, request.headers.items(), self.verifier, self.clock.now())
            event = parse_payload(body)
        except _RefusedError as exc:
            return self._reject(exc.status, exc.code, exc.detail)
        except SignatureError as exc:
            return self._reject(401, exc.code, str(exc))
        except PayloadError as exc:
            return self._reject(400, "malformed_payload", str(exc), field=exc.field)
        ignored = self._ignored(event)
        if ignored is not None:
            self.metrics.webhooks_received.labels(ignored).inc()
            log.info("webhook.ignored", reason=ignored, entity=event.entity[:40])
            return JSONResponse({"status": "ignored", "reason": ignored}, 202)
        return await self._commit(event, verified.delivery_id)

    async def _commit(self, event: WebhookEvent, delivery_id: str | None) -> JSONResponse:
        """Commit a valid delivery to the inbox and answer for it alone."""
        delivery = Delivery(
            entity=event.entity,
            record_id=event.record_id,
            record_guid=event.record_guid,
            event=event.event,
            delivery_id=delivery_id,
        )
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                stored = await self._inbox.add(delivery)
        except UnstorableDeliveryError as exc:
            return self._reject(400, "malformed_payload", str(exc), field=exc.field)
        except Exception as exc:  # noqa: BLE001 - every store failure is answered in JSON
            return self._store_failed(exc)
        outcome = "accepted" if stored else "duplicate"
        self.metrics.webhooks_received.labels(outcome).inc()
        self.metrics.webhook_last_delivery.set(self.clock.now().timestamp())
        log.debug("webhook.stored", entity=event.entity, record_id=event.record_id, outcome=outcome)
        if stored:
            self.on_accepted()
        return JSONResponse({"status": outcome}, 202)

    def _store_failed(self, exc: Exception) -> JSONResponse:
        """503 (Wisenet retries) when the store is away; 500 for this delivery's own failure."""
        if isinstance(exc, SQLAlchemyError) or unreachable(exc):
            log.error("webhook.store_unavailable", error=type(exc).__name__)
            response = self._reject(503, "store_unavailable", "try again later")
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
            return response
        log.error("webhook.store_failed", error=type(exc).__name__)
        return self._reject(500, "store_failed", "the store refused this delivery")

    def _ignored(self, event: WebhookEvent) -> str | None:
        """Why a valid delivery is dropped unstored (another account, an entity not read)."""
        if self.account_number is not None and event.account_number != self.account_number:
            return "other_account"
        if not event.known_entity:
            return "unknown_entity"
        return None

    async def _checked_body(self, request: Request) -> bytes:
        """The raw body, within the size limit, of a JSON request."""
        too_large = _RefusedError(413, "payload_too_large", f"the limit is {self.max_bytes} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        try:
            body = await self._body(request)
        except _TooLargeError:
            raise too_large from None
        except ClientDisconnect:
            raise _RefusedError(400, "client_disconnected", "the body did not arrive") from None
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise _RefusedError(415, "unsupported_media_type", "send application/json")
        return body

    async def _body(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLargeError
            chunks.append(chunk)
        return b"".join(chunks)

    def _reject(self, status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
        self.metrics.webhooks_rejected.labels(code).inc()
        log.warning("webhook.rejected", status=status, error=code, **extra)
        return JSONResponse({"error": code, "detail": detail, **extra}, status)
