"""The learner bundle: everything the rules of one learner may read (lifecycle.md §1).

Plain immutable values, already resolved: statuses, outcomes and credential statuses are names or
codes (never Wisenet ids); dates are calendar dates. Personal fields are kept as facts, never as
values: date of birth, contact details, address parts and AVETMISS answers as presence; the USI as
present, well-formed and its exemption code (the USI itself is dropped where the record is read).
A bundle holds no more personal data than the rules need, in no reversible form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of the street address completeness rules check."""

    has_suburb: bool = False
    has_postcode: bool = False
    has_state: bool = False
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Avetmiss:
    """Whether each AVETMISS demographic answer is present."""

    has_highest_school_level: bool = False
    has_country_of_birth: bool = False
    has_primary_language: bool = False
    has_indigenous_status: bool = False
    has_employment_status: bool = False
    has_disability_flag: bool = False
    has_prior_education: bool = False


@dataclass(frozen=True, slots=True)
class Learner:
    """A learner's rule inputs.

    Of the USI: `has_usi` (a value is given), `usi_well_formed` (trimmed and upper-cased, it is 10
    characters of digits 2-9 and letters other than I and O), `usi_exemption` (the exemption code
    `INTOFF`, `SHORT` or `INDIV` given instead of a USI) and `usi_status` (Wisenet's `UsiStatus`).
    """

    id: int
    is_active: bool | None = True
    number: str | None = (
        None  # `LearnerNumber`: shown to people next to the id, never read by rules
    )
    has_usi: bool = False
    usi_well_formed: bool = False
    usi_exemption: str | None = None
    usi_status: str | None = None
    has_date_of_birth: bool = False
    has_gender: bool = False
    has_email: bool = False
    has_mobile: bool = False
    address: Address = field(default_factory=Address)
    avetmiss: Avetmiss = field(default_factory=Avetmiss)


@dataclass(frozen=True, slots=True)
class CourseEnrolment:
    """A course enrolment's rule inputs.

    The offer's code and dates, the study mode and the trainer's and coordinator's ids come from
    the enrolment's own relationships; the course code from the account's course-offer listing.
    Of staff, only ids are kept.
    """

    id: int
    learner_id: int
    status: str | None = None
    application_status: str | None = None
    course_offer_id: int | None = None
    course_offer_code: str | None = None
    course_offer_start_date: date | None = None
    course_offer_end_date: date | None = None
    course_code: str | None = None
    study_mode: str | None = None
    trainer_id: int | None = None
    coordinator_id: int | None = None
    enquiry_date: date | None = None
    start_date: date | None = None
    end_date: date | None = None
    actual_end_date: date | None = None
    application_expiry_date: date | None = None
    qualification_issued: bool = False
    qualification_issued_date: date | None = None
    for_avetmiss: bool = False


@dataclass(frozen=True, slots=True)
class UnitEnrolment:
    """A unit enrolment's rule inputs; `outcome` is the AVETMISS code (a string)."""

    id: int
    course_enrolment_id: int
    outcome: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    actual_end_date: date | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """A credential (certificate, statement …) of a course enrolment."""

    id: int
    course_enrolment_id: int
    status: str | None = None
    date: date | None = None


@dataclass(frozen=True, slots=True)
class CourseOffer:
    """The course offer an enrolment belongs to."""

    id: int
    code: str | None = None
    start_date: date | None = None
    end_date: date | None = None


@dataclass(frozen=True, slots=True)
class Checklist:
    """A checklist attached to the learner (`entity` "Learner") or one of their enrolments."""

    id: int
    entity: str
    record_id: int
    completed: bool = False
    date_due: date | None = None


@dataclass(frozen=True, slots=True)
class LearnerBundle:
    """One learner and everything attached to them."""

    learner: Learner
    course_enrolments: tuple[CourseEnrolment, ...] = ()
    unit_enrolments: tuple[UnitEnrolment, ...] = ()
    credentials: tuple[Credential, ...] = ()
    course_offers: tuple[CourseOffer, ...] = ()
    checklists: tuple[Checklist, ...] = ()
