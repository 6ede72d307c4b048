"""Switching the active mapping: the impact first, then the switch, then every learner re-decided.

Nothing is fetched from Wisenet: every stored learner is evaluated with the current and the new
mapping, and the differences are counted (a renamed tag is a removal plus an addition). Blocked
writes the new mapping would let through (it adopts their staff tag) count in the write cost.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from connector.store.store import Store
from jobs.pipeline.tag_definitions import blocking_tag, tag_refusal
from mappings.bundle import LearnerBundle
from mappings.compiler import CompiledMapping
from mappings.decision import Decision
from mappings.evaluate import evaluate

BATCH = 200
SAMPLES = 5  # learner ids shown per kind of change


@dataclass
class Impact:
    """What switching mappings would change, in counts."""

    learners: int = 0
    stage_moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    learner_moves: Counter[tuple[str, str]] = field(default_factory=Counter)  # "none": no stage
    tags_added: Counter[str] = field(default_factory=Counter)
    tags_removed: Counter[str] = field(default_factory=Counter)
    flags_raised: Counter[str] = field(default_factory=Counter)
    flags_cleared: Counter[str] = field(default_factory=Counter)
    courses: Counter[str] = field(default_factory=Counter)  # changed enrolments by course code
    writes: int = 0  # the writes of changed tags and the blocked writes released
    released: int = 0  # of those, blocked writes the new mapping lets through
    samples: dict[str, list[int]] = field(default_factory=dict)

    def sample(self, change: str, learner_id: int) -> None:
        """Keep a few learner ids (ids only) for one kind of change."""
        kept = self.samples.setdefault(change, [])
        if len(kept) < SAMPLES and learner_id not in kept:
            kept.append(learner_id)

    def days(self, daily_quota: int) -> int:
        """Days of the API budget the writes take."""
        return math.ceil(self.writes / daily_quota) if self.writes else 0

    def matrix(self) -> tuple[list[str], dict[str, dict[str, int]]]:
        """Stages seen, and enrolments moving from → to (rows from, columns to)."""
        stages = sorted({stage for move in self.stage_moves for stage in move})
        table = {
            old: {new: self.stage_moves.get((old, new), 0) for new in stages} for old in stages
        }
        return stages, table

    def as_json(self, daily_quota: int) -> dict[str, object]:
        """The preview's stable JSON shape."""
        tags = sorted(set(self.tags_added) | set(self.tags_removed))
        flags = sorted(set(self.flags_raised) | set(self.flags_cleared))
        return {
            "learners": self.learners,
            "stage_moves": self.matrix()[1],
            "learner_moves": {
                f"{old} -> {new}": n for (old, new), n in sorted(self.learner_moves.items())
            },
            "tags": {
                t: {"added": self.tags_added[t], "removed": self.tags_removed[t]} for t in tags
            },
            "flags": {
                f: {"raised": self.flags_raised[f], "cleared": self.flags_cleared[f]} for f in flags
            },
            "courses": dict(sorted(self.courses.items())),
            "writes": self.writes,
            "released_writes": self.released,
            "budget_days": self.days(daily_quota),
            "samples": self.samples,
        }

    def lines(self, daily_quota: int) -> list[str]:
        """The impact as text: a from → to table of stage moves, then tags, flags and cost."""
        out = [f"learners evaluated: {self.learners}"]
        stages, table = self.matrix()
        if stages:
            width = max(len(s) for s in stages) + 2
            out.append("course enrolments moving stage (rows from, columns to):")
            out.append(" " * width + "".join(f"{s:>{width}}" for s in stages))
            for old in stages:
                cells = "".join(f"{table[old][new] or '.':>{width}}" for new in stages)
                out.append(f"{old:<{width}}{cells}")
        out += [
            f"  learners {old} -> {new}: {n}"
            for (old, new), n in sorted(self.learner_moves.items())
        ]
        out += [f"  tag {tag} added on {n}" for tag, n in sorted(self.tags_added.items())]
        out += [f"  tag {tag} removed from {n}" for tag, n in sorted(self.tags_removed.items())]
        out += [f"  flag {flag} raised on {n}" for flag, n in sorted(self.flags_raised.items())]
        out += [f"  flag {flag} cleared on {n}" for flag, n in sorted(self.flags_cleared.items())]
        out += [
            f"  course {course}: {n} enrolment(s) change"
            for course, n in sorted(self.courses.items())
        ]
        out += [
            f"  e.g. {change}: learner(s) {', '.join(map(str, ids))}"
            for change, ids in sorted(self.samples.items())
        ]
        released = f" ({self.released} of them blocked writes it releases)" if self.released else ""
        out.append(
            f"write cost: {self.writes} request(s){released}, about {self.days(daily_quota)} "
            "day(s) of the budget"
        )
        return out


