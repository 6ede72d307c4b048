"""What commands get from outside the program: the clock (a fake one in tests), its own name.

The settings are read once per process, when a command first needs them, and kept here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from functools import cached_property

from connector.clock import Clock
from jobs.setup.composition import Parts
from jobs.setup.settings import Settings, load_settings


@dataclass(frozen=True)
class Runtime:
    """The command-line run's injected dependencies."""

    clock: Clock
    program: str = "connector"  # how the user can run this program again, for printed commands

    @cached_property
    def settings(self) -> Settings:
        """The settings, read on first use (a command that needs none never reads them)."""
        return load_settings()

    def parts(self) -> Parts:
        """The parts this run brings to the composition root: its clock."""
        return Parts(clock=self.clock)

    def today(self, zone: tzinfo) -> date:
        """The calendar date now in `zone` (the account's timezone)."""
        return self.clock.now().astimezone(zone).date()
