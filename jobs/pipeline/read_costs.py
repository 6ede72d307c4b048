"""One cost model for reads: of the ways to read a set of records, the fewest requests.

A set of records of one entity can be read one `GET /{entity}/{id}` each, by a listing
modified since the entity's cursor, by the whole listing in pages (where the store knows its
size: credentials have no modified filter), or by listings filtered by a parent id. Each way's
requests are counted under its name, for the report and the metrics (`reads by strategy`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import structlog

from connector.wisenet.transport import read_tally

log = structlog.get_logger(__name__)


class Strategy(StrEnum):
    """A way to read records."""

    BY_ID = "by_id"
    MODIFIED_SINCE = "modified_since"
    WHOLE_LISTING = "whole_listing"
    BY_PARENT = "by_parent"


@dataclass(frozen=True)
class Choice:
    """The way chosen and the requests it is expected to take."""

    strategy: Strategy
    cost: int


def listing_pages(records: int, page_size: int) -> int:
    """Requests a whole listing of `records` takes: a page that is full asks for the next."""
    return records // page_size + 1


def cheapest(entity: str, **costs: int | None) -> Choice:
    """The cheapest of the ways given (by strategy name; None where a way is not possible).

    On a tie the way given first wins, so callers list the way that reads less data first.
    """
    possible = [(cost, Strategy(name)) for name, cost in costs.items() if cost is not None]
    cost, strategy = min(possible, key=lambda option: option[0])
    log.debug("reads.chosen", entity=entity, strategy=str(strategy), cost=cost, options=costs)
    return Choice(strategy, cost)


@contextmanager
def counted(reads: Counter[tuple[str, str]], entity: str, strategy: Strategy) -> Iterator[None]:
    """Count the GET requests this task sends inside the block under `(entity, strategy)`.

    Only this task's (and the tasks it starts there): the writer's lanes count at once without
    counting each other's reads. An inner block counts its own reads, not the outer one.
    """
    tally = [0]
    token = read_tally.set(tally)
    try:
        yield
    finally:
        read_tally.reset(token)
        if tally[0]:
            reads[(entity, str(strategy))] += tally[0]
