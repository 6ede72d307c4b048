"""The `Relationships` of each entity, expanded from the current state of related records."""

from __future__ import annotations

from typing import Any

from connector.sandbox.staff import enrolment_staff, offer_staff, person
from connector.sandbox.store import Database, Row
from connector.sandbox.vocabulary import Vocabulary
from connector.sandbox.wire_templates import TAG, merge, nulls, to_wire


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
        **nulls(
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
        **nulls("Location", "DeliveryMode", "FundSourceNational", "Trainer", "Assessor"),
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
        **nulls("CourseOfferStatus", "CourseOfferType", "Location", "DeliveryMode", "Assessor"),
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
