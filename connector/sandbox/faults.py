"""Fault injection for the /v1 API: server errors, latency, dropped connections, 429 storms.

Two latencies: `latency_ms` delays the answer (after the gate: a slow Wisenet), and
`arrival_latency_ms` delays the request before the gate (network jitter between send and
arrival, which the per-second rate window sees).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    """What to break, with a seeded random source so a run is repeatable."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    drop_rate: float = 0.0
    latency_ms: tuple[int, int] = (0, 0)
    arrival_latency_ms: tuple[int, int] = (0, 0)
    storm_remaining: int = 0
    storm_retry_after: float | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def configure(self, body: dict[str, Any]) -> None:
        """Apply a control-API body; unknown keys are refused by the caller's schema."""
        if "seed" in body:
            self.rng = random.Random(body["seed"])
        self.error_rate = float(body.get("error_rate", self.error_rate))
        self.error_statuses = tuple(body.get("error_statuses", self.error_statuses))
        self.drop_rate = float(body.get("drop_rate", self.drop_rate))
        low, high = body.get("latency_ms", self.latency_ms)
        self.latency_ms = (int(low), int(high))
        low, high = body.get("arrival_latency_ms", self.arrival_latency_ms)
        self.arrival_latency_ms = (int(low), int(high))
        storm = body.get("storm")
        if storm is not None:
            self.storm_remaining = int(storm.get("requests", 0))
            self.storm_retry_after = storm.get("retry_after")

    def clear(self) -> None:
        """No faults."""
        self.error_rate = self.drop_rate = 0.0
        self.latency_ms = self.arrival_latency_ms = (0, 0)
        self.storm_remaining = 0
        self.storm_retry_after = None

    def latency(self) -> float:
        """Seconds to delay this request's answer."""
        return self._draw(self.latency_ms)

    def arrival_latency(self) -> float:
        """Seconds this request spends on its way, before the gate sees it."""
        return self._draw(self.arrival_latency_ms)

    def _draw(self, bounds: tuple[int, int]) -> float:
        low, high = bounds
        return 0.0 if high <= 0 else self.rng.uniform(low, high) / 1000

    def take_storm(self) -> bool:
        """Whether this request falls in a 429 storm."""
        if self.storm_remaining > 0:
            self.storm_remaining -= 1
            return True
        return False

    def server_error(self) -> int | None:
        """A 5xx status to answer with, or None."""
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            return self.rng.choice(self.error_statuses)
        return None

    def drop(self) -> bool:
        """Whether to drop the connection mid-body."""
        return self.drop_rate > 0 and self.rng.random() < self.drop_rate

    def snapshot(self) -> dict[str, Any]:
        """The current settings as JSON."""
        return {
            "error_rate": self.error_rate,
            "error_statuses": list(self.error_statuses),
            "drop_rate": self.drop_rate,
            "latency_ms": list(self.latency_ms),
            "arrival_latency_ms": list(self.arrival_latency_ms),
            "storm_remaining": self.storm_remaining,
            "storm_retry_after": self.storm_retry_after,
        }
