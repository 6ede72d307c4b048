"""Keep the store's course-offer codes current, so the worklist can name each enrolment's course.

Costs nothing while every offer named by a stored enrolment is known; otherwise one listing
(pages of 1,000) from the newest offer listed before, once per run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import tzinfo
from typing import Any

import structlog

from connector.errors import QuotaExhaustedError, WisenetError
from connector.store.course_offers import (
    CourseOfferCodes,
)
from connector.store.store import Store
from connector.wisenet.client import WisenetClient
from connector.wisenet.timestamps import parse_timestamp
from connector.wisenet.wire import CourseOfferData, Item
from jobs.pipeline.read_costs import Strategy, counted

log = structlog.get_logger(__name__)
COURSE_OFFER = "CourseOffer"  # as the read metrics name entities


def codes_of(item: Item[CourseOfferData]) -> CourseOfferCodes:
    """An offer's codes: its own, and its course's from the embedded course."""
    course: Any = (item.relationships or {}).get("Course")
    course_code = course.get("CourseCode") if isinstance(course, dict) else None
    return CourseOfferCodes(
        item.data.course_offer_id,
        item.data.code,
        course_code if isinstance(course_code, str) else None,
        item.data.last_modified_time_stamp,
    )


async def refresh_course_offers(
    store: Store,
    client: WisenetClient,
    zone: tzinfo,
    reads: Counter[tuple[str, str]],
    learner_ids: Collection[int] | None = None,
) -> int:
    """List the offers the store lacks; how many offers the listing returned.

    Only the enrolments of `learner_ids` are looked at when given (those a poll or a drain just
    changed); every stored enrolment otherwise (the weekly reconcile).

    Its requests are counted in `reads` (as `CourseOffer`). A failed listing is logged and left
    for the next run (the codes are only labels); a spent budget is not swallowed.
    """
    missing = await store.course_offers.unknown(learner_ids)
    if not missing:
        return 0
    newest = await store.course_offers.newest_listed()
    since = None if newest is None else parse_timestamp(newest, zone)
    listed: list[CourseOfferCodes] = []
    strategy = Strategy.WHOLE_LISTING if since is None else Strategy.MODIFIED_SINCE
    try:
        with counted(reads, COURSE_OFFER, strategy):
            async for page in client.course_offers(modified_since=since):
                listed.extend(codes_of(item) for item in page)
    except QuotaExhaustedError:
        raise
    except WisenetError as exc:
        log.warning("course_offers.unread", reason=type(exc).__name__, missing=len(missing))
        return 0
    await store.course_offers.save(listed, missing)
    log.info("course_offers.listed", listed=len(listed), missing=len(missing))
    return len(listed)
