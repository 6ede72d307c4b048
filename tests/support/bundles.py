"""Learner bundles for tests: small builders, and a hypothesis strategy dense at the boundaries."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from connector.public_holidays import business_calendar
from connector.wisenet.usi import usi_facts
from mappings.bundle import (
    Address,
    Avetmiss,
    Checklist,
    CourseEnrolment,
    Credential,
    Learner,
    LearnerBundle,
    UnitEnrolment,
)
from mappings.compiler import CompiledMapping
from mappings.decision import Decision
from mappings.loader import load_mapping
from tests.reference import Outcome

TODAY = date(2026, 11, 29)
CALENDAR = business_calendar("AU")  # the default CONNECTOR_HOLIDAYS
# The default mapping's commented short-course rule, switched on (it needs a `short_courses`).
NEVER_RECONNECT = """  - id: short-course-settled
    audience: short_courses
    stage: closed
    when:
      all:
        - {field: status, in_set: finalised_statuses}
        - any:
            - not: {fact: certificate_owed}
            - {fact: certified}
"""
DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "config" / "mapping.yaml"
COMPLETE_AVETMISS = Avetmiss(*([True] * 7))
COMPLETE_ADDRESS = Address(has_suburb=True, has_postcode=True, has_state=True, country="Australia")


@cache
def default_mapping() -> CompiledMapping:
    """The shipped default mapping, compiled once."""
    return load_mapping(DEFAULT_MAPPING.read_text(), "config/mapping.yaml", CALENDAR)


def ago(days: int) -> date:
    """The date `days` before the tests' today."""
    return TODAY - timedelta(days=days)


def usi(raw: str | None) -> dict[str, Any]:
    """A learner's USI fields for the USI `raw`, read as the connector reads Wisenet's."""
    facts = usi_facts(raw)
    return {
        "has_usi": facts.present,
        "usi_well_formed": facts.well_formed,
        "usi_exemption": facts.exemption,
    }


def learner(learner_id: int = 1, **changes: Any) -> Learner:
    """A learner with every field rules check present, USI verified, active.

    `usi=` takes a USI as Wisenet would give it, and sets the facts the connector keeps of it.
    """
    if "usi" in changes:
        changes.update(usi(changes.pop("usi")))
    values: dict[str, Any] = {
        "id": learner_id,
        "is_active": True,
        **usi("3AW88YH9U5"),
        "usi_status": "Verified",
        "has_date_of_birth": True,
        "has_gender": True,
        "has_email": True,
        "has_mobile": True,
        "address": COMPLETE_ADDRESS,
        "avetmiss": COMPLETE_AVETMISS,
    }
    values.update(changes)
    return Learner(**values)


def enrolment(ce_id: int, status: str, learner_id: int = 1, **changes: Any) -> CourseEnrolment:
    """A course enrolment reported to AVETMISS."""
    return CourseEnrolment(
        id=ce_id, learner_id=learner_id, status=status, **{"for_avetmiss": True, **changes}
    )


def unit(
    unit_id: int,
    ce_id: int,
    outcome: str | None,
    ended_days_ago: int | None = None,
    *,
    actual: bool = True,
) -> UnitEnrolment:
    """A unit of an enrolment, ended `ended_days_ago` days ago."""
    end = None if ended_days_ago is None else ago(ended_days_ago)
    return UnitEnrolment(
        id=unit_id,
        course_enrolment_id=ce_id,
        outcome=outcome,
        end_date=end,
        actual_end_date=end if actual else None,
    )


def issued(credential_id: int, ce_id: int, status: str = "Issued") -> Credential:
    """A credential of an enrolment."""
    return Credential(id=credential_id, course_enrolment_id=ce_id, status=status, date=ago(1))


def bundle(*records: Any, who: Learner | None = None) -> LearnerBundle:
    """A bundle from loose records, sorted into their kinds."""
    kinds: dict[type, list[Any]] = {
        CourseEnrolment: [],
        UnitEnrolment: [],
        Credential: [],
        Checklist: [],
    }
    for record in records:
        kinds[type(record)].append(record)
    return LearnerBundle(
        learner=who or learner(),
        course_enrolments=tuple(kinds[CourseEnrolment]),
        unit_enrolments=tuple(kinds[UnitEnrolment]),
        credentials=tuple(kinds[Credential]),
        checklists=tuple(kinds[Checklist]),
    )


def as_outcome(decision: Decision, today: date = TODAY) -> Outcome:
    """An engine decision in the reference implementation's shape (lateness as of `today`)."""
    return Outcome(
        learner_stage=decision.learner_stage,
        enrolments={ce.id: (ce.stage, ce.desired_tags) for ce in decision.course_enrolments},
        flags=decision.flag_keys(),
        days_overdue={
            flag.key: (today - flag.due).days for flag in decision.flags if flag.due is not None
        },
        owners={flag.key: flag.owner_id for flag in decision.flags if flag.owner_id is not None},
    )


# --- hypothesis --------------------------------------------------------------------------------

