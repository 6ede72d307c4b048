"""The sandbox as an ASGI app (`/v1` and `/_sandbox`), and a server runner for tests and demos."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

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
    """A TCP port nothing listens on right now, from below the kernel's ephemeral range.

    A port that binding to 0 returns comes from the ephemeral range, from which every outgoing
    connection on the host also draws its local port: one of them can take it before our server
    binds it. Ports just below that range are handed out by no one but a caller like this one.
    """
    first_ephemeral = _ephemeral_ports()[0]
    candidates = range(max(1024, first_ephemeral - 12_000), first_ephemeral)
    chooser = random.SystemRandom()
    for _ in range(200):
        port = chooser.choice(candidates)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # a crowded host: let the kernel choose after all
        probe.bind((host, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_ports(path: Path = EPHEMERAL_PORTS) -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux's default elsewhere)."""
    try:
        first, last = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return first, last


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
