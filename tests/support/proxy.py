"""A TCP proxy that can be cut, to take a database away from a running process and back."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from connector.sandbox.app import free_port


class TcpProxy:
    """Forwards 127.0.0.1:`port` to a target while it is up; down, it refuses and cuts."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        """Start accepting connections."""
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Stop accepting and cut every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._links):
            writer.close()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._links.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
        self._links.discard(writer)


class ThreadedProxy:
    """A TcpProxy on an event loop of its own thread, for tests that drive processes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = TcpProxy(target_host, target_port)

    @property
    def port(self) -> int:
        """Where the proxy listens."""
        return self.proxy.port

    def up(self) -> None:
        """Accept and forward connections."""
        asyncio.run_coroutine_threadsafe(self.proxy.up(), self._loop).result(timeout=10)

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        asyncio.run_coroutine_threadsafe(self.proxy.down(), self._loop).result(timeout=10)

    def close(self) -> None:
        """Cut everything and stop the thread."""
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextlib.contextmanager
def threaded_proxy(target_host: str, target_port: int) -> Iterator[ThreadedProxy]:
    """A running ThreadedProxy, closed afterwards."""
    proxy = ThreadedProxy(target_host, target_port)
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.close()