async def impact(
    store: Store, current: CompiledMapping, proposed: CompiledMapping, today: date
) -> Impact:
    """Evaluate every stored learner with both mappings and count the differences."""
    found = Impact()
    written: set[int] = set()  # enrolments whose tags the new mapping changes
    ids = await store.snapshots.learner_ids()
    for start in range(0, len(ids), BATCH):
        for bundle, _ in (await store.bundles.many(ids[start : start + BATCH])).values():
            before = evaluate(bundle, current, today)
            after = evaluate(bundle, proposed, today)
            found.learners += 1
            active = bundle.learner.is_active is True
            learner = bundle.learner.id
            if before.learner_stage != after.learner_stage:
                found.learner_moves[
                    (before.learner_stage or "none", after.learner_stage or "none")
                ] += 1
            for old, new in zip(before.course_enrolments, after.course_enrolments, strict=True):
                if old.stage != new.stage:
                    found.stage_moves[(old.stage, new.stage)] += 1
                    found.sample(f"stage {old.stage} -> {new.stage}", learner)
                for tag in new.desired_tags - old.desired_tags:
                    found.tags_added[tag] += 1
                    found.sample(f"tag + {tag}", learner)
                for tag in old.desired_tags - new.desired_tags:
                    found.tags_removed[tag] += 1
                    found.sample(f"tag - {tag}", learner)
                if active and old.desired_tags != new.desired_tags:
                    found.writes += 1
                    written.add(new.id)
            old_flags, new_flags = before.flag_keys(), after.flag_keys()
            for key in new_flags - old_flags:
                found.flags_raised[key[0]] += 1
                found.sample(f"flag + {key[0]}", learner)
            for key in old_flags - new_flags:
                found.flags_cleared[key[0]] += 1
                found.sample(f"flag - {key[0]}", learner)
            _count_courses(found, bundle, before, after)
    found.released = await released_writes(store, proposed, written)
    found.writes += found.released
    return found


def _count_courses(found: Impact, bundle: LearnerBundle, before: Decision, after: Decision) -> None:
    """Count each enrolment whose stage, tags or flags change under its course code."""
    changed = {
        new.id
        for old, new in zip(before.course_enrolments, after.course_enrolments, strict=True)
        if old.stage != new.stage or old.desired_tags != new.desired_tags
    }
    old = {flag.key: flag for flag in before.flags}
    new = {flag.key: flag for flag in after.flags}
    moved = [old[key] for key in old.keys() - new.keys()] + [
        new[key] for key in new.keys() - old.keys()
    ]
    changed |= {flag.course_enrolment_id for flag in moved if flag.course_enrolment_id is not None}
    for ce in bundle.course_enrolments:
        if ce.id in changed:
            found.courses[ce.course_code or "unknown"] += 1


async def released_writes(store: Store, proposed: CompiledMapping, written: set[int]) -> int:
    """Blocked writes that `proposed` no longer refuses, on enrolments not in `written`.

    The refusal is the write-back's own, judged on the tag definitions the store last read.
    """
    blocked = await store.outbox.blocked_rows()
    if not blocked:
        return 0
    known = {tag.name: tag for tag in await store.vocabulary.tags()}
    owned = {tag.name for tag in proposed.spec.tags.owned}
    adoptable = {tag.name for tag in proposed.spec.tags.owned if tag.adopt_existing}

    def refusal(name: str) -> str | None:
        return tag_refusal(name, known.get(name), adoptable)

    return sum(
        1
        for write, _, _ in blocked
        if write.course_enrolment_id not in written
        and blocking_tag(write.add, write.remove, owned, refusal) is None
    )
