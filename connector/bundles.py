"""From Wisenet wire items to the mapping engine's learner bundle.

Ids of statuses, outcomes, credential statuses and countries become names (or codes) here, in
one of two ways: through the account's combos (`Labels.from_combos`, what the sync engine uses)
or through each item's own `Relationships` (`Labels.from_relationships`, for bundle files pasted
from API responses). Personal fields become facts here, before anything is stored, logged or
hashed: the wire models already keep them as facts (whether given; for the USI, see
`connector.wisenet.usi`), and here they become the bundle's booleans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.wisenet.timestamps import TimestampFormatError, parse_date
from connector.wisenet.usi import UsiFacts
from connector.wisenet.vocabulary import Combo
from connector.wisenet.wire import (
    ChecklistData,
    CourseEnrolmentData,
    CourseOfferData,
    CredentialData,
    Item,
    LearnerData,
    UnitEnrolmentData,
)
from mappings.bundle import (
    Address,
    Avetmiss,
    Checklist,
    CourseEnrolment,
    CourseOffer,
    Credential,
    Learner,
    LearnerBundle,
    UnitEnrolment,
)


class BundleError(ValueError):
    """A record could not be turned into bundle values; the message says which and where."""


@dataclass(frozen=True)
class Labels:
    """Resolves lookup ids to names, from combos or from each item's Relationships."""

    combos: Mapping[str, Combo] | None = None

    @classmethod
    def from_combos(cls, combos: Mapping[str, Combo]) -> Labels:
        """Resolve through the account's combos (by id, never hard-coded)."""
        return cls(combos)

    @classmethod
    def from_relationships(cls) -> Labels:
        """Resolve through the lookups embedded in each item."""
        return cls(None)

    def name(
        self,
        combo: str,
        ident: int | None,
        related: Any,
        id_key: str,
        *,
        code: bool = False,
    ) -> str | None:
        """The description (or code) of `ident` in `combo`."""
        if ident is None:
            return None
        if self.combos is not None:
            found = self.combos.get(combo)
            if found is None:
                return None
            return found.code(ident) if code else found.description(ident)
        candidates = related if isinstance(related, list) else [related]
        for lookup in candidates:
            if isinstance(lookup, dict) and lookup.get(id_key) == ident:
                value = lookup.get("Code" if code else "Description")
                return value if isinstance(value, str) else None
        return None


def _date(raw: str | None, where: str) -> Any:
    if raw is None:
        return None
    try:
        return parse_date(raw)
    except TimestampFormatError as exc:
        raise BundleError(f"{where}: {exc}") from exc


def learner_of(item: Item[LearnerData], labels: Labels) -> Learner:
    """A learner's rule inputs."""
    data = item.data
    personal = data.personal
    demographics = data.demographics
    relationships = item.relationships or {}
    address = personal.street_address if personal else None
    phones = personal.phone_numbers if personal else None
    emails = personal.email_addresses if personal else None
    usi = personal.usi if personal else UsiFacts()
    return Learner(
        id=data.learner_id,
        is_active=personal.is_active if personal else None,
        number=personal.learner_number if personal else None,
        has_usi=usi.present,
        usi_well_formed=usi.well_formed,
        usi_exemption=usi.exemption,
        usi_status=personal.usi_status if personal else None,
        has_date_of_birth=bool(personal and personal.has_date_of_birth),
        has_gender=bool(personal and personal.gender_id is not None),
        has_email=bool(emails and emails.has_email),
        has_mobile=bool(phones and phones.has_mobile),
        address=Address(
            has_suburb=bool(address and address.has_suburb),
            has_postcode=bool(address and address.has_postcode),
            has_state=bool(address and address.state_id is not None),
            country=labels.name(
                "countries",
                address.country_id if address else None,
                relationships.get("Countries"),
                "CountryId",
            ),
        ),
        avetmiss=Avetmiss(
            has_highest_school_level=_set(demographics, "highest_school_level_completed_id"),
            has_country_of_birth=_set(demographics, "country_of_birth_id"),
            has_primary_language=_set(demographics, "primary_language_id"),
            has_indigenous_status=_set(demographics, "indigenous_status_id"),
            has_employment_status=_set(demographics, "employment_status_id"),
            has_disability_flag=_set(demographics, "disability_flag_id"),
            has_prior_education=_set(demographics, "has_prior_educational_achievement_id"),
        ),
    )


