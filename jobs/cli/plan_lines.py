"""What a dry run would write, as lines for a person: ids only, never names."""

from __future__ import annotations

from collections.abc import Sequence

from jobs.pipeline.context import PlannedWrite


def plan_lines(plan: Sequence[PlannedWrite]) -> list[str]:
    """One line per enrolment a real run would write or block, the fix per blocking tag, totals.

    A write a real run would block says so after its tags (`blocked by TAG`); the tags and
    totals to add and remove count the writes to send only.
    """
    ordered = sorted(
        plan, key=lambda w: (w.blocked is not None, w.learner_id, w.course_enrolment_id)
    )
    lines = [
        f"plan: learner {write.learner_id} enrolment {write.course_enrolment_id} "
        f"add {','.join(write.add) or '-'} remove {','.join(write.remove) or '-'}"
        + ("" if write.blocked is None else f" blocked by {write.blocked}")
        for write in ordered
    ]
    to_send = [write for write in plan if write.blocked is None]
    fixes: dict[str, tuple[int, str]] = {}
    for write in plan:
        if write.blocked is not None:
            count, fix = fixes.get(write.blocked, (0, write.fix or "refused"))
            fixes[write.blocked] = (count + 1, fix)
    lines += [
        f"plan: {count} write(s) blocked by {tag}: {fix}"
        for tag, (count, fix) in sorted(fixes.items())
    ]
    adds = sum(len(write.add) for write in to_send)
    removes = sum(len(write.remove) for write in to_send)
    lines.append(
        f"plan: {len(to_send)} enrolments to write, {len(plan) - len(to_send)} blocked; "
        f"{adds} tags to add, {removes} to remove; "
        "dry run: nothing sent, the store left as it was"
    )
    return lines
