"""`connector check`: reach Wisenet, load the combos, compare the mapping's names; write nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.wisenet.budget import BudgetState
from connector.wisenet.client import WisenetClient
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS, normalise
from connector.wisenet.wire import ComboEntry
from mappings.loader import vocabulary_warnings
from mappings.schema import MappingSpec

# Outcomes are compared by AVETMISS code; the other lookups by description.
_BY_CODE = frozenset({"outcomes"})


@dataclass
class CheckReport:
    """What `check` found."""

    combo_sizes: dict[str, int] = field(default_factory=dict)
    budget: BudgetState | None = None
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"combo {name}: {size} values" for name, size in self.combo_sizes.items()]
        if self.budget is not None:
            b = self.budget
            out.append(
                f"requests: {b.used} spent by this check; daily quota {b.quota}; "
                f"budget day {b.day.isoformat()} resets {b.resets_at.isoformat(timespec='minutes')}"
            )
        out += [f"warning: {warning}" for warning in self.warnings]
        return out


def known_names(combos: dict[str, list[ComboEntry]]) -> dict[str, frozenset[str]]:
    """The account's names (or codes) per combo, normalised for comparison."""
    known = {}
    for name, entries in combos.items():
        labels = (entry.code if name in _BY_CODE else entry.description for entry in entries)
        known[name] = frozenset(normalise(label) for label in labels if label)
    return known


async def run_check(client: WisenetClient, mapping: MappingSpec | None = None) -> CheckReport:
    """Load every combo the lifecycle rules read and compare the mapping's names with them."""
    report = CheckReport()
    combos = {}
    for name in LIFECYCLE_COMBOS:
        combos[name] = await client.combo(name)
        report.combo_sizes[name] = len(combos[name])
    report.budget = await client.budget.state()
    if mapping is not None:
        report.warnings = vocabulary_warnings(mapping, known_names(combos))
    return report
