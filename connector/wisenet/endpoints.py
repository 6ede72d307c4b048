"""The Wisenet v1 endpoints the connector calls, each named by its path template.

Error messages, logs and metrics name endpoints by these templates (never by filled-in paths,
which carry record ids).
"""

from __future__ import annotations

from dataclasses import dataclass

MODIFIED_FILTER = "lastModifiedTimeStampFilter"
MODIFIED_FILTER_UNIT_ENROLMENTS = "lastModifiedTimestampFilter"  # lower-case s, as documented


@dataclass(frozen=True)
class Endpoint:
    """One path template, its modified-timestamp filter (if any) and whether it pages."""

    template: str
    modified_filter: str | None = None
    paged: bool = True

    def path(self, **params: int | str) -> str:
        """Fill the template's `{placeholders}` with `params`."""
        return self.template.format(**params)


LEARNERS = Endpoint("/learnersAU", MODIFIED_FILTER)
LEARNER = Endpoint("/learnersAU/{id}", paged=False)
COURSE_ENROLMENTS = Endpoint("/course-enrolments", MODIFIED_FILTER)
COURSE_ENROLMENT = Endpoint("/course-enrolments/{id}", paged=False)
UNIT_ENROLMENTS = Endpoint("/unit-enrolments", MODIFIED_FILTER_UNIT_ENROLMENTS)
UNIT_ENROLMENT = Endpoint("/unit-enrolments/{id}", paged=False)
COURSE_OFFERS = Endpoint("/course-offers", MODIFIED_FILTER)
COURSE_OFFER = Endpoint("/course-offers/{id}", paged=False)
COURSES = Endpoint("/courses")
CHECKLISTS = Endpoint("/checklists", MODIFIED_FILTER)
CREDENTIALS = Endpoint("/credentials")  # no modified filter: changes come from the audit log
CREDENTIAL = Endpoint("/credentials/{id}", paged=False)
TAGS = Endpoint("/tags", paged=False)
FILENOTES = Endpoint("/filenotes", paged=False)
AUDIT_LOGS = Endpoint("/audit-logs", MODIFIED_FILTER)
COMBO = Endpoint("/combos/{name}", paged=False)
