"""Wire models: Wisenet's JSON, parsed once at the edge.

Every record is an Item `{"Data": {...}, "Relationships": {...}}`. The models keep only the
fields the connector reads (ids, timestamps, statuses and the fields rules check) and ignore
the rest, so names, contact details and free text are never held in memory longer than the
response body. A learner's personal fields become facts as they are parsed: whether a birth
date, mobile, email, suburb or postcode is given, and what `connector.wisenet.usi` keeps of the
USI. No model holds a personal value. Timestamps stay raw strings here; `timestamps.py` reads
them in the account timezone where they are used.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_pascal

from connector.wisenet.usi import UsiFacts, usi_facts


class WireModel(BaseModel):
    """Base of every wire model: PascalCase on the wire, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="ignore", frozen=True
    )
    id_field: ClassVar[str | None] = None

    def key(self) -> int | None:
        """Return the record's own id (`LearnerId`, …) for models that declare one."""
        if self.id_field is None:
            return None
        value = getattr(self, self.id_field)
        return value if isinstance(value, int) else None


DataT = TypeVar("DataT", bound=WireModel)


class Item(WireModel, Generic[DataT]):
    """Wisenet's record envelope."""

    data: DataT
    relationships: dict[str, Any] | None = None


# --- learners -----------------------------------------------------------------------------


def _given(raw: object) -> bool:
    """A personal text is given when it has more than whitespace; only that fact is kept."""
    text = _text(raw)
    return text is not None and bool(text.strip())


def _non_empty(raw: object) -> bool:
    """A personal text is given when it is not empty; only that fact is kept."""
    return bool(_text(raw))


def _text(raw: object) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValueError("expected a string or null")  # no value quoted: it is personal
    return raw


Given = Annotated[bool, BeforeValidator(_given)]


class PhoneNumbers(WireModel):
    """The learner's phone numbers; only whether a mobile is given is kept."""

    has_mobile: Given = Field(default=False, validation_alias="Mobile")


class EmailAddresses(WireModel):
    """The learner's email addresses; only whether the main one is given is kept."""

    has_email: Given = Field(default=False, validation_alias="Email")


class StreetAddress(WireModel):
    """The facts of the street address that completeness rules check (no part of it is kept)."""

    has_suburb: Given = Field(default=False, validation_alias="SuburbTownCity")
    state_id: int | None = None
    has_postcode: Given = Field(default=False, validation_alias="Postcode")
    country_id: int | None = None


class Personal(WireModel):
    """`Data.Personal` of a learner, as facts: no name, birth date, contact, address or USI.

    `UniqueStudentIdentifier` is read as facts (`usi`), the other personal texts as whether
    they are given.
    """

    is_active: bool | None = None
    learner_number: str | None = None  # the account's own number for the learner, not personal
    has_date_of_birth: Annotated[bool, BeforeValidator(_non_empty)] = Field(
        default=False, validation_alias="DateOfBirth"
    )
    gender_id: int | None = None
    usi: UsiFacts = Field(default=UsiFacts(), validation_alias="UniqueStudentIdentifier")
    usi_status: str | None = None
    phone_numbers: PhoneNumbers | None = None
    email_addresses: EmailAddresses | None = None
    street_address: StreetAddress | None = None

    @field_validator("usi", mode="before")
    @classmethod
    def _usi_as_facts(cls, raw: object) -> UsiFacts:
        """The USI's facts, so the USI itself is dropped with the response body."""
        if isinstance(raw, UsiFacts):
            return raw
        if raw is not None and not isinstance(raw, str):
            raise ValueError("a USI is a string or null")  # no value quoted: it may be a USI
        return usi_facts(raw)


class Demographics(WireModel):
    """`Data.Demographics` of a learner: the AVETMISS fields."""

    employment_status_id: int | None = None
    highest_school_level_completed_id: int | None = None
    country_of_birth_id: int | None = None
    primary_language_id: int | None = None
    indigenous_status_id: int | None = None
    disability_flag_id: int | None = None
    has_prior_educational_achievement_id: int | None = None


class LearnerData(WireModel):
    """`Data` of a `/learnersAU` record."""

    id_field: ClassVar[str | None] = "learner_id"

    learner_id: int
    learner_guid: str | None = None
    last_modified_time_stamp: str | None = None
    personal: Personal | None = None
    demographics: Demographics | None = None