COURSE_CODES = (None, "BSB40120", "HLTAID011", " hltaid011 ", "CHC33021")
BOUNDARY_DAYS = (
    -30,
    -1,
    0,
    1,
    5,
    13,
    14,
    15,
    16,
    20,
    21,
    22,
    29,
    30,
    31,
    32,
    59,
    60,
    61,
    90,
    364,
    365,
    366,
    367,
    1095,
)
STATUSES = (
    "Enquiry",
    "Pending",
    "Current",
    "Completed",
    "Completion Pending",
    "Withdrawn",
    "Cancelled (no penalty)",
    "Cancelled (penalty)",
    "Partial Attendance",
    "Declined",
    "Deferred",
    " completed ",
    "CURRENT",
    "cancelled  (no penalty)",
)
OUTCOMES = (
    "20",
    "30",
    "40",
    "41",
    "51",
    "52",
    "60",
    "65",
    "70",
    "81",
    "82",
    "85",
    "90",
    "00",
    "NS",
    "@@",
    "100",
    "105",
    "99",
    " 20 ",
    "",
)
CREDENTIAL_STATUSES = ("Issued", "Requested", "Cancelled", " issued ")
USIS = (
    "3AW88YH9U5",
    " 3aw88yh9u5 ",
    "3AW88YH9O5",
    "12345",
    "INDIV",
    "intoff",
    "SHORT",
    "",
    "ABCDEFGHJK",
    "2222222222",
)


def days() -> st.SearchStrategy[int]:
    """Day offsets, mostly on the rules' boundaries."""
    return st.one_of(st.sampled_from(BOUNDARY_DAYS), st.integers(min_value=-400, max_value=1500))


def dates() -> st.SearchStrategy[date | None]:
    """Optional dates around today."""
    return st.one_of(st.none(), days().map(ago))


@st.composite
def bundles(draw: st.DrawFn) -> LearnerBundle:
    """A learner with 0-3 enrolments, their units, credentials and checklists."""
    learner_id = draw(st.integers(min_value=1, max_value=50))
    who = Learner(
        id=learner_id,
        is_active=draw(st.sampled_from([True, True, True, False, None])),
        **usi(draw(st.one_of(st.none(), st.sampled_from(USIS)))),
        usi_status=draw(st.sampled_from([None, "Verified", "verified ", "Unverified", "Invalid"])),
        has_date_of_birth=draw(st.booleans()),
        has_gender=draw(st.booleans()),
        has_email=draw(st.booleans()),
        has_mobile=draw(st.booleans()),
        address=Address(
            has_suburb=draw(st.booleans()),
            has_postcode=draw(st.booleans()),
            has_state=draw(st.booleans()),
            country=draw(st.sampled_from([None, "Australia", " australia ", "New Zealand", ""])),
        ),
        avetmiss=Avetmiss(*draw(st.lists(st.booleans(), min_size=7, max_size=7))),
    )
    ce_ids = draw(st.lists(st.integers(min_value=100, max_value=120), max_size=3, unique=True))
    enrolments, units, credentials, checklists = [], [], [], []
    next_id = 1000
    for ce_id in sorted(ce_ids):
        enrolments.append(
            CourseEnrolment(
                id=ce_id,
                learner_id=learner_id,
                status=draw(st.one_of(st.none(), st.sampled_from(STATUSES))),
                end_date=draw(dates()),
                actual_end_date=draw(dates()),
                application_expiry_date=draw(dates()),
                qualification_issued=draw(st.booleans()),
                for_avetmiss=draw(st.booleans()),
                course_code=draw(st.sampled_from(COURSE_CODES)),
                trainer_id=draw(st.one_of(st.none(), st.integers(min_value=21, max_value=25))),
                coordinator_id=draw(st.one_of(st.none(), st.integers(min_value=41, max_value=43))),
            )
        )
        for _ in range(draw(st.integers(min_value=0, max_value=4))):
            next_id += 1
            units.append(
                UnitEnrolment(
                    id=next_id,
                    course_enrolment_id=ce_id,
                    outcome=draw(st.one_of(st.none(), st.sampled_from(OUTCOMES))),
                    end_date=draw(dates()),
                    actual_end_date=draw(dates()),
                )
            )
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            next_id += 1
            credentials.append(
                Credential(
                    id=next_id,
                    course_enrolment_id=ce_id,
                    status=draw(st.one_of(st.none(), st.sampled_from(CREDENTIAL_STATUSES))),
                    date=draw(dates()),
                )
            )
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        next_id += 1
        owner = draw(
            st.sampled_from([("Learner", learner_id)] + [("CourseEnrolment", ce) for ce in ce_ids])
        )
        checklists.append(
            Checklist(
                id=next_id,
                entity=owner[0],
                record_id=owner[1],
                completed=draw(st.booleans()),
                date_due=draw(dates()),
            )
        )
    return LearnerBundle(
        learner=who,
        course_enrolments=tuple(enrolments),
        unit_enrolments=tuple(units),
        credentials=tuple(credentials),
        checklists=tuple(checklists),
    )
