"""The webhook receiver served over real HTTP inside the test's own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from connector.clock import SystemClock
from connector.metrics import ConnectorMetrics
from connector.sandbox.webhooks import DEFAULT_SECRET
from connector.store.store import Store
from connector.webhooks.payload import ENTITY_NAMES
from connector.webhooks.receiver import PATH, Receiver
from connector.webhooks.verify import VerifierConfig
from jobs.service.body_deadline import BODY_SECONDS
from jobs.service.servers import embedded_server, listen
from jobs.setup.setting_values import Bind

SANDBOX_ACCOUNT = "SANDBOX01"


@dataclass
class Receiving:
    """A served receiver: its URL, its metrics, and how many deliveries it committed."""

    url: str
    receiver: Receiver
    accepted: list[int] = field(default_factory=list)


@asynccontextmanager
async def receiving(
    store: Store,
    *,
    verifier: VerifierConfig | None = None,
    account: str = SANDBOX_ACCOUNT,
    body_seconds: float = BODY_SECONDS,
) -> AsyncIterator[Receiving]:
    """Serve a receiver on a free port in this loop (signatures checked on the real clock)."""
    receiver = Receiver(
        verifier or VerifierConfig("standard-webhooks", DEFAULT_SECRET),
        store,
        SystemClock(),
        account,
        65536,
        ConnectorMetrics(),
    )
    sock = listen(Bind("127.0.0.1", 0), "HTTP_BIND")
    port = sock.getsockname()[1]
    served = Receiving(f"http://127.0.0.1:{port}{PATH}", receiver)
    receiver.on_accepted = lambda: served.accepted.append(1)
    server = embedded_server(receiver.app(), body_seconds)
    task = asyncio.get_running_loop().create_task(server.serve([sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        yield served
    finally:
        server.should_exit = True
        await task


def acknowledged(delivered: list[dict[str, Any]]) -> set[str]:
    """Message ids the receiver answered 202 for an entity the connector reads (and so keeps).

    `delivered` is the sandbox's delivery log; deliveries for other entities are acknowledged
    but not kept.
    """
    return {
        d["message_id"]
        for d in delivered
        if d["status"] == 202 and d["payload"]["EntityName"] in ENTITY_NAMES.values()
    }
