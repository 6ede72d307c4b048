"""Fetching every list the connector reads, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from connector.wisenet.client import WisenetClient
from connector.wisenet.wire import Item


async def full_fetch(client: WisenetClient) -> dict[str, dict[int, Any]]:
    """Every record of every list, by entity name and id."""
    listings: dict[str, AsyncIterator[list[Item[Any]]]] = {
        "Learner": client.learners(),
        "CourseEnrolment": client.course_enrolments(),
        "UnitEnrolment": client.unit_enrolments(),
        "Credential": client.credentials(),
        "CourseOffer": client.course_offers(),
        "Checklist": client.checklists(),
    }
    fetched: dict[str, dict[int, Any]] = {}
    for entity, pages in listings.items():
        fetched[entity] = {item.data.key(): item.data async for page in pages for item in page}
    return fetched
