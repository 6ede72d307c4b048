"""What each entity looks like on the wire: the full `Data` shape, Relationships, and filters.

Rows in the store hold only the fields that are set; `serialise` merges them onto the entity's
template so every property is present (unset ones as null), formats dates and timestamps as
Wisenet does, and expands `Relationships` from the current state of related records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connector.sandbox.staff import enrolment_staff, offer_staff, person
from connector.sandbox.store import Database, Row, Table
from connector.sandbox.timefmt import format_date, format_local
from connector.sandbox.vocabulary import Vocabulary

Template = dict[str, Any]


def _nulls(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names)


LEARNER: Template = {
    **_nulls("LearnerId", "LearnerGuid", "LastModifiedTimeStamp"),
    "Personal": {
        **_nulls(
            "IsActive",
            "Title",
            "FirstName",
            "MiddleName",
            "LastName",
            "PreferredNamed",
            "DateOfBirth",
            "GenderId",
            "UniqueStudentIdentifier",
            "UsiStatus",
            "UsiStatusReason",
            "UsiStatusLastModifiedTimestamp",
            "LearnerNumber",
            "SurveyStatusId",
        ),
        "PhoneNumbers": _nulls("PhoneHome", "PhoneWork", "Mobile"),
        "EmailAddresses": _nulls("Email", "AlternativeEmail"),
        "StreetAddress": _nulls(
            "UnitDetails",
            "StreetNumber",
            "StreetName",
            "SuburbTownCity",
            "StateId",
            "Postcode",
            "CountryId",
            "StreetAddress",
        ),
        "PostalAddress": None,
        "GeneralNotes": None,
    },
    "Demographics": {
        **_nulls(
            "EmploymentStatusId",
            "IsStillAtSchool",
            "HighestSchoolLevelCompletedId",
            "CountryOfBirthId",
            "PrimaryLanguageId",
            "SpokenEnglishProficiencyId",
            "IndigenousStatusId",
            "DisabilityFlagId",
            "HasPriorEducationalAchievementId",
        ),
        "Disabilities": [],
        "PriorEducationAchievements": [],
    },
    "International": None,
    "NextOfKin": None,
    "LearnerAccess": _nulls(
        "Username", "AccessEnabledLearnerApp", "AccessEnabledElearning", "AccessExpiryDate"
    ),
}
COURSE_ENROLMENT: Template = {
    **_nulls(
        "CourseEnrolmentId",
        "LearnerId",
        "CourseOfferId",
        "StudentNumber",
        "OpportunityId",
        "EnrolmentStatusId",
        "EnrolmentStatusReasonId",
        "ApplicationStatusId",
        "ApplicationStatusReasonId",
        "ApplicationExpiryDate",
        "StudyModeId",
        "EnquiryDate",
        "EnrolmentDate",
        "StartDate",
        "EndDate",
        "ActualEndDate",
        "ExpectedAwardDate",
        "QualificationIssuedFlag",
        "QualificationIssuedDate",
        "ParchmentNumber",
        "TrainingPlanIssuedFlag",
        "TrainingPlanSignDate",
        "LlnFlag",
        "ForAvetmissFlag",
        "CommencingCourseId",
        "AvStudyReasonId",
    ),
    "TagIds": [],
    **_nulls("CreatedOn", "LastModifiedTimeStamp"),
}
UNIT_ENROLMENT: Template = _nulls(
    "UnitEnrolmentId",
    "UnitOfferId",
    "CourseEnrolmentId",
    "TrainerId",
    "AssessorId",
    "LocationId",
    "StartDate",
    "EndDate",
    "ActualEndDate",
    "ProposedStartDate",
    "ProposedEndDate",
    "OutcomeId",
    "ResultId",
    "FinalScore",
    "ActualHours",
    "HoursSupervised",
    "HoursUnsupervised",
    "ForGovtReportingFlag",
    "DeliveryModeId",
    "PredominantDeliveryModeId",
    "FundSourceNationalId",
    "IsLockedFlag",
    "Notes",
    "LastModifiedTimeStamp",
)
CREDENTIAL: Template = _nulls(
    "CredentialId",
    "CourseEnrolmentId",
    "CredentialStatusId",
    "CredentialNumber",
    "CredentialDate",
    "StatusChangeDate",
    "CredentialStatusNotes",
    "IssuingOfficerId",
    "qReportNumber",
    "qReportName",
    "uReportTemplateId",
    "ExportDate",
    "ExportNumber",
    "DocumentId",
)
COURSE_OFFER: Template = _nulls(
    "CourseOfferId",
    "CourseId",
    "Code",
    "Description",
    "CourseOfferStatusId",
    "CourseOfferStartDate",
    "CourseOfferEndDate",
    "ExpectedAwardDate",
    "PublishFlag",
    "AcceptEnrolmentsFlag",
    "StudyModeId",
    "LocationId",
    "DeliveryModeId",
    "FundSourceNationalId",
    "ForGovtReportingFlag",
    "LastModifiedTimeStamp",
)
COURSE: Template = _nulls(
    "CourseId", "CourseCode", "CourseDesc", "NominalHours", "VetFlag", "LastAuditTimeStamp"
)
UNIT: Template = _nulls(
    "UnitId", "CourseId", "UnitCode", "UnitDesc", "VetFlag", "LastAuditTimeStamp"
)
CHECKLIST: Template = _nulls(
    "ChecklistId",
    "ChecklistItemId",
    "EntityName",
    "RecordId",
    "DateDue",
    "DateCompleted",
    "CompletedFlag",
    "StaffName",
    "Notes",
    "LastModifiedTimeStamp",
)
CHECKLIST_ITEM: Template = _nulls(
    "ChecklistItemId", "EntityName", "Type", "Description", "IsActive", "LastModifiedTimeStamp"
)
TAG: Template = _nulls("TagId", "Name", "EntityName", "ArchivedFlag")
AUDIT_LOG: Template = _nulls(
    "AuditLogId", "RecordId", "EntityName", "AuditAction", "LastModifiedTimeStamp"
)
FILENOTE: Template = _nulls(
    "FilenoteId", "RecordId", "EntityName", "Name", "Description", "LearnerVisibility"
)


def to_wire(value: Any) -> Any:
    """Format dates and timestamps the Wisenet way, recursively."""
    if isinstance(value, datetime):
        return format_local(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, dict):
        return {key: to_wire(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [to_wire(inner) for inner in value]
    return value


def merge(template: Template, row: Row) -> dict[str, Any]:
    """The row over its template: every property present, nested groups merged too."""
    out: dict[str, Any] = {}
    for key, default in template.items():
        if key not in row:
            out[key] = to_wire(default) if not isinstance(default, list) else []
            continue
        value = row[key]
        if isinstance(default, dict) and isinstance(value, dict):
            out[key] = merge(default, value)
        else:
            out[key] = to_wire(value)
    return out


# --- Relationships --------------------------------------------------------------------------


def learner_basic(db: Database, learner_id: int | None) -> dict[str, Any] | None:
    """LearnerBasic, as embedded in enrolments and credentials."""
    row = db.learners.get(learner_id) if learner_id is not None else None
    if row is None:
        return None
    personal = row.get("Personal", {})
    basic: dict[str, Any] = to_wire(
        {
            "LearnerId": learner_id,
            "FirstName": personal.get("FirstName"),
            "InformalName": personal.get("PreferredNamed"),
            "LastName": personal.get("LastName"),
            "LearnerNumber": personal.get("LearnerNumber"),
            "Email": (personal.get("EmailAddresses") or {}).get("Email"),
            "DateOfBirth": personal.get("DateOfBirth"),
            "IsActive": personal.get("IsActive"),
            "UniqueStudentIdentifier": personal.get("UniqueStudentIdentifier"),
            "Username": (row.get("LearnerAccess") or {}).get("Username"),
            "Mobile": (personal.get("PhoneNumbers") or {}).get("Mobile"),
        }
    )
    return basic


def course_offer_basic(db: Database, offer_id: int | None) -> dict[str, Any] | None:
    """A course offer as embedded in other records."""
    row = db.course_offers.get(offer_id) if offer_id is not None else None
    if row is None:
        return None
    offer: dict[str, Any] = to_wire(
        {
            "CourseOfferId": offer_id,
            "Code": row.get("Code"),
            "CourseId": row.get("CourseId"),
            "Description": row.get("Description"),
            "CourseOfferStartDate": row.get("CourseOfferStartDate"),
            "CourseOfferEndDate": row.get("CourseOfferEndDate"),
        }
    )
    return offer


def _status(vocab: Vocabulary, combo: str, key: str, ident: int | None) -> dict[str, Any] | None:
    entry = vocab.entry(combo, ident)
    return None if entry is None else {key: entry.id, "Description": entry.description}


def learner_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:  # noqa: ARG001
    """Lookups of a learner."""
    personal = row.get("Personal", {})
    demo = row.get("Demographics", {})
    address = personal.get("StreetAddress") or {}
    state = vocab.entry("states", address.get("StateId"))
    country = vocab.entry("countries", address.get("CountryId"))
    return {
        "Gender": vocab.lookup("genders", personal.get("GenderId")),
        "SurveyStatus": vocab.lookup("survey-statuses", personal.get("SurveyStatusId")),
        "EmploymentStatus": vocab.lookup("employment-statuses", demo.get("EmploymentStatusId")),
        "HighestSchoolLevelCompleted": vocab.lookup(
            "highest-school-level-completed", demo.get("HighestSchoolLevelCompletedId")
        ),
        "IndigenousStatus": vocab.lookup("indigenous-statuses", demo.get("IndigenousStatusId")),
        "DisabilityFlag": vocab.lookup("disability-flags", demo.get("DisabilityFlagId")),
        "PrimaryLanguage": vocab.lookup("languages", demo.get("PrimaryLanguageId")),
        "States": []
        if state is None
        else [
            {
                "StateId": state.id,
                "Code": state.code,
                "ShortDescription": state.description,
                "LongDescription": state.description,
            }
        ],
        "Countries": []
        if country is None
        else [
            {
                "CountryId": country.id,
                "Code": country.code,
                "Description": country.description,
            }
        ],
    }


def course_enrolment_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:
    """Status lookups, the learner, the offer, its staff and the tags of a course enrolment."""
    tags = [db.tags.get(ref["TagId"]) for ref in row.get("TagIds", [])]
    offer_id = row.get("CourseOfferId")
    offer = db.course_offers.get(offer_id) if offer_id is not None else None
    trainer, coordinator = enrolment_staff(row, offer)
    return {
        "EnrolmentStatus": _status(
            vocab, "enrolment-statuses", "EnrolmentStatusId", row.get("EnrolmentStatusId")
        ),
        "EnrolmentStatusReason": vocab.lookup(
            "enrolment-status-reasons", row.get("EnrolmentStatusReasonId")
        ),
        "ApplicationStatus": _status(
            vocab, "application-statuses", "ApplicationStatusId", row.get("ApplicationStatusId")
        ),
        "ApplicationStatusReason": vocab.lookup(
            "application-status-reasons", row.get("ApplicationStatusReasonId")
        ),
        "StudyMode": vocab.lookup("study-modes", row.get("StudyModeId")),
        "Learner": learner_basic(db, row.get("LearnerId")),
        "CourseOffer": course_offer_basic(db, row.get("CourseOfferId")),
        "Tags": [merge(TAG, tag) for tag in tags if tag is not None],
        "CommencingCourse": vocab.lookup("commencing-courses", row.get("CommencingCourseId")),
        "Trainer": person("Trainer", trainer),
        "Coordinator": person("Coordinator", coordinator),
        **_nulls(
            "Assessor",
            "AvStudyReason",
            "Opportunity",
            "SalesContact",
            "Promotion",
        ),
    }


def unit_enrolment_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:
    """The unit, its offer, the parent enrolment, the learner and the outcome."""
    offer = db.unit_offers.get(row.get("UnitOfferId", -1)) or {}
    unit = db.units.get(offer.get("UnitId", -1)) or {}
    ce = db.course_enrolments.get(row.get("CourseEnrolmentId", -1)) or {}
    status = vocab.entry("enrolment-statuses", ce.get("EnrolmentStatusId"))
    outcome = vocab.entry("outcomes", row.get("OutcomeId"))
    return {
        "Unit": to_wire(
            {
                "UnitId": unit.get("UnitId"),
                "CourseId": unit.get("CourseId"),
                "Code": unit.get("UnitCode"),
                "Description": unit.get("UnitDesc"),
            }
        )
        if unit
        else None,
        "UnitOffer": to_wire({**offer, "AutoGradeRuleId": None}) if offer else None,
        "CourseEnrolment": to_wire(
            {
                "CourseEnrolmentId": ce.get("CourseEnrolmentId"),
                "LearnerId": ce.get("LearnerId"),
                "CourseOfferId": ce.get("CourseOfferId"),
                "StartDate": ce.get("StartDate"),
                "EndDate": ce.get("EndDate"),
                "ActualEndDate": ce.get("ActualEndDate"),
                "EnrolmentStatusId": ce.get("EnrolmentStatusId"),
                "EnrolmentStatusDescription": status.description if status else None,
            }
        )
        if ce
        else None,
        "Learner": learner_basic(db, ce.get("LearnerId")),
        "CourseOffer": course_offer_basic(db, offer.get("CourseOfferId")),
        "Outcome": None
        if outcome is None
        else {
            "OutcomeId": outcome.id,
            "Code": outcome.code,
            "Description": outcome.description,
            "Delimiters": None,
        },
        "Result": vocab.lookup("results", row.get("ResultId")),
        **_nulls("Location", "DeliveryMode", "FundSourceNational", "Trainer", "Assessor"),
    }


def credential_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:
    """The credential's status, enrolment and learner."""
    ce = db.course_enrolments.get(row.get("CourseEnrolmentId", -1)) or {}
    return {
        "CredentialStatus": _status(
            vocab, "credential-statuses", "CredentialStatusId", row.get("CredentialStatusId")
        ),
        "CourseEnrolment": {
            "CourseEnrolmentId": ce.get("CourseEnrolmentId"),
            "LearnerId": ce.get("LearnerId"),
        }
        if ce
        else None,
        "Learner": learner_basic(db, ce.get("LearnerId")),
        "CourseOffer": course_offer_basic(db, ce.get("CourseOfferId")),
        "Document": None,
    }


