"""A round-robin HTTP load balancer in front of several webhook receivers (replicas).

Each request goes to the next replica; a replica that refuses the connection is skipped, as a
load balancer's health check would, and 502 is answered only when none takes it.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from connector.sandbox.app import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class Balancer:
    """Forwards POSTs on 127.0.0.1:`port` to `upstreams` in turn; counts who took each."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.port = free_port()
        self.taken: Counter[str] = Counter()
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())

    @property
    def url(self) -> str:
        """The balancer's address."""
        return f"http://127.0.0.1:{self.port}"

    def forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Send to the next upstream that accepts the connection."""
        with self._lock:
            start = next(self._turn)
        for offset in range(len(self.upstreams)):
            upstream = self.upstreams[(start + offset) % len(self.upstreams)]
            try:
                response = httpx.post(upstream + path, headers=headers, content=body, timeout=10)
            except httpx.ConnectError:
                continue
            except httpx.HTTPError:
                return 502, b""
            with self._lock:
                self.taken[upstream] += 1
            return response.status_code, response.content
        return 502, b""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                status, content = balancer.forward(self.path, headers, body)
                self.send_response(status)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_: object) -> None:
                return

        return Handler


@contextmanager
def balancing(upstreams: list[str]) -> Iterator[Balancer]:
    """A running balancer, shut down afterwards."""
    balancer = Balancer(upstreams)
    thread = threading.Thread(target=balancer.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield balancer
    finally:
        balancer.server.shutdown()
        balancer.server.server_close()
        thread.join(timeout=5)
