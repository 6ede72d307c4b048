"""The service's HTTP servers: uvicorn in the service's own loop, on sockets bound up front."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from connector.errors import ConfigurationError
from jobs.service.body_deadline import BODY_SECONDS, BodyDeadline
from jobs.setup.setting_values import Bind
from jobs.setup.settings import ENV_PREFIX


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the service's loop: the service, not uvicorn, handles signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(bind: Bind, setting: str) -> socket.socket:
    """A listening socket for a bind setting, or a ConfigurationError naming the setting."""
    try:
        return socket.create_server((bind.host, bind.port), family=_family(bind.host))
    except OSError as exc:
        raise ConfigurationError(
            f"{ENV_PREFIX}{setting}: cannot listen on {bind.host}:{bind.port} ({exc.strerror})"
        ) from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def embedded_server(app: ASGIApp, body_seconds: float = BODY_SECONDS) -> _EmbeddedServer:
    """A uvicorn server for `app` that runs in the caller's event loop and leaves signals be.

    A request's body must arrive within `body_seconds` of its headers (408 and close after).
    """
    config = uvicorn.Config(
        BodyDeadline(app, body_seconds),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return _EmbeddedServer(config)
