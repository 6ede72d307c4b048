"""The Wisenet entities the store keeps, and the subject each is known by in flags and history.

Derived from the entity registry (`connector.wisenet.entities`), which is where an entity is
added.
"""

from __future__ import annotations

from connector.wisenet.entities import (
    CHECKLISTS,
    COURSE_ENROLMENTS,
    CREDENTIALS,
    ENTITIES,
    LEARNERS,
    UNIT_ENROLMENTS,
)

LEARNER, ENROLMENT, UNIT, CREDENTIAL, CHECKLIST = (
    LEARNERS.name,
    COURSE_ENROLMENTS.name,
    UNIT_ENROLMENTS.name,
    CREDENTIALS.name,
    CHECKLISTS.name,
)
# The entities whose `parent_id` is a course enrolment.
CHILDREN = tuple(entity.name for entity in ENTITIES if entity.parent_key is not None)
# mappings.catalogue.Subject values, as flags and stage history store them.
SUBJECTS = {entity.name: entity.subject.value for entity in ENTITIES}
# The `mappings.bundle` type each entity's stored values decode into.
KINDS: dict[str, type] = {entity.name: entity.bundle_kind for entity in ENTITIES}
# Where `LearnerBundle` holds each entity's values (the learner's own record aside).
FIELDS = {entity.name: entity.bundle_field for entity in ENTITIES if entity.name != LEARNER}
