"""What commands get from outside the program: the clock (a fake one in tests), its own name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo

from connector.clock import Clock


@dataclass(frozen=True)
class Runtime:
    """The command-line run's injected dependencies."""

    clock: Clock
    program: str = "connector"  # how the user can run this program again, for printed commands

    def today(self, zone: tzinfo) -> date:
        """The calendar date now in `zone` (the account's timezone)."""
        return self.clock.now().astimezone(zone).date()
