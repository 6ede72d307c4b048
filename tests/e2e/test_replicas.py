"""Three `connector run` replicas on one PostgreSQL database, behind a webhook load balancer.

Webhooks land on every replica; only the holder of the scheduler lock calls Wisenet. The leader
is killed (SIGKILL), then the next one is frozen (SIGSTOP) past the lease and woken again; a
replica takes over each time, the frozen one steps down without another request, and the
deployment ends in the reference tags with every acknowledged delivery processed, no request
over Wisenet's rate and no PATCH that changed nothing.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from connector.sandbox.app import SandboxServer, free_port
from jobs.service.leader import LEADER_LEASE, LEADER_RETRY_SECONDS
from tests.e2e.test_service import environment, events
from tests.support.balancer import balancing
from tests.support.databases import postgres_database
from tests.support.processes import CONNECTOR
from tests.support.receiving import acknowledged
from tests.support.rig import expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control, served_for_processes
from tests.support.staff import staff_edits

STARTUP_SECONDS = 300  # as long as any child command may take to start on a busy host
pytestmark = [pytest.mark.integration, pytest.mark.slow]
RECEIVER = "/webhooks/wisenet"


@dataclass
class Replica:
    """One `connector run` process with its own ports and log."""

    name: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def admin(self) -> str:
        """The admin endpoints' address."""
        return f"http://{self.env['CONNECTOR_ADMIN_BIND']}"

    @property
    def receiver(self) -> str:
        """The webhook receiver's address."""
        return f"http://{self.env['CONNECTOR_HTTP_BIND']}"

    def start(self) -> None:
        """Start (or restart) the process, appending to its log."""
        if self.process is not None:
            self.process.wait(timeout=10)  # the previous one was killed: collect it
        with self.log.open("a") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [CONNECTOR, "run"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                cwd=self.log.parent,
            )

    def signal(self, number: signal.Signals) -> None:
        """Send a signal to the process."""
        assert self.process is not None
        self.process.send_signal(number)

    def role(self) -> str | None:
        """`leader`, `standby` or `starting` as its /readyz says; None if it does not answer."""
        try:
            body: dict[str, Any] = httpx.get(f"{self.admin}/readyz", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        return str(body.get("scheduler", {}).get("role"))

    def silence(self) -> str:
        """Why a replica does not answer: whether it exited, and the end of its log."""
        code = None if self.process is None else self.process.poll()
        tail = self.log.read_text(errors="replace").splitlines()[-8:] if self.log.exists() else []
        state = "running" if code is None else f"exited {code}"
        return f"{self.name} {state}; its log ends:\n" + "\n".join(tail)

    def wisenet_requests(self) -> float:
        """Wisenet requests this process made, from its /metrics."""
        text = httpx.get(f"{self.admin}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("connector_wisenet_requests_total{")
        )


def wait_for_leader(replicas: list[Replica], within: float) -> tuple[Replica, float]:
    """The one replica among `replicas` that leads, the others standing by; and how long it took."""
    began = time.monotonic()
    roles: dict[str, str | None] = {}
    while time.monotonic() - began < within:
        roles = {r.name: r.role() for r in replicas}
        leaders = [r for r in replicas if roles[r.name] == "leader"]
        if (
            len(leaders) == 1
            and sum(role == "standby" for role in roles.values()) == len(replicas) - 1
        ):
            return leaders[0], time.monotonic() - began
        time.sleep(0.2)  # the children elect at their own pace; `within` bounds the wait
    silent = "\n".join(r.silence() for r in replicas if roles.get(r.name) is None)
    raise AssertionError(f"no single leader within {within} s: {roles}\n{silent}")


def wait_for_role(replica: Replica, role: str, within: float) -> None:
    """Until `replica` reports `role`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if replica.role() == role:
            return
        time.sleep(0.2)
    raise AssertionError(f"{replica.name} is not {role} within {within} s\n{replica.silence()}")


def rows(url: str, query: str) -> list[asyncpg.Record]:
    """Rows from the shared PostgreSQL store."""

    async def fetch() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return list(await connection.fetch(query))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def unsettled(server: SandboxServer, url: str, within: float) -> str | None:
    """None once no delivery is pending, no write waits and Wisenet has the reference tags.

    Otherwise, after `within` s, what still differs.
    """
    deadline = time.monotonic() + within
    state = ""
    while time.monotonic() < deadline:
        time.sleep(1)  # the replicas work at their own pace; the deadline bounds the wait
        pending = rows(url, "SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL")[0][0]
        waiting = rows(url, "SELECT count(*) FROM outbox")[0][0]
        have, want = owned_tags_in_wisenet(server), expected_tags(server)
        wrong = sorted(ce for ce in set(have) | set(want) if have.get(ce) != want.get(ce))
        if pending == waiting == 0 and not wrong:
            return None
        state = f"{pending} deliveries pending, {waiting} writes waiting, tags differ on {wrong}"
    return state


def replicas_on(base: dict[str, str], folder: Path) -> list[Replica]:
    """Three replicas with their own ports, sharing everything else."""
    return [
        Replica(
            name,
            base
            | {
                "CONNECTOR_HTTP_BIND": f"127.0.0.1:{free_port()}",
                "CONNECTOR_ADMIN_BIND": f"127.0.0.1:{free_port()}",
            },
            folder / f"{name}.log",
        )
        for name in ("a", "b", "c")
    ]


@contextmanager
def running(replicas: list[Replica]) -> Iterator[None]:
    """Start the replicas; afterwards none is left running (frozen ones are woken and killed)."""
    try:
        for replica in replicas:
            replica.start()
        yield
    finally:
        for replica in replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.send_signal(signal.SIGCONT)
                replica.process.kill()
                replica.process.wait(timeout=10)


def fail_over(
    replicas: list[Replica], server: SandboxServer, rng: random.Random
) -> tuple[Replica, float, float]:
    """Kill the leader, then freeze and wake its successor, while staff keep editing.

    Returns the replica that was frozen and the two takeover times.
    """
    lease = LEADER_LEASE.total_seconds()
    # Start-up bound only (three processes importing at once on a busy host): not a figure.
    first, _ = wait_for_leader(replicas, STARTUP_SECONDS)
    staff_edits(server, rng, 6)
    time.sleep(3)  # a pause, not a wait: the kill must land in the middle of the first read
    first.signal(signal.SIGKILL)
    survivors = [r for r in replicas if r is not first]
    second, after_kill = wait_for_leader(survivors, lease)
    staff_edits(server, rng, 6)
    time.sleep(3)  # let the new leader take up the edits before it is frozen mid-work
    second.signal(signal.SIGSTOP)  # frozen: its connection stays open
    (third,) = [r for r in survivors if r is not second]
    _, after_freeze = wait_for_leader([third], lease + LEADER_RETRY_SECONDS + 5)
    staff_edits(server, rng, 6)
    time.sleep(2)  # the third works the edits while the second is still frozen
    second.signal(signal.SIGCONT)
    wait_for_role(second, "standby", 30)
    first.start()  # back, as a standby
    wait_for_role(first, "standby", 30)
    assert first.wisenet_requests() == 0  # a standby calls nothing
    return second, after_kill, after_freeze


def test_three_replicas_share_the_work_keep_the_rate_and_fail_over(tmp_path: Path) -> None:
    """Kill the leader, freeze the next: each time another leads; the result is exact."""
    rng = random.Random(3)
    with served_for_processes(rate_limit=10) as server, postgres_database() as url:
        base = environment(server.base_url, tmp_path / "unused.db")
        base.update(
            CONNECTOR_DATABASE_URL=url,
            CONNECTOR_WISENET_RATE_LIMIT="8",
            CONNECTOR_POLL_INTERVAL="20s",
        )
        subprocess.run(  # noqa: S603 - fixed arguments
            [CONNECTOR, "db", "upgrade"], env=base, check=True, capture_output=True, timeout=300
        )
        replicas = replicas_on(base, tmp_path)
        with balancing([r.receiver for r in replicas]) as balancer, running(replicas):
            control(
                server,
                "POST",
                "/webhooks",
                json={"url": balancer.url + RECEIVER, "retries": 10, "retry_backoff_ms": 200},
            )
            frozen, after_kill, after_freeze = fail_over(replicas, server, rng)
            staff_edits(server, rng, 6)
            control(server, "POST", "/webhooks/flush", json={"within": 60})
            problem = unsettled(server, url, 120)
            assert problem is None, problem
            for replica in replicas:
                replica.signal(signal.SIGTERM)
            assert [r.process.wait(timeout=40) for r in replicas if r.process] == [0, 0, 0]
        counters = control(server, "GET", "/counters")
        delivered = control(server, "GET", "/webhooks/deliveries?limit=20000")
        patches = control(server, "GET", "/patches")
        kept = acknowledged(delivered)
        processed = {
            row[0]
            for row in rows(
                url, "SELECT delivery_id FROM webhook_inbox WHERE processed_at IS NOT NULL"
            )
        }
    no_ops = [p for p in patches if not p["changed"]]
    print(  # noqa: T201 - figures for the closing note
        f"\ntakeover after SIGKILL {after_kill:.1f} s, after SIGSTOP {after_freeze:.1f} s "
        f"(lease {LEADER_LEASE.total_seconds():.0f} s); {counters['total']} requests, "
        f"{counters['rate_limited']} over the rate; {len(kept)} deliveries "
        f"acknowledged, {len(kept - processed)} unprocessed, spread "
        f"{sorted(balancer.taken.values())}; {len(patches)} PATCHes, {len(no_ops)} changed nothing"
    )
    assert counters["rate_limited"] == 0
    assert kept
    assert kept <= processed
    assert len(balancer.taken) >= 2  # deliveries really landed on more than one replica
    assert len(no_ops) <= 1  # at most the PATCH in flight when the leader was killed
    lost = [e for e in events(frozen.log) if e.get("event") == "leader.lost"]
    assert lost  # the frozen leader noticed on waking and stood down
