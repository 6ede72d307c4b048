"""The sandbox's records: one table per entity, in memory, with the indexes the API needs.

Rows hold only the `Data` fields that are set (dates as `date`, timestamps as naive local
`datetime`); `wire_templates.py` fills the rest with nulls when a record is served. Every table
keeps each record's modification time and an append-only modification log, so "modified since X"
reads a suffix of the log instead of scanning the table.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

Row = dict[str, Any]


class Table:
    """Records of one entity keyed by id, with equality indexes on chosen top-level fields."""

    def __init__(self, entity: str, id_key: str, indexed: Iterable[str] = ()) -> None:
        self.entity = entity
        self.id_key = id_key
        self.rows: dict[int, Row] = {}
        self.modified: dict[int, datetime] = {}
        self.version = 0
        self._indexes: dict[str, dict[Any, set[int]]] = {name: {} for name in indexed}
        self._log: list[tuple[datetime, int]] = []
        self._sorted_ids: list[int] | None = []

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, ident: object) -> bool:
        return ident in self.rows

    def get(self, ident: int) -> Row | None:
        """The row with this id, if any."""
        return self.rows.get(ident)

    def put(self, row: Row, modified: datetime) -> None:
        """Insert or replace a row, stamped `modified` (which must not go back in time)."""
        ident = row[self.id_key]
        old = self.rows.get(ident)
        if old is not None:
            self._unindex(ident, old)
        elif self._sorted_ids is not None:
            if self._sorted_ids and ident < self._sorted_ids[-1]:
                self._sorted_ids = None
            else:
                self._sorted_ids.append(ident)
        self.rows[ident] = row
        self._index(ident, row)
        self.modified[ident] = modified
        if self._log and modified < self._log[-1][0]:
            raise ValueError("modification times must not go back")
        self._log.append((modified, ident))
        self.version += 1

    def delete(self, ident: int) -> Row | None:
        """Remove a row and return it."""
        row = self.rows.pop(ident, None)
        if row is None:
            return None
        self._unindex(ident, row)
        del self.modified[ident]
        self._sorted_ids = None
        self.version += 1
        return row

    def ids(self) -> list[int]:
        """Every id, ascending (the natural order of lists)."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.rows)
        return self._sorted_ids

    def ids_where(self, field: str, value: Any) -> set[int]:
        """Ids whose indexed `field` equals `value`."""
        return self._indexes[field].get(value, set())

    def indexed(self, field: str) -> bool:
        """Whether `field` has an index."""
        return field in self._indexes

    def modified_since(self, moment: datetime) -> Iterator[int]:
        """Ids of records whose current modification time is at or after `moment`."""
        start = bisect_left(self._log, (moment, -1))
        seen: set[int] = set()
        for stamp, ident in self._log[start:]:
            if ident not in seen and self.modified.get(ident) == stamp:
                seen.add(ident)
                yield ident

    def _index(self, ident: int, row: Row) -> None:
        for field, index in self._indexes.items():
            index.setdefault(row.get(field), set()).add(ident)

    def _unindex(self, ident: int, row: Row) -> None:
        for field, index in self._indexes.items():
            index.get(row.get(field), set()).discard(ident)


class Database:
    """Every table, plus id sequences for new records."""

    def __init__(self) -> None:
        self.learners = Table("Learner", "LearnerId")
        self.course_enrolments = Table(
            "CourseEnrolment", "CourseEnrolmentId", ("LearnerId", "CourseOfferId")
        )
        self.unit_enrolments = Table(
            "UnitEnrolment", "UnitEnrolmentId", ("CourseEnrolmentId", "UnitOfferId")
        )
        self.credentials = Table("Credential", "CredentialId", ("CourseEnrolmentId",))
        self.course_offers = Table("CourseOffer", "CourseOfferId", ("CourseId",))
        self.courses = Table("Course", "CourseId")
        self.units = Table("Unit", "UnitId", ("CourseId",))
        self.unit_offers = Table("UnitOffer", "UnitOfferId", ("CourseOfferId",))
        self.checklists = Table("Checklist", "ChecklistId", ("RecordId",))
        self.checklist_items = Table("ChecklistItem", "ChecklistItemId")
        self.tags = Table("Tag", "TagId")
        self.audit_logs = Table("AuditLog", "AuditLogId")
        self.filenotes = Table("Filenote", "FilenoteId")
        self._next_ids: dict[str, int] = {}

    def tables(self) -> list[Table]:
        """Every table."""
        return [value for value in vars(self).values() if isinstance(value, Table)]

    def table(self, entity: str) -> Table:
        """The table of an entity name such as `CourseEnrolment`."""
        for table in self.tables():
            if table.entity == entity:
                return table
        raise KeyError(entity)

    def next_id(self, table: Table, floor: int = 1) -> int:
        """A new id for `table`, above every id it has held."""
        current = self._next_ids.get(table.entity)
        if current is None:
            current = max([floor - 1, *table.rows])
        self._next_ids[table.entity] = current + 1
        return current + 1
