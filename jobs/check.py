"""`connector check`: reach Wisenet, load the combos, report the budget; write nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.wisenet.budget import BudgetState
from connector.wisenet.client import WisenetClient
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS


@dataclass
class CheckReport:
    """What `check` found."""

    combo_sizes: dict[str, int] = field(default_factory=dict)
    budget: BudgetState | None = None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"combo {name}: {size} values" for name, size in self.combo_sizes.items()]
        if self.budget is not None:
            b = self.budget
            out.append(
                f"requests: {b.used} spent by this check; daily quota {b.quota}; "
                f"budget day {b.day.isoformat()} resets {b.resets_at.isoformat(timespec='minutes')}"
            )
        return out


async def run_check(client: WisenetClient) -> CheckReport:
    """Load every combo the lifecycle rules read; raise the client's errors unchanged."""
    report = CheckReport()
    for name in LIFECYCLE_COMBOS:
        report.combo_sizes[name] = len(await client.combo(name))
    report.budget = await client.budget.state()
    return report
