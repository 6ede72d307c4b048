"""Stage events tell what happened: first placements apart from changes, nothing for no change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from jobs.pipeline.runs import sync
from tests.support.rig import Rig
from tests.support.sandbox import control

pytestmark = pytest.mark.integration


def moves(logs: Sequence[Mapping[str, Any]], event: str) -> list[tuple[str, int, str | None, str]]:
    """The stage moves logged as `event`: subject, id, from and to."""
    return [
        (line["subject"], line["id"], line["from_stage"], line["to_stage"])
        for line in logs
        if line["event"] == event
    ]


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_a_first_sync_places_learners_and_a_staff_edit_is_one_change(rig: Rig) -> None:
    """First placements, then exactly one change per subject a staff edit moves.

    The first sync logs no stage.changed and no placement from no stage to no stage.
    """
    with capture_logs() as first_logs:
        first = await sync(rig.ctx)
    placed = moves(first_logs, "stage.placed")
    assert moves(first_logs, "stage.changed") == []
    assert first.stage_changes == 0
    assert first.first_placements == len(placed) > 0
    assert all(to is not None for _, _, _, to in placed)
    learners_placed = [move for move in placed if move[0] == "learner"]
    assert sum(first.learner_placements.values()) == len(learners_placed)

    case = next(c for c in control(rig.server, "GET", "/cases") if c["name"] == "stage-enquiry")
    learner, ce = case["learner_id"], case["course_enrolment_ids"][0]
    control(rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Current"})
    with capture_logs() as second_logs:
        second = await sync(rig.ctx)
    assert moves(second_logs, "stage.changed") == [
        ("learner", learner, "Sales", "Progression"),
        ("course_enrolment", ce, "Sales", "Progression"),
    ]
    assert moves(second_logs, "stage.placed") == []
    assert (second.stage_changes, second.first_placements) == (2, 0)
    assert second.learner_changes == {"Progression": 1}
