"""A request limiter safe at any rate up to Wisenet's: even spacing inside a rolling window.

Two rules decide when a request may go, on the injected clock:

- **Even spacing**: consecutive sends are at least `1/rate` seconds apart, so there is never a
  burst.
- **Rolling window from the answers**: a request goes no sooner than `1 s + margin` after the
  *answer* to the request `rate` sends before it (whole requests: at least 1, at most
  `floor(rate)`). A request arrives at Wisenet after it is sent and before its answer comes
  back, so however long it travelled (network jitter, a new connection's handshake, a busy
  host stalling the process), no rolling second of arrivals holds more than `rate` requests,
  even at `rate` = Wisenet's own limit. Spacing alone cannot promise that: at 10/s, sends
  exactly 100 ms apart put 11 arrivals in one second whenever the 11th travels faster than
  the first.

The margin, `WINDOW_MARGIN_SECONDS` (50 ms), allows for Wisenet's clock and the granularity of
its timestamps. The window costs throughput only when the limiter is saturated: it then sends
`rate` requests per `1 s + margin + answer time` (about 9.3/s at 10/s with answers in 30 ms).
Send times are taken when a caller is let through, after its wait, so a late wake-up never
squeezes the window. Callers are let through one at a time, in order.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from connector.clock import Clock

WINDOW_MARGIN_SECONDS = 0.05  # Wisenet's clock and timestamp granularity
_TOLERANCE = 1e-9  # a wait this short is rounding, not a wait


@dataclass
class _Send:
    """One request let through: when it went, and when its answer (or failure) came."""

    sent: float
    answered: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class EvenRateLimiter:
    """Spaces requests `1/rate` s apart, each `1 s + margin` after the answer `rate` sends back."""

    def __init__(self, rate: float, clock: Clock, *, margin: float = WINDOW_MARGIN_SECONDS) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if margin < 0:
            raise ValueError("margin must not be negative")
        self._interval = 1.0 / rate
        self._window = 1.0 + margin
        self._clock = clock
        self._sends: deque[_Send] = deque(maxlen=max(1, math.floor(rate)))
        self._lock = asyncio.Lock()

    @property
    def interval(self) -> float:
        """Seconds between two consecutive slots."""
        return self._interval

    @property
    def per_window(self) -> int:
        """Sends allowed in any rolling window."""
        return self._sends.maxlen or 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a slot; the request goes inside the block, which ends when it is answered."""
        send = await self._take()
        try:
            yield
        finally:
            send.answered = self._clock.monotonic()
            send.done.set()

    async def acquire(self) -> None:
        """Wait for a slot for a request that is answered at once (no time on the way)."""
        async with self.slot():
            pass

    async def _take(self) -> _Send:
        async with self._lock:
            while True:
                if len(self._sends) == self.per_window:
                    await self._sends[0].done.wait()  # its arrival is known only by its answer
                delay = self._earliest() - self._clock.monotonic()
                if delay <= _TOLERANCE:
                    break
                await self._clock.sleep(delay)
            send = _Send(self._clock.monotonic())
            self._sends.append(send)
            return send

    def _earliest(self) -> float:
        """One interval after the last send, one window after the answer `rate` sends back."""
        if not self._sends:
            return float("-inf")
        earliest = self._sends[-1].sent + self._interval
        oldest = self._sends[0]
        if len(self._sends) == self.per_window and oldest.answered is not None:
            earliest = max(earliest, oldest.answered + self._window)
        return earliest