# --- enrolments ---------------------------------------------------------------------------


class TagRef(WireModel):
    """One entry of a course enrolment's `TagIds`."""

    tag_id: int


class CourseEnrolmentData(WireModel):
    """`Data` of a `/course-enrolments` record."""

    id_field: ClassVar[str | None] = "course_enrolment_id"

    course_enrolment_id: int
    learner_id: int
    course_offer_id: int | None = None
    enrolment_status_id: int | None = None
    application_status_id: int | None = None
    application_expiry_date: str | None = None
    enquiry_date: str | None = None
    enrolment_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    actual_end_date: str | None = None
    qualification_issued_flag: bool | None = None
    qualification_issued_date: str | None = None
    for_avetmiss_flag: bool | None = None
    tag_ids: list[TagRef] | None = None
    last_modified_time_stamp: str | None = None


class UnitEnrolmentData(WireModel):
    """`Data` of a `/unit-enrolments` record."""

    id_field: ClassVar[str | None] = "unit_enrolment_id"

    unit_enrolment_id: int
    course_enrolment_id: int
    unit_offer_id: int | None = None
    start_date: str | None = None
    end_date: str | None = None
    actual_end_date: str | None = None
    outcome_id: int | None = None
    last_modified_time_stamp: str | None = None


class CredentialData(WireModel):
    """`Data` of a `/credentials` record."""

    id_field: ClassVar[str | None] = "credential_id"

    credential_id: int
    course_enrolment_id: int
    credential_status_id: int | None = None
    credential_date: str | None = None
    status_change_date: str | None = None


class CourseData(WireModel):
    """`Data` of a `/courses` record."""

    id_field: ClassVar[str | None] = "course_id"

    course_id: int
    course_code: str | None = None


class CourseOfferData(WireModel):
    """`Data` of a `/course-offers` record."""

    id_field: ClassVar[str | None] = "course_offer_id"

    course_offer_id: int
    course_id: int | None = None
    code: str | None = None
    course_offer_start_date: str | None = None
    course_offer_end_date: str | None = None
    last_modified_time_stamp: str | None = None


class ChecklistData(WireModel):
    """`Data` of a `/checklists` record (one checklist item attached to one record)."""

    id_field: ClassVar[str | None] = "checklist_id"

    checklist_id: int
    checklist_item_id: int | None = None
    entity_name: str | None = None
    record_id: int | None = None
    date_due: str | None = None
    date_completed: str | None = None
    completed_flag: bool | None = None
    last_modified_time_stamp: str | None = None


# --- reference data -----------------------------------------------------------------------


class TagData(WireModel):
    """`Data` of a `/tags` record."""

    id_field: ClassVar[str | None] = "tag_id"

    tag_id: int
    name: str
    entity_name: str
    archived_flag: bool = False


class AuditLogData(WireModel):
    """`Data` of an `/audit-logs` record."""

    id_field: ClassVar[str | None] = "audit_log_id"

    audit_log_id: int
    record_id: int
    entity_name: str
    audit_action: str
    last_modified_time_stamp: str | None = None


class ComboEntry(BaseModel):
    """One lookup value of a combo; the id property's name differs per combo."""

    model_config = ConfigDict(frozen=True)

    id: int
    description: str | None = None
    code: str | None = None


def combo_entry(data: dict[str, Any]) -> ComboEntry:
    """Read a combo's `Data` object, whose id key is `<Something>Id`."""
    ids = [
        value
        for key, value in data.items()
        if key.endswith("Id") and isinstance(value, int) and not isinstance(value, bool)
    ]
    if len(ids) != 1:
        raise ValueError(f"expected one integer '…Id' property, found {len(ids)}")
    description = data.get("Description")
    code = data.get("Code")
    return ComboEntry(
        id=ids[0],
        description=description if isinstance(description, str) else None,
        code=code if isinstance(code, str) else None,
    )


class ComboItem(BaseModel):
    """A combo Item; `Data` stays a plain object until `combo_entry` reads it."""

    model_config = ConfigDict(extra="ignore")

    data: dict[str, Any] = Field(alias="Data")
