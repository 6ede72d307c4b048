"""Wisenet's limits as the sandbox enforces them, and the request counters tests read.

- Rate: a request is refused with 429 when the key already had `rate_limit` accepted requests in
  the last second (a sliding window on the real monotonic clock).
- Quota: a request is refused with 429 when the key already used `daily_quota` requests in the
  current account-local day (by the sandbox clock), so advancing the clock resets it.
`0` disables either limit. Refused requests are not counted against the window or the quota.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any


@dataclass
class Limits:
    """Per-key rate and daily quota, as settable at run time."""

    rate_limit: int = 10
    daily_quota: int = 1000
    retry_after: bool = False
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _used: dict[tuple[str, date], int] = field(default_factory=dict)

    def check_rate(self, key: str, now: float | None = None) -> float | None:
        """Seconds until a slot frees if the key is over the rate, else None (and count it)."""
        if self.rate_limit <= 0:
            return None
        moment = time.monotonic() if now is None else now
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= moment - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            return max(0.0, window[0] + 1.0 - moment)
        window.append(moment)
        return None

    def check_quota(self, key: str, local_now: datetime) -> float | None:
        """Seconds until midnight if the key's day is spent, else None (and count it)."""
        day = local_now.date()
        used = self._used.get((key, day), 0)
        if self.daily_quota > 0 and used >= self.daily_quota:
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time())
            return (midnight - local_now).total_seconds()
        self._used[(key, day)] = used + 1
        return None

    def used_today(self, key: str, local_now: datetime) -> int:
        """Requests the key has used in the current day."""
        return self._used.get((key, local_now.date()), 0)

    def reset_quota(self) -> None:
        """Forget every day's usage."""
        self._used.clear()


@dataclass
class PatchLog:
    """Every PATCH Wisenet applied, in order, and whether it changed anything."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self, entity: str, record_id: int, operations: list[dict[str, Any]], *, changed: bool
    ) -> None:
        """Log one applied PATCH (ids and the document; tag ids only, no personal data)."""
        self.entries.append(
            {"entity": entity, "id": record_id, "operations": operations, "changed": changed}
        )

    def snapshot(self) -> list[dict[str, Any]]:
        """The log as JSON."""
        return list(self.entries)


@dataclass
class Counters:
    """Requests seen, by `METHOD /template`, by status, and refusals by reason."""

    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    quota_limited: int = 0
    faults_injected: int = 0
    total: int = 0

    def record(self, endpoint: str, status: int) -> None:
        """Count one answered request."""
        self.total += 1
        self.by_endpoint[endpoint] += 1
        self.by_status[str(status)] += 1

    def reset(self) -> None:
        """Start counting from zero."""
        self.by_endpoint.clear()
        self.by_status.clear()
        self.rate_limited = self.quota_limited = self.faults_injected = self.total = 0

    def snapshot(self) -> dict[str, object]:
        """The counters as JSON."""
        return {
            "total": self.total,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "by_status": dict(sorted(self.by_status.items())),
            "rate_limited": self.rate_limited,
            "quota_limited": self.quota_limited,
            "faults_injected": self.faults_injected,
        }
