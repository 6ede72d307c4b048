"""The field catalogue: every field a rule may read, per subject kind.

Rules name fields by these names (`status`, `end_date`, `address.state`, …). Each field has a
kind that decides which operators apply:

- `text`: equals, one_of, in_set, matches, exists (compared trimmed and case-insensitively,
  except `matches`, which is a regular expression over the trimmed text);
- `date`: before, on_or_before, after, on_or_after, exists;
- `bool`: is, exists;
- `int`: equals, one_of, exists;
- `presence`: exists only (the value itself is personal and is not kept).

`personal` fields may be tested but never appear in a reason text. Personal values are never
fields: the store keeps facts of them (presence; for the USI, presence, well-formedness and the
exemption code), so no rule can match a pattern against a USI, a name or an address.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any


class Subject(StrEnum):
    """What a rule is about."""

    LEARNER = "learner"
    COURSE_ENROLMENT = "course_enrolment"
    UNIT_ENROLMENT = "unit_enrolment"
    CREDENTIAL = "credential"
    CHECKLIST = "checklist"


class FieldKind(StrEnum):
    """Kinds of field, deciding which operators apply."""

    TEXT = "text"
    DATE = "date"
    BOOL = "bool"
    INT = "int"
    PRESENCE = "presence"


@dataclass(frozen=True)
class FieldSpec:
    """One readable field."""

    name: str
    kind: FieldKind
    get: Callable[[Any], Any]
    description: str
    personal: bool = False


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """The form names are compared in: whitespace folded, case ignored (few distinct values)."""
    return " ".join(text.split()).casefold()


def _present(flag: bool) -> bool | None:
    """Presence fields read True when present and None when missing."""
    return True if flag else None


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


T, D, B, N, P = FieldKind.TEXT, FieldKind.DATE, FieldKind.BOOL, FieldKind.INT, FieldKind.PRESENCE


LEARNER_FIELDS = _fields(
    FieldSpec("id", N, lambda r: r.id, "LearnerId"),
    FieldSpec("is_active", B, lambda r: r.is_active, "Personal.IsActive"),
    FieldSpec(
        "usi",
        P,
        lambda r: _present(r.has_usi),
        "Personal.UniqueStudentIdentifier (presence only: any value given)",
        personal=True,
    ),
    FieldSpec(
        "usi_well_formed",
        B,
        lambda r: r.usi_well_formed,
        "Personal.UniqueStudentIdentifier, trimmed and upper-cased, is 10 characters of digits "
        "2-9 and letters other than I and O",
    ),
    FieldSpec(
        "usi_exemption",
        T,
        lambda r: r.usi_exemption,
        "Personal.UniqueStudentIdentifier as an exemption code (INTOFF, SHORT or INDIV), "
        "else empty",
    ),
    FieldSpec("usi_status", T, lambda r: r.usi_status, "Personal.UsiStatus"),
    FieldSpec(
        "date_of_birth",
        P,
        lambda r: _present(r.has_date_of_birth),
        "Personal.DateOfBirth (presence only)",
        personal=True,
    ),
    FieldSpec("gender", P, lambda r: _present(r.has_gender), "Personal.GenderId (presence only)"),
    FieldSpec(
        "email",
        P,
        lambda r: _present(r.has_email),
        "Personal.EmailAddresses.Email (presence only)",
        personal=True,
    ),
    FieldSpec(
        "mobile",
        P,
        lambda r: _present(r.has_mobile),
        "Personal.PhoneNumbers.Mobile (presence only)",
        personal=True,
    ),
    FieldSpec(
        "address.suburb",
        P,
        lambda r: _present(r.address.has_suburb),
        "StreetAddress.SuburbTownCity (presence only)",
        personal=True,
    ),
    FieldSpec(
        "address.postcode",
        P,
        lambda r: _present(r.address.has_postcode),
        "StreetAddress.Postcode (presence only)",
        personal=True,
    ),
    FieldSpec(
        "address.state",
        P,
        lambda r: _present(r.address.has_state),
        "StreetAddress.StateId (presence only)",
    ),
    FieldSpec(
        "address.country",
        T,
        lambda r: r.address.country,
        "StreetAddress.CountryId, as the country's name",
    ),
    FieldSpec(
        "avetmiss.highest_school_level",
        P,
        lambda r: _present(r.avetmiss.has_highest_school_level),
        "Demographics.HighestSchoolLevelCompletedId (presence only)",
    ),
    FieldSpec(
        "avetmiss.country_of_birth",
        P,
        lambda r: _present(r.avetmiss.has_country_of_birth),
        "Demographics.CountryOfBirthId (presence only)",
    ),
    FieldSpec(
        "avetmiss.primary_language",
        P,
        lambda r: _present(r.avetmiss.has_primary_language),
        "Demographics.PrimaryLanguageId (presence only)",
    ),
    FieldSpec(
        "avetmiss.indigenous_status",
        P,
        lambda r: _present(r.avetmiss.has_indigenous_status),
        "Demographics.IndigenousStatusId (presence only)",
    ),
    FieldSpec(
        "avetmiss.employment_status",
        P,
        lambda r: _present(r.avetmiss.has_employment_status),
        "Demographics.EmploymentStatusId (presence only)",
    ),
    FieldSpec(
        "avetmiss.disability_flag",
        P,
        lambda r: _present(r.avetmiss.has_disability_flag),
        "Demographics.DisabilityFlagId (presence only)",
    ),
    FieldSpec(
        "avetmiss.prior_education",
        P,
        lambda r: _present(r.avetmiss.has_prior_education),
        "Demographics.HasPriorEducationalAchievementId (presence only)",
    ),
)

COURSE_ENROLMENT_FIELDS = _fields(
    FieldSpec("id", N, lambda r: r.id, "CourseEnrolmentId"),
    FieldSpec("learner_id", N, lambda r: r.learner_id, "LearnerId"),
    FieldSpec("status", T, lambda r: r.status, "EnrolmentStatusId, as the status's name"),
    FieldSpec(
        "application_status",
        T,
        lambda r: r.application_status,
        "ApplicationStatusId, as the status's name",
    ),
    FieldSpec("enquiry_date", D, lambda r: r.enquiry_date, "EnquiryDate"),
    FieldSpec("start_date", D, lambda r: r.start_date, "StartDate"),
    FieldSpec("end_date", D, lambda r: r.end_date, "EndDate"),
    FieldSpec("actual_end_date", D, lambda r: r.actual_end_date, "ActualEndDate"),
    FieldSpec(
        "application_expiry_date", D, lambda r: r.application_expiry_date, "ApplicationExpiryDate"
    ),
    FieldSpec(
        "qualification_issued", B, lambda r: r.qualification_issued, "QualificationIssuedFlag"
    ),
    FieldSpec(
        "qualification_issued_date",
        D,
        lambda r: r.qualification_issued_date,
        "QualificationIssuedDate",
    ),
    FieldSpec("for_avetmiss", B, lambda r: r.for_avetmiss, "ForAvetmissFlag"),
    FieldSpec("course_offer_id", N, lambda r: r.course_offer_id, "CourseOfferId"),
    FieldSpec(
        "course_offer_code", T, lambda r: r.course_offer_code, "Relationships.CourseOffer.Code"
    ),
    FieldSpec(
        "course_offer_start_date",
        D,
        lambda r: r.course_offer_start_date,
        "Relationships.CourseOffer.CourseOfferStartDate",
    ),
    FieldSpec(
        "course_offer_end_date",
        D,
        lambda r: r.course_offer_end_date,
        "Relationships.CourseOffer.CourseOfferEndDate",
    ),
    FieldSpec(
        "course_code",
        T,
        lambda r: r.course_code,
        "the offer's course code (Relationships.Course.CourseCode of /course-offers)",
    ),
    FieldSpec("study_mode", T, lambda r: r.study_mode, "Relationships.StudyMode.Description"),
    FieldSpec("trainer_id", N, lambda r: r.trainer_id, "Relationships.Trainer.TrainerId"),
    FieldSpec(
        "coordinator_id", N, lambda r: r.coordinator_id, "Relationships.Coordinator.CoordinatorId"
    ),
)

UNIT_ENROLMENT_FIELDS = _fields(
    FieldSpec("id", N, lambda r: r.id, "UnitEnrolmentId"),
    FieldSpec("course_enrolment_id", N, lambda r: r.course_enrolment_id, "CourseEnrolmentId"),
    FieldSpec("outcome", T, lambda r: r.outcome, "OutcomeId, as the AVETMISS outcome code"),
    FieldSpec("start_date", D, lambda r: r.start_date, "StartDate"),
    FieldSpec("end_date", D, lambda r: r.end_date, "EndDate"),
    FieldSpec("actual_end_date", D, lambda r: r.actual_end_date, "ActualEndDate"),
)

CREDENTIAL_FIELDS = _fields(
    FieldSpec("id", N, lambda r: r.id, "CredentialId"),
    FieldSpec("course_enrolment_id", N, lambda r: r.course_enrolment_id, "CourseEnrolmentId"),
    FieldSpec("status", T, lambda r: r.status, "CredentialStatusId, as the status's name"),
    FieldSpec("date", D, lambda r: r.date, "CredentialDate"),
)

CHECKLIST_FIELDS = _fields(
    FieldSpec("id", N, lambda r: r.id, "ChecklistId"),
    FieldSpec("entity", T, lambda r: r.entity, "EntityName (Learner or CourseEnrolment)"),
    FieldSpec("completed", B, lambda r: r.completed, "CompletedFlag"),
    FieldSpec("date_due", D, lambda r: r.date_due, "DateDue"),
)

CATALOGUE: dict[Subject, dict[str, FieldSpec]] = {
    Subject.LEARNER: LEARNER_FIELDS,
    Subject.COURSE_ENROLMENT: COURSE_ENROLMENT_FIELDS,
    Subject.UNIT_ENROLMENT: UNIT_ENROLMENT_FIELDS,
    Subject.CREDENTIAL: CREDENTIAL_FIELDS,
    Subject.CHECKLIST: CHECKLIST_FIELDS,
}


@dataclass(frozen=True)
class ChildCollection:
    """A collection a condition may quantify over (`some: units`): its kind and its reader.

    `read(ctx, record)` takes the evaluation context (`mappings.evaluation_context.Context`) and
    the parent record, and returns the children.
    """

    kind: Subject
    read: Callable[[Any, Any], Sequence[Any]]


# Child collections a condition may quantify over, by subject.
COLLECTIONS: dict[Subject, dict[str, ChildCollection]] = {
    Subject.LEARNER: {
        "enrolments": ChildCollection(
            Subject.COURSE_ENROLMENT, lambda ctx, _: ctx.bundle.course_enrolments
        ),
        "units": ChildCollection(Subject.UNIT_ENROLMENT, lambda ctx, _: ctx.bundle.unit_enrolments),
        "credentials": ChildCollection(Subject.CREDENTIAL, lambda ctx, _: ctx.bundle.credentials),
        "checklists": ChildCollection(Subject.CHECKLIST, lambda ctx, _: ctx.bundle.checklists),
    },
    Subject.COURSE_ENROLMENT: {
        "units": ChildCollection(
            Subject.UNIT_ENROLMENT, lambda ctx, ce: ctx.units_by_enrolment.get(ce.id, ())
        ),
        "credentials": ChildCollection(
            Subject.CREDENTIAL, lambda ctx, ce: ctx.credentials_by_enrolment.get(ce.id, ())
        ),
        "checklists": ChildCollection(
            Subject.CHECKLIST, lambda ctx, ce: ctx.checklists_by_enrolment.get(ce.id, ())
        ),
        "other_enrolments": ChildCollection(
            Subject.COURSE_ENROLMENT,
            lambda ctx, ce: [other for other in ctx.bundle.course_enrolments if other.id != ce.id],
        ),
    },
    Subject.UNIT_ENROLMENT: {},
    Subject.CREDENTIAL: {},
    Subject.CHECKLIST: {},
}

# The kind of each child collection, by subject.
CHILDREN: dict[Subject, dict[str, Subject]] = {
    subject: {name: collection.kind for name, collection in collections.items()}
    for subject, collections in COLLECTIONS.items()
}

# Subjects that have a parent course enrolment (`enrolment: …`).
HAS_ENROLMENT = frozenset({Subject.UNIT_ENROLMENT, Subject.CREDENTIAL, Subject.CHECKLIST})
