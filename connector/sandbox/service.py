"""The sandbox's state and its one write path.

Every change, whether an API PATCH, a staff edit through the control API or a delete, goes
through `Sandbox.write`/`Sandbox.delete`: the record gets a new, strictly later
`LastModifiedTimeStamp`, an audit-log entry (`I`, `U`, `D`) is written and a webhook is queued.
Records generated at start-up are history: they have no audit entries.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from connector.sandbox.cases import PlantedCase
from connector.sandbox.clock import SandboxClock
from connector.sandbox.entities import (
    AUDIT_LOGS,
    CHECKLIST_ITEMS,
    CHECKLISTS,
    COURSE_ENROLMENTS,
    COURSE_OFFERS,
    COURSES,
    CREDENTIALS,
    LEARNERS,
    TAGS,
    UNIT_ENROLMENTS,
    UNITS,
    Entity,
    serialise,
)
from connector.sandbox.faults import Faults
from connector.sandbox.generator import GeneratorConfig, generate
from connector.sandbox.limits import Counters, Limits, PatchLog
from connector.sandbox.query import ListingCache
from connector.sandbox.store import Database, Row
from connector.sandbox.vocabulary import Vocabulary
from connector.sandbox.webhooks import WebhookEmitter

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        LEARNERS,
        COURSE_ENROLMENTS,
        UNIT_ENROLMENTS,
        COURSE_OFFERS,
        COURSES,
        UNITS,
        CHECKLISTS,
        CHECKLIST_ITEMS,
        CREDENTIALS,
        TAGS,
        AUDIT_LOGS,
    )
}


class SandboxError(Exception):
    """A request the sandbox refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class SandboxConfig:
    """How the sandbox behaves where Wisenet's behaviour is unknown (wisenet-api.md §8.2)."""

    learners: int = 300
    seed: int = 1
    today: date | None = None
    timezone: str = "Australia/Sydney"
    api_keys: frozenset[str] = frozenset({"sandbox-key"})
    rate_limit: int = 10
    daily_quota: int = 1000
    retry_after: bool = False
    auth_failure_status: int = 401
    inactive_write_status: int = 400
    list_separator: str = ","
    shuffle_combos: bool = False
    frozen_clock: bool = False
    account_number: str = "SANDBOX01"
    holidays: str = "AU"  # the public holidays planted business-day cases count around
    rate_body: dict[str, str] = field(default_factory=lambda: {"message": "Too Many Requests"})
    quota_body: dict[str, str] = field(default_factory=lambda: {"message": "Limit Exceeded"})


