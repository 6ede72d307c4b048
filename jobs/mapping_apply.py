"""Switching the active mapping: the impact first, then the switch, then every learner re-decided.

Nothing is fetched from Wisenet: every stored learner is evaluated with the current and the new
mapping, and the differences are counted (a renamed tag is a removal plus an addition).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from connector.store.store import Store
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate

BATCH = 200


@dataclass
class Impact:
    """What switching mappings would change, in counts."""

    learners: int = 0
    stage_moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    tags_added: Counter[str] = field(default_factory=Counter)
    tags_removed: Counter[str] = field(default_factory=Counter)
    flags_raised: Counter[str] = field(default_factory=Counter)
    flags_cleared: Counter[str] = field(default_factory=Counter)
    writes: int = 0

    def lines(self, daily_quota: int) -> list[str]:
        """The impact as text."""
        days = math.ceil(self.writes / daily_quota) if self.writes else 0
        out = [f"learners evaluated: {self.learners}"]
        out += [
            f"  stage {old} -> {new}: {n}" for (old, new), n in sorted(self.stage_moves.items())
        ]
        out += [f"  tag {tag} added on {n}" for tag, n in sorted(self.tags_added.items())]
        out += [f"  tag {tag} removed from {n}" for tag, n in sorted(self.tags_removed.items())]
        out += [f"  flag {flag} raised on {n}" for flag, n in sorted(self.flags_raised.items())]
        out += [f"  flag {flag} cleared on {n}" for flag, n in sorted(self.flags_cleared.items())]
        out.append(f"write cost: {self.writes} request(s), about {days} day(s) of the budget")
        return out


async def impact(
    store: Store, current: CompiledMapping, proposed: CompiledMapping, today: date
) -> Impact:
    """Evaluate every stored learner with both mappings and count the differences."""
    found = Impact()
    ids = await store.learner_ids()
    for start in range(0, len(ids), BATCH):
        for bundle, _ in (await store.bundles(ids[start : start + BATCH])).values():
            before = evaluate(bundle, current, today)
            after = evaluate(bundle, proposed, today)
            found.learners += 1
            active = bundle.learner.is_active is True
            for old, new in zip(before.course_enrolments, after.course_enrolments, strict=True):
                if old.stage != new.stage:
                    found.stage_moves[(old.stage, new.stage)] += 1
                found.tags_added.update(new.desired_tags - old.desired_tags)
                found.tags_removed.update(old.desired_tags - new.desired_tags)
                if active and old.desired_tags != new.desired_tags:
                    found.writes += 1
            old_flags, new_flags = before.flag_keys(), after.flag_keys()
            found.flags_raised.update(key[0] for key in new_flags - old_flags)
            found.flags_cleared.update(key[0] for key in old_flags - new_flags)
    return found
