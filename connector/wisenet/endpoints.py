"""The Wisenet v1 endpoints the connector calls, each named by its path template.

Error messages, logs and metrics name endpoints by these templates (never by filled-in paths,
which carry record ids). The endpoints of the entities kept as records are in their registry
entries (`connector.wisenet.entities`); the ones here are reference data, the audit log and
writes.
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


COURSE_ENROLMENT = Endpoint("/course-enrolments/{id}", paged=False)  # read by id, and PATCHed
COURSE_OFFERS = Endpoint("/course-offers", MODIFIED_FILTER)
COURSE_OFFER = Endpoint("/course-offers/{id}", paged=False)
COURSES = Endpoint("/courses")
TAGS = Endpoint("/tags", paged=False)
FILENOTES = Endpoint("/filenotes", paged=False)
AUDIT_LOGS = Endpoint("/audit-logs", MODIFIED_FILTER)
COMBO = Endpoint("/combos/{name}", paged=False)
