"""The sandbox's clock: account-local wall time that tests can freeze and move forward."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, tzinfo


class SandboxClock:
    """Local time in the account timezone, starting at a chosen moment.

    Running clocks follow real time from their start; frozen ones move only when advanced.
    Modification stamps handed out by `stamp()` strictly increase, one millisecond at least.
    Time is kept in UTC: adding to an aware local time adds to its wall clock, so a day advanced
    across the end of daylight saving would otherwise be 25 hours of real time.
    """

    def __init__(self, start: datetime, account_tz: tzinfo, *, frozen: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be aware")
        self._tz = account_tz
        self._start = start.astimezone(UTC)
        self._offset = timedelta(0)
        self._frozen = frozen
        self._started_at = time.monotonic()
        self._last_stamp: datetime | None = None

    @property
    def account_tz(self) -> tzinfo:
        """The account's timezone."""
        return self._tz

    @property
    def frozen(self) -> bool:
        """Whether time moves only when advanced."""
        return self._frozen

    def now(self) -> datetime:
        """Return the current instant, aware, in the account timezone."""
        elapsed = (
            timedelta(0) if self._frozen else timedelta(seconds=time.monotonic() - self._started_at)
        )
        return (self._start + self._offset + elapsed).astimezone(self._tz)

    def local_now(self) -> datetime:
        """Return the wall-clock time in the account, without offset (as Wisenet shows it)."""
        return self.now().replace(tzinfo=None)

    def today(self) -> date:
        """Return the account's calendar date."""
        return self.now().date()

    def advance(self, delta: timedelta) -> None:
        """Move time forward (never back)."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self._offset += delta

    def set_frozen(self, frozen: bool) -> None:
        """Freeze or unfreeze, keeping the current time."""
        current = self.now()
        self._start, self._offset = current.astimezone(UTC), timedelta(0)
        self._started_at = time.monotonic()
        self._frozen = frozen

    def observe(self, stamp: datetime) -> None:
        """Make later stamps come after `stamp` (a record written outside the clock)."""
        if self._last_stamp is None or stamp > self._last_stamp:
            self._last_stamp = stamp

    def stamp(self) -> datetime:
        """A local modification time, millisecond precision, later than every earlier stamp."""
        now = self.local_now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return now
