"""Webhook emission: the thin payload of each change, signed, delivered to a configured URL.

Payloads carry ids only (`AccountNumber`, `RecordId`, `RecordGuid`, `EntityName`, `Event`).
Deliveries are retried on failure (Wisenet's own schedule is unknown; here a few retries with
backoff) and can be duplicated, delayed, reordered or deliberately broken for security tests.
The signing code is the sender's side, written independently of the connector's verifier.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-0123456789").decode()
TAMPER_MODES = ("bad-signature", "stale-timestamp", "malformed-body")
MODES = ("standard-webhooks", "hmac-sha256", "shared-token", "none")
DEFAULT_HEADERS = {"hmac-sha256": "X-Wisenet-Signature", "shared-token": "X-Wisenet-Token"}


@dataclass
class WebhookConfig:
    """Where and how deliveries go."""

    url: str | None = None
    mode: str = "standard-webhooks"
    secret: str = DEFAULT_SECRET
    header: str | None = None
    encoding: str = "hex"
    prefix: str = ""
    account_number: str = "SANDBOX01"
    duplicate_rate: float = 0.0
    delay_ms: tuple[int, int] = (0, 0)
    reorder: bool = False
    hold: bool = False
    tamper: str | None = None
    retries: int = 5
    retry_backoff_ms: int = 200
    timeout: float = 5.0

    def update(self, body: dict[str, Any]) -> None:
        """Apply a control-API body, refusing unknown keys and modes."""
        unknown = set(body) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown webhook settings: {sorted(unknown)}")
        if body.get("mode", self.mode) not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if body.get("tamper") not in (None, *TAMPER_MODES):
            raise ValueError(f"tamper must be null or one of {TAMPER_MODES}")
        for key, value in body.items():
            setattr(self, key, tuple(value) if key == "delay_ms" else value)


def signing_key(secret: str) -> bytes:
    """The HMAC key of a standard-webhooks secret: `whsec_` stripped, base64-decoded if it is."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode()


def sign(config: WebhookConfig, body: bytes, message_id: str, timestamp: int) -> dict[str, str]:
    """The headers that sign `body` in the configured mode."""
    if config.mode == "standard-webhooks":
        content = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(signing_key(config.secret), content, hashlib.sha256).digest()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        }
    if config.mode == "hmac-sha256":
        digest = hmac.new(config.secret.encode(), body, hashlib.sha256).digest()
        value = digest.hex() if config.encoding == "hex" else base64.b64encode(digest).decode()
        return {config.header or DEFAULT_HEADERS["hmac-sha256"]: config.prefix + value}
    if config.mode == "shared-token":
        return {config.header or DEFAULT_HEADERS["shared-token"]: config.secret}
    return {}


@dataclass
class Delivery:
    """One event on its way: the payload and the outcome of each attempt."""

    message_id: str
    payload: dict[str, Any]
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False


@dataclass
class WebhookEmitter:
    """Queues events and delivers them in the background."""

    config: WebhookConfig = field(default_factory=WebhookConfig)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    history: deque[Delivery] = field(default_factory=lambda: deque(maxlen=20000))
    _pending: list[Delivery] = field(default_factory=list)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _in_flight: int = 0
    _released: bool = False
    _task: asyncio.Task[None] | None = None
    _client: httpx.AsyncClient | None = None

    def emit(self, entity: str, record_id: int, record_guid: str | None, event: str) -> None:
        """Queue the payload for one change (nothing happens without a URL)."""
        if not self.config.url:
            return
        payload = {
            "AccountNumber": self.config.account_number,
            "RecordId": record_id,
            "RecordGuid": record_guid
            or str(uuid.uuid5(uuid.NAMESPACE_OID, f"{entity}:{record_id}")),
            "EntityName": entity,
            "Event": event,
        }
        copies = 2 if self.rng.random() < self.config.duplicate_rate else 1
        for _ in range(copies):
            self._pending.append(
                Delivery(f"msg_{uuid.UUID(int=self.rng.getrandbits(128)).hex}", payload)
            )
        self._idle.clear()
        self._wakeup.set()

    def start(self) -> None:
        """Start delivering (call inside the running event loop)."""
        if self._task is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout)
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop delivering; undelivered events stay queued."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def backlog(self) -> int:
        """Events queued or being delivered."""
        return len(self._pending) + self._in_flight

    def release(self) -> None:
        """Send what is queued now, even while deliveries are held."""
        self._released = True
        self._wakeup.set()

    async def flush(self, within: float = 30.0) -> bool:
        """Release held events, then wait until every one was delivered or given up.

        Returns False if `within` passed first.
        """
        if self.backlog == 0:
            return True
        self.release()
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.config.hold and not self._released:
                continue  # a burst is gathered until it is released as one batch
            self._released = False
            batch, self._pending = self._pending, []
            if self.config.reorder:
                self.rng.shuffle(batch)
            self._in_flight += len(batch)
            await asyncio.gather(*(self._deliver(delivery) for delivery in batch))

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            low, high = self.config.delay_ms
            if high > 0:
                await asyncio.sleep(self.rng.uniform(low, high) / 1000)
            for attempt in range(self.config.retries + 1):
                delivery.attempts = attempt + 1
                if await self._attempt(delivery):
                    delivery.delivered = True
                    return
                await asyncio.sleep(self.config.retry_backoff_ms * 2**attempt / 1000)
        finally:
            self.history.append(delivery)
            self._in_flight -= 1
            if self.backlog == 0:
                self._idle.set()

    async def _attempt(self, delivery: Delivery) -> bool:
        assert self._client is not None  # noqa: S101 - start() ran
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        tamper = self.config.tamper
        if tamper == "stale-timestamp":
            timestamp -= 600
        headers = {
            "content-type": "application/json",
            **sign(self.config, body, delivery.message_id, timestamp),
        }
        if tamper == "bad-signature":
            headers = {
                "content-type": "application/json",
                **sign(self.config, body + b" ", delivery.message_id, timestamp),
            }
        if tamper == "malformed-body":
            body = b'{"AccountNumber": "' + self.config.account_number.encode() + b'", "RecordId":'
            headers = {
                "content-type": "application/json",
                **sign(self.config, body, delivery.message_id, timestamp),
            }
        try:
            response = await self._client.post(str(self.config.url), content=body, headers=headers)
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__
            return False
        delivery.status = response.status_code
        # A tampered delivery is sent once: the receiver is meant to refuse it.
        return response.is_success or tamper is not None

    def snapshot(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest deliveries as JSON."""
        recent = list(self.history)[-limit:]
        return [
            {
                "message_id": d.message_id,
                "payload": d.payload,
                "attempts": d.attempts,
                "status": d.status,
                "error": d.error,
                "delivered": d.delivered,
            }
            for d in recent
        ]
