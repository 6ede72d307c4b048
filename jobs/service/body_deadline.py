"""A bound on the time a request's body may take to arrive, for every app the service serves.

uvicorn bounds the wait between requests on a kept-alive connection, not the wait for a body: a
client that sends its headers and then stalls, or trickles, holds its socket and its handler for
as long as it likes. Here the whole body must arrive within `BODY_SECONDS` of the request's
headers. Past that the client gets 408 with `Connection: close` (uvicorn then closes the
socket), and the app, still waiting for the body, sees the client disconnect.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)
BODY_SECONDS = 5.0
_TIMEOUT_BODY = b'{"error":"body_timeout","detail":"the body did not arrive in time"}'


class BodyDeadline:
    """ASGI middleware: each HTTP request's body arrives within `seconds`, or the request ends."""

    def __init__(self, app: ASGIApp, seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection's request, bounding the wait for its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _BoundedRequest(scope, receive, send, self.seconds)
        await self.app(scope, request.receive, request.send)


class _BoundedRequest:
    """One request's body wait, bounded; once cut off, the app's answer is dropped."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
        self._scope, self._receive, self._send, self._seconds = scope, receive, send, seconds
        self._deadline = asyncio.get_running_loop().time() + seconds
        self._body_done = False
        self._answered = False
        self._cut = False

    async def receive(self) -> Message:
        """The next message; past the deadline, a disconnect (after answering 408)."""
        if self._cut:
            return {"type": "http.disconnect"}
        if self._body_done:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            await self._cut_off()
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message

    async def send(self, message: Message) -> None:
        """Pass the app's answer on, unless the request was cut off."""
        if self._cut:
            return
        if message["type"] == "http.response.start":
            self._answered = True
        await self._send(message)

    async def _cut_off(self) -> None:
        self._cut = True
        log.warning("http.body_timeout", path=self._scope.get("path"), seconds=self._seconds)
        if self._answered:  # the app answered before reading all of it: nothing left to say
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_TIMEOUT_BODY)).encode()),
            (b"connection", b"close"),
        ]
        await self._send({"type": "http.response.start", "status": 408, "headers": headers})
        await self._send({"type": "http.response.body", "body": _TIMEOUT_BODY})
