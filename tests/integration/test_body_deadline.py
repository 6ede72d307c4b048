"""Stalled and trickled uploads are cut off: 408 and a closed socket, the receiver unharmed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from connector.clock import SystemClock
from connector.sandbox.webhooks import WebhookConfig, sign
from connector.store.store import Store
from tests.support.receiving import SANDBOX_ACCOUNT, receiving

pytestmark = pytest.mark.integration
STALLED = 200
DECLARED = 4000  # bytes announced by each upload; far fewer ever arrive


async def upload(port: int, path: str, *, trickle: bool) -> bytes:
    """Send headers and a first slice of the body, then stall (or trickle a byte at a time).

    Returns all the server sent back until it closed the connection. A trickler's bytes sent
    after the close make the server's side reset the connection, which may discard the answer.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {DECLARED}\r\n\r\n"
    )
    writer.write(head.encode() + b'{"AccountNumber": ')
    await writer.drain()

    async def dribble() -> None:
        for _ in range(DECLARED):  # a byte every 50 ms would take 200 s to finish
            await asyncio.sleep(0.05)
            writer.write(b" ")
            await writer.drain()

    dribbling = asyncio.get_running_loop().create_task(dribble()) if trickle else None
    answer = b""
    try:
        while chunk := await reader.read(65536):  # until the server closes the connection
            answer += chunk
    except ConnectionResetError:
        if not trickle:  # only a trickler's late bytes may reset the connection
            raise
    finally:
        if dribbling is not None:
            dribbling.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await dribbling
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return answer


async def test_stalled_and_trickled_uploads_get_408_and_their_sockets_closed(
    tmp_path: Path,
) -> None:
    """200 uploads stopping or trickling mid-body get 408 and are closed; a delivery then works."""
    store = await Store.open(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        SystemClock(),
        base_url="http://s",
        account_number=None,
    )
    try:
        async with receiving(store, body_seconds=1.0) as served:
            url = urlsplit(served.url)
            assert url.port is not None
            uploads = [upload(url.port, url.path, trickle=n % 10 == 0) for n in range(STALLED)]
            answers = await asyncio.wait_for(asyncio.gather(*uploads), timeout=120)
            for n, answer in enumerate(answers):
                if n % 10 == 0 and not answer:
                    continue  # a trickler whose answer the reset discarded: closed all the same
                status, _, rest = answer.partition(b"\r\n")
                assert status == b"HTTP/1.1 408 Request Timeout", answer[:200]
                assert b"connection: close" in rest.lower()
                assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "body_timeout"
            body = json.dumps(
                {
                    "AccountNumber": SANDBOX_ACCOUNT,
                    "RecordId": 5,
                    "EntityName": "Learner",
                    "Event": "Updated",
                }
            ).encode()
            headers = sign(WebhookConfig(), body, "msg_after", int(time.time()))
            headers["content-type"] = "application/json"
            async with httpx.AsyncClient() as client:
                after = await client.post(served.url, content=body, headers=headers)
            assert (after.status_code, after.json()) == (202, {"status": "accepted"})
            assert served.accepted == [1]
    finally:
        await store.close()
