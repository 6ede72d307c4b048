"""The container's health check: one GET of the admin `/healthz`, with the standard library only.

`python -m jobs.service.healthcheck` runs every 30 s in the container, so it stays cheap: it imports
nothing of the program and reads only `CONNECTOR_ADMIN_BIND` from the environment (where the
container's settings are). It exits 0 when the service answers 200, else 1 with one line saying
why. `connector healthcheck` probes the same way with the fully read settings.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_BIND = "127.0.0.1:9100"
TIMEOUT_SECONDS = 3.0


def probe_url(host: str, port: int) -> str:
    """The `/healthz` address of an admin server bound to `host`; a wildcard means this host."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a comparison, not a bind
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


def url_from_bind(bind: str) -> str:
    """The probe address for a `host:port` bind value (`[::1]:9100` for IPv6)."""
    host, _, port = bind.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CONNECTOR_ADMIN_BIND: expected host:port, got {bind!r}")
    return probe_url(host.strip("[]"), int(port))


def problem(url: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """Why the service at `url` is not healthy, or None when it answers 200."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with direct.open(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url}: no answer ({type(reason).__name__})"
    return None if status == 200 else f"{url}: answered {status}"


def main() -> int:
    """Probe the admin server named by the environment; 0 if healthy."""
    try:
        url = url_from_bind(os.environ.get("CONNECTOR_ADMIN_BIND") or DEFAULT_BIND)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    found = problem(url)
    if found is not None:
        sys.stderr.write(f"{found}\n")
        return 1
    sys.stdout.write(f"{url}: healthy\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