class Sandbox:
    """The fake Wisenet account: data, limits, faults, counters, clock and webhooks."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        tz = ZoneInfo(config.timezone)
        today = config.today or datetime.now(tz).date()
        self.clock = SandboxClock(
            datetime.combine(today, time(9, 0), tzinfo=tz), tz, frozen=config.frozen_clock
        )
        self.vocab = Vocabulary(shuffle=config.shuffle_combos, seed=config.seed)
        self.db = Database()
        self.cases: list[PlantedCase]
        self.cases, last_stamp = generate(
            self.db,
            self.vocab,
            GeneratorConfig(config.learners, config.seed, today, config.holidays),
        )
        self.clock.observe(last_stamp)
        self.limits = Limits(config.rate_limit, config.daily_quota, config.retry_after)
        self.counters = Counters()
        self.patches = PatchLog()
        self.faults = Faults(rng=random.Random(f"faults:{config.seed}"))
        self.webhooks = WebhookEmitter(rng=random.Random(f"webhooks:{config.seed}"))
        self.webhooks.config.account_number = config.account_number
        self.listings = ListingCache()
        # Staff edits to land just before the next PATCHes of a record, in order (one each).
        self.before_patch: dict[tuple[str, int], list[Callable[[Row], None]]] = {}

    # --- reads ------------------------------------------------------------------------------

    def item(self, entity: Entity, row: Row) -> dict[str, Any]:
        """One record as an Item."""
        return serialise(entity, self.db, self.vocab, row)

    def learner_of(self, entity: Entity, row: Row) -> Row | None:
        """The learner a learner, enrolment or unit enrolment belongs to."""
        if entity is LEARNERS:
            return row
        if entity is UNIT_ENROLMENTS:
            row = self.db.course_enrolments.get(row["CourseEnrolmentId"]) or {}
        return self.db.learners.get(row.get("LearnerId", -1))

    # --- writes -----------------------------------------------------------------------------

    def write(self, entity: Entity, ident: int, change: Callable[[Row], None]) -> Row:
        """Apply `change` to a copy of a record, then store it as a new version."""
        table = entity.table(self.db)
        current = table.get(ident)
        if current is None:
            raise SandboxError(404, f"{entity.name} not found")
        row = copy.deepcopy(current)
        change(row)
        stamp = self.clock.stamp()
        table.put(row, stamp)
        self._audit(entity.name, ident, "U", stamp)
        self.webhooks.emit(entity.name, ident, self._guid(row), "Updated")
        return row

    def stage_before_patch(self, entity: Entity, ident: int, change: Callable[[Row], None]) -> int:
        """Queue a staff edit to land just before the next PATCH of a record; return the queue.

        Each PATCH of the record first applies one queued edit, as its own change (stamp, audit
        entry, webhook), as when staff save in the moment between a client's read and its write.
        """
        if entity.table(self.db).get(ident) is None:
            raise SandboxError(404, f"{entity.name} not found")
        queued = self.before_patch.setdefault((entity.name, ident), [])
        queued.append(change)
        return len(queued)

    def land_staged_edit(self, entity: Entity, ident: int) -> None:
        """Apply the next staff edit queued for just before a PATCH of this record, if any."""
        queued = self.before_patch.get((entity.name, ident))
        if queued:
            self.write(entity, ident, queued.pop(0))

    def create(self, entity: Entity, row: Row) -> Row:
        """Store a new record."""
        table = entity.table(self.db)
        if table.id_key not in row:
            row[table.id_key] = self.db.next_id(table)
        stamp = self.clock.stamp()
        table.put(row, stamp)
        self._audit(entity.name, row[table.id_key], "I", stamp)
        self.webhooks.emit(entity.name, row[table.id_key], self._guid(row), "Created")
        return row

    def delete(self, entity: Entity, ident: int) -> list[tuple[str, int]]:
        """Delete a record (a learner takes their enrolments, units, credentials, checklists)."""
        table = entity.table(self.db)
        if ident not in table:
            raise SandboxError(404, f"{entity.name} not found")
        removed: list[tuple[str, int]] = []
        if entity is LEARNERS:
            for ce_id in sorted(self.db.course_enrolments.ids_where("LearnerId", ident)):
                removed += self.delete(COURSE_ENROLMENTS, ce_id)
            for checklist_id in self._checklists_of("Learner", ident):
                removed += self.delete(CHECKLISTS, checklist_id)
        if entity is COURSE_ENROLMENTS:
            for ue_id in sorted(self.db.unit_enrolments.ids_where("CourseEnrolmentId", ident)):
                removed += self.delete(UNIT_ENROLMENTS, ue_id)
            for credential_id in sorted(self.db.credentials.ids_where("CourseEnrolmentId", ident)):
                removed += self.delete(CREDENTIALS, credential_id)
            for checklist_id in self._checklists_of("CourseEnrolment", ident):
                removed += self.delete(CHECKLISTS, checklist_id)
        row = table.delete(ident)
        assert row is not None  # noqa: S101 - checked above
        self._audit(entity.name, ident, "D", self.clock.stamp())
        self.webhooks.emit(entity.name, ident, self._guid(row), "Deleted")
        return [*removed, (entity.name, ident)]

    def _checklists_of(self, entity_name: str, record_id: int) -> list[int]:
        return sorted(
            c
            for c in self.db.checklists.ids_where("RecordId", record_id)
            if (self.db.checklists.get(c) or {}).get("EntityName") == entity_name
        )

    def _audit(self, entity_name: str, record_id: int, action: str, stamp: datetime) -> None:
        table = self.db.audit_logs
        table.put(
            {
                "AuditLogId": self.db.next_id(table, 500000),
                "RecordId": record_id,
                "EntityName": entity_name,
                "AuditAction": action,
            },
            stamp,
        )

    @staticmethod
    def _guid(row: Row) -> str | None:
        guid = row.get("LearnerGuid")
        return guid if isinstance(guid, str) else None

    def trigger(self, entity: Entity, ident: int) -> None:
        """Emit a `Triggered` event, as a Learncycle automation rule would."""
        row = entity.table(self.db).get(ident)
        if row is None:
            raise SandboxError(404, f"{entity.name} not found")
        self.webhooks.emit(entity.name, ident, self._guid(row), "Triggered")

    def utc_now(self) -> datetime:
        """The sandbox's current instant in UTC."""
        return self.clock.now().astimezone(UTC)
