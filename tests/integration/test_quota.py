"""A quota spent by another integration: the connector stops, probes hourly, catches up."""

from __future__ import annotations

import pytest

from connector.errors import RateLimitedError
from connector.store.inbox_writer import Delivery, enqueue_many
from jobs.pipeline.inbox import drain_inbox
from jobs.pipeline.runs import sync
from tests.support.clock import FakeClock
from tests.support.rig import Rig, expected_tags, owned_tags_in_wisenet
from tests.support.sandbox import control

pytestmark = pytest.mark.integration


def sent(rig: Rig) -> int:
    """Requests the sandbox received (refused ones included)."""
    total: int = control(rig.server, "GET", "/counters")["total"]
    return total


@pytest.mark.parametrize("rig", ["sqlite", "postgresql"], indirect=True)
async def test_a_spent_quota_stops_calls_probes_hourly_and_catches_up(rig: Rig) -> None:
    """No call while spent but one probe an hour; webhooks wait; all catches up after."""
    clock = rig.store.clock
    assert isinstance(clock, FakeClock)
    await sync(rig.ctx)
    # Another integration spends the shared key's quota; staff keep editing.
    control(rig.server, "POST", "/quota/reset")
    control(rig.server, "POST", "/limits", json={"daily_quota": 1})
    ce = sorted(rig.server.sandbox.db.course_enrolments.ids())[3]
    control(rig.server, "POST", f"/course-enrolments/{ce}/status", json={"status": "Withdrawn"})
    await enqueue_many(rig.store, [Delivery("CourseEnrolment", ce, None, "Updated", "msg_q")])
    clock.advance(3600)
    with pytest.raises(RateLimitedError):  # at first a 429 reads as the per-second rate
        await sync(rig.ctx)
    clock.advance(61)  # 429s that persist for a minute mean the quota
    report = await sync(rig.ctx)
    assert report.paused == "poll: the day's budget is spent; it continues after the reset"
    assert (await rig.ctx.client.budget.state()).exhausted

    control(rig.server, "POST", "/counters/reset")
    clock.advance(30 * 60)
    waiting = await sync(rig.ctx)
    assert waiting.paused == "poll: Wisenet says the day's quota is spent; probing hourly"
    assert (await drain_inbox(rig.ctx, "test")).paused is not None
    assert sent(rig) == 0  # half an hour on: no call at all
    clock.advance(31 * 60)
    await sync(rig.ctx)
    await sync(rig.ctx)
    assert sent(rig) == 1  # an hour on: one probe, refused, and nothing more
    assert (await rig.ctx.client.budget.state()).exhausted
    assert (await rig.store.inbox.state()).depth == 1  # the delivery is kept

    control(rig.server, "POST", "/limits", json={"daily_quota": 0})  # Wisenet answers again
    clock.advance(3600)
    await sync(rig.ctx)
    assert not (await rig.ctx.client.budget.state()).exhausted
    assert sum((await drain_inbox(rig.ctx, "test")).events.values()) == 1
    assert owned_tags_in_wisenet(rig.server) == expected_tags(rig.server)
