"""The entity registry: each entity the sandbox serves, with its table, filters and keys.

An `Entity` names its table, `Data` template, `Relationships`, modified-time key, query filters,
sortable fields and immutable fields; `serialise` puts one record on the wire as an Item.
The `Data` shapes are in `wire_templates.py`, the `Relationships` in `wire_relationships.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.store import Database, Row, Table
from connector.sandbox.timefmt import format_local
from connector.sandbox.vocabulary import Vocabulary
from connector.sandbox.wire_relationships import (
    checklist_relationships,
    course_enrolment_relationships,
    course_offer_relationships,
    credential_relationships,
    learner_relationships,
    no_relationships,
    unit_enrolment_relationships,
)
from connector.sandbox.wire_templates import (
    AUDIT_LOG,
    CHECKLIST,
    CHECKLIST_ITEM,
    COURSE,
    COURSE_ENROLMENT,
    COURSE_OFFER,
    CREDENTIAL,
    LEARNER,
    TAG,
    UNIT,
    UNIT_ENROLMENT,
    Template,
    merge,
)

Getter = Callable[[Database, Row], Any]


@dataclass(frozen=True)
class Filter:
    """One query filter: its (lower-cased) name, how to read the value from a row, and its kind.

    Kinds: `int`, `str`, `bool` (equality), `timestamp` and `date` (operators allowed),
    `search` (case-insensitive contains over several fields). `index` names the table index an
    equality filter can use.
    """

    name: str
    kind: str
    get: Getter
    index: str | None = None


@dataclass(frozen=True)
class Entity:
    """How one entity is served."""

    name: str
    table: Callable[[Database], Table]
    template: Template
    relationships: Callable[[Database, Vocabulary, Row], dict[str, Any]]
    modified_key: str | None = "LastModifiedTimeStamp"
    filters: tuple[Filter, ...] = ()
    sortable: tuple[str, ...] = ()
    immutable: frozenset[str] = field(default_factory=frozenset)
    writable: bool = False


def _top(key: str) -> Getter:
    return lambda _db, row: row.get(key)


def _personal(*path: str) -> Getter:
    def get(_db: Database, row: Row) -> Any:
        value: Any = row.get("Personal", {})
        for part in path:
            value = (value or {}).get(part)
        return value

    return get


def _modified(table: Callable[[Database], Table], key: str) -> Getter:
    return lambda db, row: table(db).modified.get(row[key])


def _ce_field(key: str) -> Getter:
    return lambda db, row: (db.course_enrolments.get(row["CourseEnrolmentId"]) or {}).get(key)


def _learner_names(db: Database, row: Row) -> list[Any]:
    learner = db.learners.get(row.get("LearnerId", -1)) or {}
    personal = learner.get("Personal", {})
    offer = db.course_offers.get(row.get("CourseOfferId", -1)) or {}
    return [
        personal.get("FirstName"),
        personal.get("LastName"),
        personal.get("LearnerNumber"),
        offer.get("Code"),
    ]


def _learners(db: Database) -> Table:
    return db.learners


def _ces(db: Database) -> Table:
    return db.course_enrolments


def _ues(db: Database) -> Table:
    return db.unit_enrolments


def _offers(db: Database) -> Table:
    return db.course_offers


def _courses(db: Database) -> Table:
    return db.courses


def _units(db: Database) -> Table:
    return db.units


def _checklists(db: Database) -> Table:
    return db.checklists


def _checklist_items(db: Database) -> Table:
    return db.checklist_items


def _credentials(db: Database) -> Table:
    return db.credentials


def _tags(db: Database) -> Table:
    return db.tags


def _audit(db: Database) -> Table:
    return db.audit_logs


LEARNERS = Entity(
    "Learner",
    _learners,
    LEARNER,
    learner_relationships,
    filters=(
        Filter(
            "search",
            "search",
            lambda _db, r: [
                r.get("Personal", {}).get("FirstName"),
                r.get("Personal", {}).get("LastName"),
            ],
        ),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_learners, "LearnerId")),
        Filter("isactivefilter", "bool", _personal("IsActive")),
        Filter("learnernumberfilter", "str", _personal("LearnerNumber")),
        Filter("emailaddressfilter", "str", _personal("EmailAddresses", "Email")),
        Filter("mobilefilter", "str", _personal("PhoneNumbers", "Mobile")),
        Filter("uniquestudentidentifierfilter", "str", _personal("UniqueStudentIdentifier")),
    ),
    immutable=frozenset({"LearnerId", "LearnerGuid", "LastModifiedTimeStamp"}),
    writable=True,
)
COURSE_ENROLMENTS = Entity(
    "CourseEnrolment",
    _ces,
    COURSE_ENROLMENT,
    course_enrolment_relationships,
    filters=(
        Filter("search", "search", _learner_names),
        Filter("learneridfilter", "int", _top("LearnerId"), index="LearnerId"),
        Filter(
            "learnernumberfilter",
            "str",
            lambda db, r: _personal("LearnerNumber")(db, db.learners.get(r["LearnerId"]) or {}),
        ),
        Filter("courseofferidfilter", "int", _top("CourseOfferId"), index="CourseOfferId"),
        Filter("enrolmentstatusidfilter", "int", _top("EnrolmentStatusId")),
        Filter("applicationstatusidfilter", "int", _top("ApplicationStatusId")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_ces, "CourseEnrolmentId")),
    ),
    sortable=("LastModifiedTimeStamp", "EndDate", "EnquiryDate"),
    immutable=frozenset({"CourseEnrolmentId", "LearnerId", "LastModifiedTimeStamp", "CreatedOn"}),
    writable=True,
)
UNIT_ENROLMENTS = Entity(
    "UnitEnrolment",
    _ues,
    UNIT_ENROLMENT,
    unit_enrolment_relationships,
    filters=(
        Filter(
            "courseenrolmentidfilter", "int", _top("CourseEnrolmentId"), index="CourseEnrolmentId"
        ),
        Filter("unitofferidfilter", "int", _top("UnitOfferId"), index="UnitOfferId"),
        Filter("learneridfilter", "int", _ce_field("LearnerId")),
        Filter("enrolmentstatusidfilter", "int", _ce_field("EnrolmentStatusId")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_ues, "UnitEnrolmentId")),
    ),
    immutable=frozenset(
        {"UnitEnrolmentId", "UnitOfferId", "CourseEnrolmentId", "LastModifiedTimeStamp"}
    ),
    writable=True,
)
COURSE_OFFERS = Entity(
    "CourseOffer",
    _offers,
    COURSE_OFFER,
    course_offer_relationships,
    filters=(
        Filter("search", "search", lambda _db, r: [r.get("Code"), r.get("Description")]),
        Filter("publishflagfilter", "bool", _top("PublishFlag")),
        Filter("courseofferstartdatefilter", "date", _top("CourseOfferStartDate")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_offers, "CourseOfferId")),
    ),
)
COURSES = Entity(
    "Course",
    _courses,
    COURSE,
    no_relationships,
    modified_key="LastAuditTimeStamp",
    filters=(
        Filter("search", "search", lambda _db, r: [r.get("CourseCode"), r.get("CourseDesc")]),
        Filter("coursecodefilter", "str", _top("CourseCode")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_courses, "CourseId")),
    ),
)
UNITS = Entity(
    "Unit",
    _units,
    UNIT,
    no_relationships,
    modified_key="LastAuditTimeStamp",
    filters=(
        Filter("search", "search", lambda _db, r: [r.get("UnitCode"), r.get("UnitDesc")]),
        Filter("unitcodefilter", "str", _top("UnitCode")),
        Filter("courseidfilter", "int", _top("CourseId"), index="CourseId"),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_units, "UnitId")),
    ),
)
CHECKLISTS = Entity(
    "Checklist",
    _checklists,
    CHECKLIST,
    checklist_relationships,
    filters=(
        Filter("entitynamefilter", "str", _top("EntityName")),
        Filter("recordidfilter", "int", _top("RecordId"), index="RecordId"),
        Filter("checklistitemidfilter", "int", _top("ChecklistItemId")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_checklists, "ChecklistId")),
    ),
)
CHECKLIST_ITEMS = Entity(
    "ChecklistItem",
    _checklist_items,
    CHECKLIST_ITEM,
    no_relationships,
    filters=(
        Filter("entitynamefilter", "str", _top("EntityName")),
        Filter("typefilter", "str", _top("Type")),
        Filter("descriptionfilter", "str", _top("Description")),
        Filter("isactivefilter", "bool", _top("IsActive")),
        Filter(
            "lastmodifiedtimestampfilter",
            "timestamp",
            _modified(_checklist_items, "ChecklistItemId"),
        ),
    ),
)
CREDENTIALS = Entity(
    "Credential",
    _credentials,
    CREDENTIAL,
    credential_relationships,
    modified_key=None,
    filters=(
        Filter(
            "courseenrolmentidfilter", "int", _top("CourseEnrolmentId"), index="CourseEnrolmentId"
        ),
        Filter("learneridfilter", "int", _ce_field("LearnerId")),
        Filter("credentialstatusidfilter", "int", _top("CredentialStatusId")),
        Filter("credentialidfilter", "int", _top("CredentialId")),
        Filter("credentialnumberfilter", "str", _top("CredentialNumber")),
    ),
)
TAGS = Entity(
    "Tag",
    _tags,
    TAG,
    no_relationships,
    modified_key=None,
    filters=(
        Filter("entitynamefilter", "str", _top("EntityName")),
        Filter("search", "search", lambda _db, r: [r.get("Name")]),
        Filter("archivedflagfilter", "bool", _top("ArchivedFlag")),
    ),
)
AUDIT_LOGS = Entity(
    "AuditLog",
    _audit,
    AUDIT_LOG,
    no_relationships,
    filters=(
        Filter("auditactionfilter", "str", _top("AuditAction")),
        Filter("entitynamefilter", "str", _top("EntityName")),
        Filter("lastmodifiedtimestampfilter", "timestamp", _modified(_audit, "AuditLogId")),
    ),
)


def serialise(entity: Entity, db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:
    """One record as a Wisenet Item."""
    data = merge(entity.template, row)
    if entity.modified_key is not None:
        table = entity.table(db)
        data[entity.modified_key] = format_local(table.modified.get(row[table.id_key]))
    return {"Data": data, "Relationships": entity.relationships(db, vocab, row)}
