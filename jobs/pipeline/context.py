"""What a run works with and what it reports: the contexts, the report, a planned write.

`DecisionContext` is what deciding needs (store, mapping, the account's day); `SyncContext` adds
the client and what this process has learned that outlives one run (when listings were last
read whole, the tag definitions, the echoes expected of its own PATCHes). Everything one run
learns as it goes is in its `SyncReport`, made afresh for each run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from connector.bundles import Labels
from connector.store.locks import worker_id
from connector.store.outbox import BlockedWrites, PendingWrite
from connector.store.store import Store
from connector.wisenet.client import WisenetClient
from jobs.pipeline.echoes import ExpectedEchoes
from jobs.pipeline.write_outcomes import FIXES, FailureGroup
from mappings.compiler import CompiledMapping
from mappings.plan import Ownership

PageProgress = Callable[[str, int], None]  # entity, records read so far in this listing
PhaseProgress = Callable[[int, int], None]  # done so far in this run, of how many


class PlannedWrite(NamedTuple):
    """A write a dry run plans: the owned tags to add to and remove from one enrolment.

    `blocked` names the refused tag when a real run would block the write instead of sending
    it, and `fix` says what releases it.
    """

    learner_id: int
    course_enrolment_id: int
    add: list[str]
    remove: list[str]
    blocked: str | None = None
    fix: str | None = None

    @classmethod
    def of(
        cls, write: PendingWrite | PlannedWrite, blocked: str | None = None, fix: str | None = None
    ) -> PlannedWrite:
        """The plan of an outbox row (or a planned write), blocked by `blocked` if given."""
        return cls(
            write.learner_id,
            write.course_enrolment_id,
            sorted(write.add),
            sorted(write.remove),
            blocked,
            fix,
        )


@dataclass
class SyncReport:
    """What one sync did."""

    records_changed: int = 0
    learners_evaluated: int = 0
    stage_changes: int = 0  # a stored stage that moved to another (learners and enrolments)
    first_placements: int = 0  # a first stage, where none was stored
    learner_placements: Counter[str] = field(default_factory=Counter)  # by the first stage
    learner_changes: Counter[str] = field(default_factory=Counter)  # by the stage moved to
    writes_planned: int = 0
    writes_done: int = 0
    writes_skipped: int = 0
    writes_failed: int = 0
    writes_blocked: int = 0  # queued but held by a refused tag when the run ended
    deleted: int = 0
    paused: str | None = None
    plan: list[PlannedWrite] | None = None  # a dry run's writes (None when not a dry run)
    failures: Counter[str] = field(default_factory=Counter)  # failed writes by reason key
    blocked: dict[str, BlockedWrites] = field(default_factory=dict)  # by tag, at the run's end
    newly_blocked: int = 0  # writes this run found blocked (each left the due list)
    reads: Counter[tuple[str, str]] = field(default_factory=Counter)  # by entity and strategy
    # What the run read, kept only when its caller asks for it by setting an empty dict:
    listed_whole: dict[str, set[int]] | None = None  # ids of each listing read whole (reconcile)
    changed_ids: dict[str, set[int]] | None = None  # ids each poll found changed (the service)

    @property
    def writes_handled(self) -> int:
        """Writes that left the outbox's due list: done, skipped, failed or blocked."""
        return self.writes_done + self.writes_skipped + self.writes_failed + self.newly_blocked

    def failure_groups(self) -> list[FailureGroup]:
        """Blocked writes by tag, then failed writes by reason, each with its fix."""
        groups = [
            FailureGroup(f"blocked:{tag}", group.writes, group.reason)
            for tag, group in sorted(self.blocked.items())
        ]
        groups += [FailureGroup(key, n, FIXES[key]) for key, n in sorted(self.failures.items())]
        return groups

    def fail(self, key: str) -> None:
        """Count one failed write under its reason key."""
        self.writes_failed += 1
        self.failures[key] += 1


@dataclass(kw_only=True)
class DecisionContext:
    """What deciding needs: the store, the active mapping and the account's day (no client)."""

    store: Store
    mapping: CompiledMapping
    mapping_version: int
    account_tz: tzinfo
    as_of: date | None = None
    on_decided: PhaseProgress | None = None  # learners decided, of those to decide

    def today(self) -> date:
        """The account's calendar date (or the `--as-of` date)."""
        if self.as_of is not None:
            return self.as_of
        return self.store.clock.now().astimezone(self.account_tz).date()

    @property
    def ownership(self) -> Ownership:
        """The tags this mapping owns and retires."""
        tags = self.mapping.spec.tags
        return Ownership(frozenset(t.name for t in tags.owned), frozenset(tags.retired))


@dataclass(kw_only=True)
class SyncContext(DecisionContext):
    """What a sync needs besides: the client and how it polls and writes."""

    client: WisenetClient
    overlap: timedelta
    # Decide and queue, send nothing: the due writes become the report's plan. The commands'
    # dry runs set it on a private copy of the store (`connector.store.shadow`).
    dry_run: bool = False
    max_snapshot_age: timedelta = timedelta(minutes=10)
    labels: Labels | None = None
    on_page: PageProgress | None = None
    on_written: PhaseProgress | None = None  # writes handled, of those queued
    # When the last complete course-enrolment listing began: every stored enrolment snapshot is
    # at least that current (one changed since would have been listed and stored again).
    enrolments_verified_at: datetime | None = None
    # When the last whole credential listing began: every stored credential is that current.
    credentials_verified_at: datetime | None = None
    tags_read_at: datetime | None = None  # when this process last read the tag definitions
    echoes: ExpectedEchoes = field(default_factory=ExpectedEchoes)  # our PATCHes' deliveries
    worker: str = field(default_factory=worker_id)  # holds the outbox leases this context takes
