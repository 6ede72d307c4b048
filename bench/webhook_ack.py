"""Webhook acknowledgements per second: verification and a durable insert vs a bare endpoint.

Run: `.venv/bin/python -m bench.webhook_ack [--seconds 8] [--concurrency 16]
[--database sqlite|postgresql]`.

Each server runs in its own process under uvicorn; the load comes over loopback from `wrk`
(Debian's package; `apt-get install wrk`), which replays pre-signed deliveries, or from this
process with httpx when wrk is missing (slower: it then bounds both rates). The baseline is a
bare ASGI endpoint that reads the body and answers 202; the receiver, served as the service
serves it (its body read bounded in time), checks the Standard Webhooks signature, parses and
validates the payload and commits its inbox row before it answers (the commits of deliveries
arriving together are grouped). Every delivery has its own message id,
so every one is a real insert.
Target: the receiver acknowledges at least half the bare rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.clock import SystemClock
from connector.metrics import ConnectorMetrics
from connector.sandbox.app import free_port
from connector.sandbox.webhooks import DEFAULT_SECRET, WebhookConfig, sign
from connector.store import migrate
from connector.store.store import Store
from connector.webhooks.receiver import PATH, Receiver
from connector.webhooks.verify import VerifierConfig
from jobs.service.body_deadline import BodyDeadline
from jobs.setup.logging import configure_logging

ACCOUNT = "BENCH01"


def bare_app() -> Starlette:
    """Reads the body and answers 202: the floor any receiver stands on."""

    async def receive(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "accepted"}, 202)

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


def receiver_app(database_url: str) -> Starlette:
    """The real receiver on a store opened in the serving loop."""
    holder: dict[str, ASGIApp] = {}

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["app"](scope, receive, send)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        clock = SystemClock()
        store = await Store.open(database_url, clock, base_url="http://bench", account_number=None)
        verifier = VerifierConfig("standard-webhooks", DEFAULT_SECRET)
        metrics = ConnectorMetrics()
        holder["app"] = Receiver(verifier, store, clock, ACCOUNT, 65536, metrics).app()
        try:
            yield
        finally:
            await store.close()

    return Starlette(routes=[Mount("", app=dispatch)], lifespan=lifespan)


def serve(kind: str, port: int, database_url: str) -> None:
    """Child process: serve one of the two apps (logging as in production: JSON, info)."""
    configure_logging("json")
    app = bare_app() if kind == "bare" else BodyDeadline(receiver_app(database_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical", access_log=False)


def deliveries(count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed deliveries, each with its own message id (signed just before the run)."""
    signed = []
    now = int(time.time())
    for index in range(count):
        body = json.dumps(
            {
                "AccountNumber": ACCOUNT,
                "RecordId": 80_000 + index,
                "RecordGuid": str(uuid.uuid4()),
                "EntityName": "CourseEnrolment",
                "Event": "Updated",
            }
        ).encode()
        headers = sign(WebhookConfig(), body, f"msg_{uuid.uuid4().hex}", now)
        signed.append((body, {"content-type": "application/json", **headers}))
    return signed


WRK_SCRIPT = """
local requests, index, stride = {}, 0, 1
failures = 0
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
threads = {}
function init(args)
  local file = io.open(args[1], "rb"); local data = file:read("*a"); file:close()
  for raw in string.gmatch(data, "([^%z]+)") do table.insert(requests, raw) end
  index = id; stride = tonumber(args[2])
end
function request()
  local raw = requests[(index % #requests) + 1]; index = index + stride; return raw
end
function response(status) if status ~= 202 then failures = failures + 1 end end
function done(summary, latency)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("RESULT %d %f %f %f %d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, failed))
end
"""


def load_with_wrk(
    wrk: str, port: int, count: int, concurrency: int, seconds: int
) -> tuple[float, float, float]:
    """Replay pre-signed deliveries with wrk for `seconds`; return (per second, p50, p99 ms)."""
    with tempfile.TemporaryDirectory() as folder:
        requests = Path(folder) / "requests.bin"
        raw = b"\0".join(_raw_request(port, body, headers) for body, headers in deliveries(count))
        requests.write_bytes(raw)
        script = Path(folder) / "replay.lua"
        script.write_text(WRK_SCRIPT)
        threads = 1
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                wrk,
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}{PATH}",
                "--",
                str(requests),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode:
        raise RuntimeError(f"wrk failed: {result.stdout[-500:]} {result.stderr[-500:]}")
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    done, duration, p50, p99, failed = line.split()[1:]
    if int(failed):
        raise RuntimeError(f"{failed} deliveries were not acknowledged with 202")
    if int(done) > count:
        raise RuntimeError("wrk replayed deliveries twice; raise --requests")
    return int(done) / float(duration), float(p50), float(p99)


def _raw_request(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def load(url: str, count: int, concurrency: int) -> tuple[float, list[float]]:
    """Send `count` deliveries with `concurrency` in flight; return (per second, latencies)."""
    work = deliveries(count)
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                sent = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return count / elapsed, latencies


def measure(
    kind: str, database_url: str, count: int, concurrency: int, seconds: int
) -> tuple[float, float, float]:
    """Start a server of `kind` in its own process, warm it, load it, stop it.

    Returns acknowledgements per second and the p50 and p99 latencies in milliseconds.
    """
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(kind, port, database_url), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        asyncio.run(load(url, 200, concurrency))  # warm-up
        wrk = shutil.which("wrk")
        if wrk is not None:
            return load_with_wrk(wrk, port, count, concurrency, seconds)
        rate, latencies = asyncio.run(load(url, min(count, 5000), concurrency))
        return rate, percentile(latencies, 0.5), percentile(latencies, 0.99)
    finally:
        process.terminate()
        process.join(10)


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile, in milliseconds."""
    return statistics.quantiles(values, n=100)[int(share * 100) - 1] * 1000


async def _postgres_url() -> str:
    """A fresh PostgreSQL database at the head revision (127.0.0.1, user postgres)."""
    import asyncpg  # noqa: PLC0415 - only this option needs it

    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1/{name}"
    await migrate.upgrade_database(url)
    return url


def main() -> None:
    """Measure both servers in one run and print rates, the ratio and latencies."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=80_000, help="deliveries signed")
    parser.add_argument("--seconds", type=int, default=8, help="load per server")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.database == "sqlite":
            database_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        else:
            database_url = asyncio.run(_postgres_url())
        results = {
            kind: measure(kind, database_url, args.requests, args.concurrency, args.seconds)
            for kind in ("bare", "receiver")
        }
    print(f"load from {'wrk' if shutil.which('wrk') else 'httpx'}")
    for kind, (rate, p50, p99) in results.items():
        print(f"{kind:9} {rate:8.0f} acks/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    ratio = results["receiver"][0] / results["bare"][0]
    print(f"receiver / bare: {ratio:.2f} (target >= 0.50) on {args.database}")


if __name__ == "__main__":
    main()
