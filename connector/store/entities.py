"""The Wisenet entities the store keeps, and the subject each is known by in flags and history."""

from __future__ import annotations

LEARNER, ENROLMENT, UNIT, CREDENTIAL, CHECKLIST = (
    "Learner",
    "CourseEnrolment",
    "UnitEnrolment",
    "Credential",
    "Checklist",
)
CHILDREN = (UNIT, CREDENTIAL, CHECKLIST)  # the entities whose `parent_id` is a course enrolment
SUBJECTS = {  # mappings.catalogue.Subject values, as flags and stage history store them
    LEARNER: "learner",
    ENROLMENT: "course_enrolment",
    UNIT: "unit_enrolment",
    CREDENTIAL: "credential",
    CHECKLIST: "checklist",
}
