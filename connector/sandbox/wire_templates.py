"""The full `Data` shape of each entity as Wisenet returns it, and how rows are put on the wire.

Rows in the store hold only the fields that are set; `merge` lays a row over its entity's
template so every property is present (unset ones as null), and `to_wire` formats dates and
timestamps as Wisenet does.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from connector.sandbox.store import Row
from connector.sandbox.timefmt import format_date, format_local

Template = dict[str, Any]


def nulls(*names: str) -> dict[str, Any]:
    """Properties that are null unless a row sets them."""
    return dict.fromkeys(names)


LEARNER: Template = {
    **nulls("LearnerId", "LearnerGuid", "LastModifiedTimeStamp"),
    "Personal": {
        **nulls(
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
        "PhoneNumbers": nulls("PhoneHome", "PhoneWork", "Mobile"),
        "EmailAddresses": nulls("Email", "AlternativeEmail"),
        "StreetAddress": nulls(
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
        **nulls(
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
    "LearnerAccess": nulls(
        "Username", "AccessEnabledLearnerApp", "AccessEnabledElearning", "AccessExpiryDate"
    ),
}
COURSE_ENROLMENT: Template = {
    **nulls(
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
    **nulls("CreatedOn", "LastModifiedTimeStamp"),
}
UNIT_ENROLMENT: Template = nulls(
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
CREDENTIAL: Template = nulls(
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
COURSE_OFFER: Template = nulls(
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
COURSE: Template = nulls(
    "CourseId", "CourseCode", "CourseDesc", "NominalHours", "VetFlag", "LastAuditTimeStamp"
)
UNIT: Template = nulls(
    "UnitId", "CourseId", "UnitCode", "UnitDesc", "VetFlag", "LastAuditTimeStamp"
)
CHECKLIST: Template = nulls(
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
CHECKLIST_ITEM: Template = nulls(
    "ChecklistItemId", "EntityName", "Type", "Description", "IsActive", "LastModifiedTimeStamp"
)
TAG: Template = nulls("TagId", "Name", "EntityName", "ArchivedFlag")
AUDIT_LOG: Template = nulls(
    "AuditLogId", "RecordId", "EntityName", "AuditAction", "LastModifiedTimeStamp"
)
FILENOTE: Template = nulls(
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