def course_offer_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:  # noqa: ARG001
    """The offer's course, trainer and coordinator."""
    course = db.courses.get(row.get("CourseId", -1))
    trainer, coordinator = offer_staff(row)
    return {
        "Course": None
        if course is None
        else {
            "CourseId": course["CourseId"],
            "CourseCode": course.get("CourseCode"),
            "CourseDesc": course.get("CourseDesc"),
        },
        "Trainer": person("Trainer", trainer),
        "Coordinator": person("Coordinator", coordinator),
        **_nulls("CourseOfferStatus", "CourseOfferType", "Location", "DeliveryMode", "Assessor"),
    }


def checklist_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:  # noqa: ARG001
    """The checklist's template item."""
    item = db.checklist_items.get(row.get("ChecklistItemId", -1))
    return {
        "ChecklistItem": None
        if item is None
        else {
            "ChecklistItemId": item["ChecklistItemId"],
            "Type": item.get("Type"),
            "Description": item.get("Description"),
            "IsActive": item.get("IsActive"),
        }
    }


def no_relationships(db: Database, vocab: Vocabulary, row: Row) -> dict[str, Any]:  # noqa: ARG001
    """Records whose Relationships are `{}`."""
    return {}


# --- endpoint definitions -------------------------------------------------------------------

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
