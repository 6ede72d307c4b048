"""The sandbox as an ASGI app (`/v1` and `/_sandbox`), and a server runner for tests and demos."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from connector.sandbox import api, control
from connector.sandbox.service import Sandbox


def create_app(sandbox: Sandbox) -> Starlette:
    """The sandbox app: the fake API under /v1 and the control API under /_sandbox."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        sandbox.webhooks.start()
        try:
            yield
        finally:
            await sandbox.webhooks.stop()

    app = Starlette(
        routes=[Mount("/v1", routes=api.routes()), Mount("/_sandbox", routes=control.routes())],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class ThreadedServer:
    """Serves an ASGI app with uvicorn on a background thread (its own event loop)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="critical", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="asgi-server", daemon=True)

    @property
    def url(self) -> str:
        """The server's root URL."""
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        waiter = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                return
            waiter.wait(0.02)
        raise RuntimeError("the server did not start")

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (a cancelled client's request may still be)."""
        waiter = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if not self._server.server_state.tasks:
                return
            waiter.wait(0.01)
        raise RuntimeError("the server stayed busy")

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


class SandboxServer(ThreadedServer):
    """A sandbox served on a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.sandbox = sandbox
        super().__init__(create_app(sandbox), host, port)

    @property
    def base_url(self) -> str:
        """The Wisenet API root (`…/v1`)."""
        return f"{self.url}/v1"


@contextmanager
def serve(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[SandboxServer]:
    """Serve `sandbox` for the duration of a `with` block."""
    server = SandboxServer(sandbox, host, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