def _related(relationships: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """An embedded record, or an empty one where it is missing, null or not an object."""
    found = relationships.get(name)
    return found if isinstance(found, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _ident(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _set(demographics: Any, name: str) -> bool:
    return demographics is not None and getattr(demographics, name) is not None


def course_enrolment_of(item: Item[CourseEnrolmentData], labels: Labels) -> CourseEnrolment:
    """A course enrolment's rule inputs."""
    data = item.data
    related = item.relationships or {}
    where = f"course enrolment {data.course_enrolment_id}"
    offer = _related(related, "CourseOffer")
    if offer.get("CourseOfferId") not in (None, data.course_offer_id):
        offer = {}  # an expansion of another offer than the enrolment names is not evidence
    return CourseEnrolment(
        id=data.course_enrolment_id,
        learner_id=data.learner_id,
        status=labels.name(
            "enrolment-statuses",
            data.enrolment_status_id,
            related.get("EnrolmentStatus"),
            "EnrolmentStatusId",
        ),
        application_status=labels.name(
            "application-statuses",
            data.application_status_id,
            related.get("ApplicationStatus"),
            "ApplicationStatusId",
        ),
        course_offer_id=data.course_offer_id,
        course_offer_code=_text(offer.get("Code")),
        course_offer_start_date=_date(_text(offer.get("CourseOfferStartDate")), where),
        course_offer_end_date=_date(_text(offer.get("CourseOfferEndDate")), where),
        study_mode=_text(_related(related, "StudyMode").get("Description")),
        trainer_id=_ident(_related(related, "Trainer").get("TrainerId")),
        coordinator_id=_ident(_related(related, "Coordinator").get("CoordinatorId")),
        enquiry_date=_date(data.enquiry_date, where),
        start_date=_date(data.start_date, where),
        end_date=_date(data.end_date, where),
        actual_end_date=_date(data.actual_end_date, where),
        application_expiry_date=_date(data.application_expiry_date, where),
        qualification_issued=bool(data.qualification_issued_flag),
        qualification_issued_date=_date(data.qualification_issued_date, where),
        for_avetmiss=bool(data.for_avetmiss_flag),
    )


def unit_enrolment_of(item: Item[UnitEnrolmentData], labels: Labels) -> UnitEnrolment:
    """A unit enrolment's rule inputs (the outcome as its AVETMISS code)."""
    data = item.data
    where = f"unit enrolment {data.unit_enrolment_id}"
    return UnitEnrolment(
        id=data.unit_enrolment_id,
        course_enrolment_id=data.course_enrolment_id,
        outcome=labels.name(
            "outcomes",
            data.outcome_id,
            (item.relationships or {}).get("Outcome"),
            "OutcomeId",
            code=True,
        ),
        start_date=_date(data.start_date, where),
        end_date=_date(data.end_date, where),
        actual_end_date=_date(data.actual_end_date, where),
    )


def credential_of(item: Item[CredentialData], labels: Labels) -> Credential:
    """A credential's rule inputs."""
    data = item.data
    return Credential(
        id=data.credential_id,
        course_enrolment_id=data.course_enrolment_id,
        status=labels.name(
            "credential-statuses",
            data.credential_status_id,
            (item.relationships or {}).get("CredentialStatus"),
            "CredentialStatusId",
        ),
        date=_date(data.credential_date, f"credential {data.credential_id}"),
    )


def course_offer_of(item: Item[CourseOfferData]) -> CourseOffer:
    """A course offer's rule inputs."""
    data = item.data
    where = f"course offer {data.course_offer_id}"
    return CourseOffer(
        id=data.course_offer_id,
        code=data.code,
        start_date=_date(data.course_offer_start_date, where),
        end_date=_date(data.course_offer_end_date, where),
    )


def checklist_of(item: Item[ChecklistData]) -> Checklist | None:
    """A checklist's rule inputs (None for checklists of other entities)."""
    data = item.data
    if data.entity_name not in ("Learner", "CourseEnrolment") or data.record_id is None:
        return None
    return Checklist(
        id=data.checklist_id,
        entity=data.entity_name,
        record_id=data.record_id,
        completed=bool(data.completed_flag),
        date_due=_date(data.date_due, f"checklist {data.checklist_id}"),
    )


def bundle_of(
    learner: Item[LearnerData],
    course_enrolments: Sequence[Item[CourseEnrolmentData]],
    unit_enrolments: Sequence[Item[UnitEnrolmentData]],
    credentials: Sequence[Item[CredentialData]],
    course_offers: Sequence[Item[CourseOfferData]],
    checklists: Sequence[Item[ChecklistData]],
    labels: Labels,
) -> LearnerBundle:
    """One learner's bundle from their records, ordered by id."""
    checklist_values = [c for c in (checklist_of(item) for item in checklists) if c is not None]
    return LearnerBundle(
        learner=learner_of(learner, labels),
        course_enrolments=tuple(
            sorted((course_enrolment_of(i, labels) for i in course_enrolments), key=lambda r: r.id)
        ),
        unit_enrolments=tuple(
            sorted((unit_enrolment_of(i, labels) for i in unit_enrolments), key=lambda r: r.id)
        ),
        credentials=tuple(
            sorted((credential_of(i, labels) for i in credentials), key=lambda r: r.id)
        ),
        course_offers=tuple(
            sorted((course_offer_of(i) for i in course_offers), key=lambda r: r.id)
        ),
        checklists=tuple(sorted(checklist_values, key=lambda r: r.id)),
    )
