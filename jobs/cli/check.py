"""`connector check`: reach Wisenet, compare the mapping's names and USI statuses; write nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from connector.wisenet.budget import BudgetState
from connector.wisenet.client import WisenetClient
from connector.wisenet.vocabulary import LIFECYCLE_COMBOS
from connector.wisenet.wire import ComboEntry, Item, LearnerData
from mappings.audiences import code_matcher, is_pattern
from mappings.catalogue import normalise
from mappings.loader import ParsedMapping
from mappings.vocabulary import never_matching

# Outcomes are compared by AVETMISS code; the other lookups by description.
_BY_CODE = frozenset({"outcomes"})
VERIFIED_USI_SET = "verified_usi_statuses"


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


async def run_check(client: WisenetClient, mapping: ParsedMapping | None = None) -> CheckReport:
    """Load every combo the lifecycle rules read and compare the mapping's names with them.

    Warnings about the mapping's values are located (file:line:col).
    """
    report = CheckReport()
    combos = {}
    for name in LIFECYCLE_COMBOS:
        combos[name] = await client.combo(name)
        report.combo_sizes[name] = len(combos[name])
    if mapping is not None:
        found = never_matching(mapping, known_names(combos), "the account's")
        report.warnings = [str(replace(warning, warning=False)) for warning in found]
        if any(audience.courses for audience in mapping.spec.audiences.values()):
            codes = [item.data.course_code async for page in client.courses() for item in page]
            report.warnings += course_code_warnings(mapping, codes)
        verified = mapping.spec.sets.get(VERIFIED_USI_SET)
        if verified is not None:
            learners = await client.learner_sample()
            report.warnings += usi_status_warnings(verified, learners)
    report.budget = await client.budget.state()
    return report


def course_code_warnings(mapping: ParsedMapping, account_codes: list[str | None]) -> list[str]:
    """Located warnings for audience course codes (or patterns) no course of the account has."""
    warnings = []
    for name, audience in mapping.spec.audiences.items():
        for index, code in enumerate(audience.courses or ()):
            if any(code_matcher([code])(found) for found in account_codes):
                continue
            what = "matches no course" if is_pattern(code) else "is not a course"
            warning = mapping.warning(
                ("audiences", name, "courses", index),
                f"audience {name}: {code.strip()!r} {what} of the account "
                f"({len(account_codes)} courses)",
            )
            warnings.append(str(replace(warning, warning=False)))
    return warnings


def usi_status_warnings(verified: list[str], learners: list[Item[LearnerData]]) -> list[str]:
    """A warning when no sampled learner's `UsiStatus` is one of the mapping's verified values.

    Wisenet does not publish its `UsiStatus` values, so a wrong set would silently flag every
    learner's USI as unverified. The values seen are status words, counted, never identifiers.
    """
    wanted = {normalise(value) for value in verified}
    seen = Counter(
        item.data.personal.usi_status
        for item in learners
        if item.data.personal is not None and item.data.personal.usi_status
    )
    if not learners or any(normalise(value) in wanted for value in seen):
        return []
    found = ", ".join(f"{value!r} x{n}" for value, n in seen.most_common()) or "none"
    return [
        f"set {VERIFIED_USI_SET}: no learner among the first {len(learners)} has a UsiStatus "
        f"of {sorted(verified)}; values seen: {found}"
    ]
