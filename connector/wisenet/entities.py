"""The one registry of the Wisenet entities the connector keeps as records and rules read.

Each entry says, for one entity: its list and read-by-id endpoints and its wire model; whether
its list has a modified filter and comes oldest-modified first; whether an audit-log delete
forgets it; which fields name its learner and its parent course enrolment; and how it becomes
part of a learner's bundle. The client, the poll, the webhook inbox, the store and the webhook
payload read these entries; none of them keeps its own list of entities.

Course offers, courses, tags and the audit log are reference data, read through
`connector.wisenet.endpoints` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from connector.bundles import (
    Labels,
    checklist_of,
    course_enrolment_of,
    credential_of,
    learner_of,
    unit_enrolment_of,
)
from connector.wisenet import endpoints as ep
from connector.wisenet.endpoints import Endpoint
from connector.wisenet.wire import (
    ChecklistData,
    CourseEnrolmentData,
    CredentialData,
    Item,
    LearnerData,
    UnitEnrolmentData,
    WireModel,
)
from mappings import bundle
from mappings.catalogue import Subject

ModelT = TypeVar("ModelT", bound=WireModel)
KeyOf = Callable[[Any], int | None]  # a record's `Data` → the id of a related record, or None
SORTED_BY_MODIFIED = {"sort": "LastModifiedTimeStamp", "order": "asc"}  # oldest change first


@dataclass(frozen=True)
class Entity(Generic[ModelT]):
    """What the connector knows of one Wisenet entity, in one place."""

    name: str  # Wisenet's `EntityName`; the store, webhooks, audit log and metrics use it too
    subject: Subject  # what rules, flags and stage history call it
    model: type[ModelT]  # the wire model of a record's `Data`
    listing: Endpoint  # the paged list; its modified filter, if any, is what the poll uses
    record: Endpoint | None  # the read by id (None: only the list reads it)
    bundle_value: Callable[[Item[ModelT], Labels], Any]  # the record's bundle value, or None
    bundle_kind: type  # the `mappings.bundle` type of that value
    bundle_field: str  # where `LearnerBundle` holds it
    sorted_by_modified: bool = False  # listed oldest-modified first, so a cursor moves per page
    deletable: bool = True  # an audit-log delete (`D`) forgets it
    tagged: bool = False  # its records carry `TagIds`
    learner_key: KeyOf | None = None  # the learner it belongs to, where it names one
    parent_key: KeyOf | None = None  # its parent course enrolment (None: it has none)

    @property
    def polled(self) -> bool:
        """Whether its list can be asked for what changed since a cursor."""
        return self.listing.modified_filter is not None

    @property
    def readable_by_id(self) -> bool:
        """Whether one record can be read on its own."""
        return self.record is not None

    def learner_id(self, data: ModelT) -> int | None:
        """The learner a record belongs to, where it says so."""
        return None if self.learner_key is None else self.learner_key(data)

    def parent_id(self, data: ModelT) -> int | None:
        """The course enrolment a record belongs to, where it has one."""
        return None if self.parent_key is None else self.parent_key(data)

    def tag_ids(self, data: ModelT) -> tuple[int, ...] | None:
        """The record's tag ids, for an entity that carries tags."""
        if not self.tagged:
            return None
        return tuple(t.tag_id for t in getattr(data, "tag_ids", None) or ())


def _field(name: str) -> KeyOf:
    return lambda data: getattr(data, name, None)


def _attached_to(owner: str) -> KeyOf:
    """The record a checklist is attached to, when that record is an `owner`."""
    return lambda data: data.record_id if data.entity_name == owner else None


LEARNERS: Entity[LearnerData] = Entity(
    name="Learner",
    subject=Subject.LEARNER,
    model=LearnerData,
    listing=Endpoint("/learnersAU", ep.MODIFIED_FILTER),
    record=Endpoint("/learnersAU/{id}", paged=False),
    bundle_value=learner_of,
    bundle_kind=bundle.Learner,
    bundle_field="learner",
    learner_key=_field("learner_id"),
)
COURSE_ENROLMENTS: Entity[CourseEnrolmentData] = Entity(
    name="CourseEnrolment",
    subject=Subject.COURSE_ENROLMENT,
    model=CourseEnrolmentData,
    listing=Endpoint("/course-enrolments", ep.MODIFIED_FILTER),
    record=ep.COURSE_ENROLMENT,  # also where tags are written, so the writer names it too
    bundle_value=course_enrolment_of,
    bundle_kind=bundle.CourseEnrolment,
    bundle_field="course_enrolments",
    sorted_by_modified=True,
    tagged=True,
    learner_key=_field("learner_id"),
)
UNIT_ENROLMENTS: Entity[UnitEnrolmentData] = Entity(
    name="UnitEnrolment",
    subject=Subject.UNIT_ENROLMENT,
    model=UnitEnrolmentData,
    listing=Endpoint("/unit-enrolments", ep.MODIFIED_FILTER_UNIT_ENROLMENTS),
    record=Endpoint("/unit-enrolments/{id}", paged=False),
    bundle_value=unit_enrolment_of,
    bundle_kind=bundle.UnitEnrolment,
    bundle_field="unit_enrolments",
    parent_key=_field("course_enrolment_id"),
)
CREDENTIALS: Entity[CredentialData] = Entity(
    name="Credential",
    subject=Subject.CREDENTIAL,
    model=CredentialData,
    listing=Endpoint("/credentials"),  # no modified filter: changes come from the audit log
    record=Endpoint("/credentials/{id}", paged=False),
    bundle_value=credential_of,
    bundle_kind=bundle.Credential,
    bundle_field="credentials",
    deletable=True,  # cancelled, not deleted, in Wisenet; gone with its enrolment
    parent_key=_field("course_enrolment_id"),
)
CHECKLISTS: Entity[ChecklistData] = Entity(
    name="Checklist",
    subject=Subject.CHECKLIST,
    model=ChecklistData,
    listing=Endpoint("/checklists", ep.MODIFIED_FILTER),
    record=None,  # Wisenet has no read by id for checklists: the poll covers them
    bundle_value=lambda item, _labels: checklist_of(item),
    bundle_kind=bundle.Checklist,
    bundle_field="checklists",
    learner_key=_attached_to(LEARNERS.name),
    parent_key=_attached_to(COURSE_ENROLMENTS.name),
)

ENTITIES: tuple[Entity[Any], ...] = (
    LEARNERS,
    COURSE_ENROLMENTS,
    UNIT_ENROLMENTS,
    CREDENTIALS,
    CHECKLISTS,
)
BY_NAME: dict[str, Entity[Any]] = {entity.name: entity for entity in ENTITIES}
POLLED: tuple[Entity[Any], ...] = tuple(e for e in ENTITIES if e.polled)  # in poll order


def entity_named(name: str) -> Entity[Any]:
    """The registry entry of an entity, by its Wisenet name."""
    return BY_NAME[name]
