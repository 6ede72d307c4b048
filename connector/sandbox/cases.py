"""The planted cases: one learner per rule, worked example and boundary day of lifecycle.md.

Each case builds a clean learner (every field present, USI verified, active) so that only what
it plants shows, and states what the default mapping decides: the learner's stage, each
enrolment's stage and desired owned tags, and the complete set of flags (kind, subject, id).
Days are counted back from the generator's `today` (`ago(n)` is n calendar days before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.sandbox.generator import Generator
    from connector.sandbox.store import Row

SALES, PROGRESSION, COMPLETION, RECONNECT = "Sales", "Progression", "Completion", "Reconnect"
CLOSED, UNMAPPED = "closed", "unmapped"
CERTIFIED, RECONNECT_ELIGIBLE = "certified", "reconnect-eligible"
CERTIFICATE_OVERDUE, MISSING_USI = "certificate-overdue", "missing-usi"


@dataclass
class PlantedCase:
    """A learner built to show one rule or example, and what the default mapping decides."""

    name: str
    description: str
    learner_id: int
    course_enrolment_ids: list[int]
    expect: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, int | None] = field(default_factory=dict)  # enrolment id -> flag owner

    def as_json(self) -> dict[str, Any]:
        """The case as the control API lists it."""
        shown = {
            "name": self.name,
            "description": self.description,
            "learner_id": self.learner_id,
            "course_enrolment_ids": self.course_enrolment_ids,
            "expect": self.expect,
        }
        if self.owners:
            shown["owners"] = self.owners
        return shown


class CaseBuilder:
    """Builds planted learners and enrolments through the generator's record builders."""

    def __init__(self, generator: Generator) -> None:
        self.g = generator
        self.today = generator.today

    def ago(self, days: int) -> date:
        """The date `days` calendar days before today (negative: after)."""
        return self.today - timedelta(days=days)

    def business_days_ago(self, count: int) -> date:
        """The business day `count` business days before today (weekends and holidays skipped)."""
        day = self.today
        while count:
            day -= timedelta(days=1)
            if self.g.calendar.is_business_day(day):
                count -= 1
        return day

    def learner(
        self,
        *,
        active: bool = True,
        personal: dict[str, Any] | None = None,
        address: dict[str, Any] | None = None,
        demographics: dict[str, Any] | None = None,
        email: str | bool | None = True,
        mobile: str | bool | None = True,
    ) -> int:
        """A complete learner with the given fields replaced."""
        learner_id = self.g.next_id("learner")
        row = self.g.learner_row(learner_id, complete=True)
        row["Personal"]["IsActive"] = active
        row["Personal"].update(personal or {})
        row["Personal"]["StreetAddress"].update(address or {})
        row["Demographics"].update(demographics or {})
        if email is not True:
            row["Personal"]["EmailAddresses"]["Email"] = email or None
        if mobile is not True:
            row["Personal"]["PhoneNumbers"]["Mobile"] = mobile or None
        self.g.put_learner(row)
        return learner_id

    def application(
        self,
        learner_id: int,
        status: str,
        *,
        enquired_days_ago: int = 7,
        expiry: date | None = None,
    ) -> int:
        """An Enquiry, Pending or Declined enrolment on a future offer, with no units."""
        offer = self.g.offer_ending(self.ago(-300))
        ce = self.g.enrolment_row(learner_id, offer, status)
        ce.update(
            TagIds=[],
            EnquiryDate=self.g.at(self.ago(enquired_days_ago)),
            ApplicationExpiryDate=expiry,
        )
        self.g.put_enrolment(ce)
        return int(ce["CourseEnrolmentId"])

    def current(
        self,
        learner_id: int,
        *,
        ends_days_ago: int = -120,
        overdue_unit_days_ago: int | None = None,
        unit_ending_today: bool = False,
        for_avetmiss: bool = True,
        status: str = "Current",
    ) -> tuple[int, list[int]]:
        """A Current enrolment: units ended before today competent, later ones continuing.

        Returns the enrolment id and the ids of any specially planted units.
        """
        offer = self.g.offer_ending(self.ago(ends_days_ago))
        ce = self.g.enrolment_row(learner_id, offer, status)
        ce.update(TagIds=[], ForAvetmissFlag=for_avetmiss)
        self.g.put_enrolment(ce)
        ce_id = int(ce["CourseEnrolmentId"])
        units = self.g.unit_offers_by_offer[offer["CourseOfferId"]]
        if status == "Current":
            for unit in units[:6]:
                self.g.unit_enrolment(ce_id, unit, "20" if unit["EndDate"] < self.today else "70")
        planted = []
        if overdue_unit_days_ago is not None:
            ue = self.g.unit_enrolment(ce_id, units[6], "70", end=self.ago(overdue_unit_days_ago))
            planted.append(int(ue["UnitEnrolmentId"]))
        if unit_ending_today:
            ue = self.g.unit_enrolment(ce_id, units[7], None, end=self.today)
            planted.append(int(ue["UnitEnrolmentId"]))
        return ce_id, planted

    def finished(  # noqa: PLR0913 - each keyword plants one kind of fact
        self,
        learner_id: int,
        status: str,
        completed_days_ago: int | None,
        *,
        outcomes: Sequence[str | None] = ("20", "20", "20", "20"),
        credential: tuple[str, int] | None = None,
        qualification_issued_days_ago: int | None = None,
        unit_actual_end: bool = True,
        ce_end_days_ago: int | None = None,
        ce_actual_end_days_ago: int | None = None,
        tags: Sequence[str] = (),
        short_course: str | None = None,
        staff: dict[str, int | None] | None = None,
    ) -> int:
        """A finalised (or Completion Pending) enrolment whose completion date is planted.

        The units are the last units of an offer ending `completed_days_ago` days ago, so the
        latest final unit ends on that day. `credential` is (status, days ago).
        """
        end = self.ago(completed_days_ago if completed_days_ago is not None else 400)
        offer = (
            self.g.offer_ending(end)
            if short_course is None
            else self.g.short_course_offer(short_course, end)
        )
        ce = self.g.enrolment_row(learner_id, offer, status)
        ce.update(TagIds=[{"TagId": self.g.tag_ids[name]} for name in tags], **(staff or {}))
        if ce_end_days_ago is not None:
            ce["EndDate"] = self.ago(ce_end_days_ago)
        if ce_actual_end_days_ago is not None:
            ce["ActualEndDate"] = self.ago(ce_actual_end_days_ago)
        if completed_days_ago is None:
            ce["EndDate"] = ce["ActualEndDate"] = None
        if qualification_issued_days_ago is not None:
            ce.update(
                QualificationIssuedFlag=True,
                QualificationIssuedDate=self.ago(qualification_issued_days_ago),
            )
        self.g.put_enrolment(ce)
        ce_id = int(ce["CourseEnrolmentId"])
        units = self.g.unit_offers_by_offer[offer["CourseOfferId"]]
        chosen: list[Row] = units[len(units) - len(outcomes) :]
        for unit, outcome in zip(chosen, outcomes, strict=True):
            self.g.unit_enrolment(ce_id, unit, outcome, actual_end=bool(unit_actual_end))
        if credential is not None:
            self.g.credential(ce_id, credential[0], self.ago(credential[1]))
        return ce_id

    def checklist(self, learner_id: int, *, due_days_ago: int, completed: bool = False) -> int:
        """A learner checklist due `due_days_ago` days ago."""
        row = self.g.checklist(
            "Learner", learner_id, due=self.ago(due_days_ago), completed=completed
        )
        return int(row["ChecklistId"])


def expect(
    learner_stage: str | None,
    enrolments: dict[int, tuple[str, Sequence[str]]],
    flags: Sequence[tuple[str, str, int]] = (),
) -> dict[str, Any]:
    """The expected decision: stages, desired owned tags per enrolment, and every flag."""
    return {
        "learner_stage": learner_stage,
        "course_enrolments": {
            str(ce): {"stage": stage, "tags": sorted(tags)}
            for ce, (stage, tags) in enrolments.items()
        },
        "flags": sorted([list(flag) for flag in flags]),
    }


CaseFn = Callable[[CaseBuilder], PlantedCase]
CASES: list[CaseFn] = []
# Built after the random population, so that adding one leaves a seed's population as it was
# (only its last learners make room).
LATE_CASES: list[CaseFn] = []


def case(
    description: str, *, late: bool = False
) -> Callable[[Callable[[CaseBuilder], tuple[int, list[int], dict[str, Any]]]], CaseFn]:
    """Register a case function; `_stage_declined` becomes the case `stage-declined`."""

    def register(fn: Callable[[CaseBuilder], tuple[int, list[int], dict[str, Any]]]) -> CaseFn:
        name = fn.__name__.lstrip("_").replace("_", "-")

        def build(builder: CaseBuilder) -> PlantedCase:
            learner_id, ces, expected = fn(builder)
            owners = expected.pop("owners", {})
            return PlantedCase(name, description, learner_id, ces, expected, owners)

        build.__name__ = fn.__name__
        (LATE_CASES if late else CASES).append(build)
        return build

    return register


# --- stages ---------------------------------------------------------------------------------


@case("Declined application: the enrolment is closed and the learner has no stage")
def _stage_declined(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.application(learner, "Declined")
    return learner, [ce], expect(None, {ce: (CLOSED, [])})


@case("Enquiry: Sales")
def _stage_enquiry(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.application(learner, "Enquiry")
    return learner, [ce], expect(SALES, {ce: (SALES, [])})


@case("Pending application: Sales")
def _stage_pending(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.application(learner, "Pending")
    return learner, [ce], expect(SALES, {ce: (SALES, [])})


@case("Current enrolment: Progression, nothing missing or late")
def _stage_current(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


@case("Deferred: a status no rule covers, so the enrolment is unmapped")
def _stage_deferred(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner, status="Deferred")
    return learner, [ce], expect(None, {ce: (UNMAPPED, [])})


@case("Completion Pending 10 days after the last unit: Completion, certificate not yet due")
def _stage_completion_pending(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completion Pending", 10)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, [])})


@case("Learner stage precedence: Progression beats Sales beats Completion")
def _learner_stage_precedence(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    done = b.finished(learner, "Completed", 10)
    enquiry = b.application(learner, "Enquiry")
    current, _ = b.current(learner)
    return (
        learner,
        [done, enquiry, current],
        expect(
            PROGRESSION,
            {
                done: (COMPLETION, []),
                enquiry: (SALES, []),
                current: (PROGRESSION, []),
            },
        ),
    )


# --- Reconnect boundary -----------------------------------------------------------------------


def _reconnect_day(b: CaseBuilder, days: int) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", days, credential=("Issued", days - 5))
    reconnected = days >= 60
    stage = RECONNECT if reconnected else COMPLETION
    tags = [CERTIFIED, RECONNECT_ELIGIBLE] if reconnected else [CERTIFIED]
    return learner, [ce], expect(stage, {ce: (stage, tags)})


@case("Certified completion 59 days ago: still Completion")
def _reconnect_day_59(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _reconnect_day(b, 59)


@case("Certified completion 60 days ago: Reconnect (at least 60 days)")
def _reconnect_day_60(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _reconnect_day(b, 60)


@case("Certified completion 61 days ago: Reconnect")
def _reconnect_day_61(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _reconnect_day(b, 61)


# --- certificate deadlines ----------------------------------------------------------------------


def _certificate_day(b: CaseBuilder, days: int) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    return _certificate_expectation(learner, b.finished(learner, "Completed", days), days)


def _certificate_expectation(
    learner: int, ce: int, days: int
) -> tuple[int, list[int], dict[str, Any]]:
    """What the default rules decide for an uncertified completion `days` days ago."""
    flags: list[tuple[str, str, int]] = []
    tags: list[str] = []
    if 21 <= days <= 30:
        flags.append(("certificate-due-soon", "course_enrolment", ce))
    elif days > 30:
        flags.append((CERTIFICATE_OVERDUE, "course_enrolment", ce))
        tags.append(CERTIFICATE_OVERDUE)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, tags)}, flags)


@case("Uncertified completion 20 days ago: nothing due yet")
def _certificate_day_20(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 20)


@case("Uncertified completion 21 days ago: certificate due soon")
def _certificate_day_21(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 21)


@case("Uncertified completion 30 days ago: certificate due soon (last day)")
def _certificate_day_30(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 30)


@case("Uncertified completion 31 days ago: certificate overdue")
def _certificate_day_31(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 31)


@case("Uncertified completion 364 days ago: overdue, inside the look-back")
def _lookback_day_364(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 364)


@case("Uncertified completion 365 days ago: overdue, the look-back's last day")
def _lookback_day_365(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_day(b, 365)


@case("Uncertified completion 366 days ago: outside the look-back, reported not flagged")
def _lookback_day_366(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 366)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, [])})


# --- finalisation ------------------------------------------------------------------------------


@case("Current, course ended 14 days ago: not yet overdue for finalisation")
def _finalisation_day_14(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner, ends_days_ago=14)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


@case("Current, course ended 15 days ago: finalisation overdue")
def _finalisation_day_15(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner, ends_days_ago=15)
    return (
        learner,
        [ce],
        expect(
            PROGRESSION, {ce: (PROGRESSION, [])}, [("finalisation-overdue", "course_enrolment", ce)]
        ),
    )


# --- worked examples ---------------------------------------------------------------------------


@case("Worked example: withdrawn years ago with no competent unit, plus a certified completion")
def _example_withdrawn_plus_certified(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    old = b.finished(learner, "Withdrawn", 2200, outcomes=("40", "40", "30"))
    done = b.finished(learner, "Completed", 730, credential=("Issued", 720))
    return (
        learner,
        [old, done],
        expect(
            RECONNECT,
            {
                old: (RECONNECT, []),
                done: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE]),
            },
        ),
    )


@case("Worked example: Cancelled (no penalty) with no units, ended 3 months ago")
def _example_cancelled_no_units(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Cancelled (no penalty)", 91, outcomes=())
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [RECONNECT_ELIGIBLE])})


@case("Worked example: completed 3 years ago, never certified: Completion, not flagged")
def _example_old_uncertified(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 1095)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, [])})


@case("Worked example: certified 90 days ago plus a Declined application last week")
def _example_certified_plus_declined(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    done = b.finished(learner, "Completed", 90, credential=("Issued", 80))
    declined = b.application(learner, "Declined", enquired_days_ago=7)
    return (
        learner,
        [done, declined],
        expect(
            RECONNECT,
            {
                done: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE]),
                declined: (CLOSED, []),
            },
        ),
    )


@case("Worked example: certified 90 days ago plus a new Enquiry: Sales, reconnect-eligible gone")
def _example_certified_plus_enquiry(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    done = b.finished(learner, "Completed", 90, credential=("Issued", 80))
    enquiry = b.application(learner, "Enquiry", enquired_days_ago=3)
    return (
        learner,
        [done, enquiry],
        expect(
            SALES,
            {
                done: (RECONNECT, [CERTIFIED]),
                enquiry: (SALES, []),
            },
        ),
    )


# --- certification -----------------------------------------------------------------------------


@case("Withdrawn with a competent unit: a statement of attainment is owed and overdue")
def _withdrawn_with_competent_unit(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Withdrawn", 100, outcomes=("20", "40", "40"))
    return (
        learner,
        [ce],
        expect(
            COMPLETION,
            {ce: (COMPLETION, [CERTIFICATE_OVERDUE])},
            [(CERTIFICATE_OVERDUE, "course_enrolment", ce)],
        ),
    )


@case("Certified by QualificationIssuedFlag alone (no credential record)")
def _qualification_flag_certified(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 45, qualification_issued_days_ago=40)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, [CERTIFIED])})


@case("A Cancelled credential does not certify: certificate overdue")
def _credential_cancelled(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 40, credential=("Cancelled", 38))
    return (
        learner,
        [ce],
        expect(
            COMPLETION,
            {ce: (COMPLETION, [CERTIFICATE_OVERDUE])},
            [(CERTIFICATE_OVERDUE, "course_enrolment", ce)],
        ),
    )


@case("A Requested credential does not certify: certificate due soon")
def _credential_requested(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 25, credential=("Requested", 24))
    return (
        learner,
        [ce],
        expect(
            COMPLETION, {ce: (COMPLETION, [])}, [("certificate-due-soon", "course_enrolment", ce)]
        ),
    )


@case("Cancelled (penalty), competent unit, statement issued: Reconnect, no `certified` tag")
def _cancelled_penalty_certified(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(
        learner, "Cancelled (penalty)", 70, outcomes=("20", "40"), credential=("Issued", 65)
    )
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [RECONNECT_ELIGIBLE])})


@case("Partial Attendance with no competent unit: nothing owed, Reconnect after 61 days")
def _partial_attendance_not_owed(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Partial Attendance", 61, outcomes=("40", "30"))
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [RECONNECT_ELIGIBLE])})


@case("Completion date from the units' EndDate when no unit has an ActualEndDate")
def _completion_date_from_unit_end(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(
        learner,
        "Completed",
        62,
        unit_actual_end=False,
        ce_end_days_ago=-10,
        credential=("Issued", 50),
    )
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


@case("Completion date from the enrolment's ActualEndDate when it has no units")
def _completion_date_from_actual_end(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(
        learner,
        "Completed",
        65,
        outcomes=(),
        ce_end_days_ago=-30,
        ce_actual_end_days_ago=65,
        credential=("Issued", 60),
    )
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


@case("Withdrawn with no dates at all: completion date unknown, no time-driven rule")
def _completion_date_unknown(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Withdrawn", None, outcomes=())
    return (
        learner,
        [ce],
        expect(
            COMPLETION,
            {ce: (COMPLETION, [])},
            [("completion-date-unknown", "course_enrolment", ce)],
        ),
    )


@case("Two Reconnect enrolments with the same completion date: the higher id is tagged")
def _reconnect_tie(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    first = b.finished(learner, "Completed", 100, credential=("Issued", 90))
    second = b.finished(learner, "Completed", 100, credential=("Issued", 90))
    return (
        learner,
        [first, second],
        expect(
            RECONNECT,
            {
                first: (RECONNECT, [CERTIFIED]),
                second: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE]),
            },
        ),
    )


# --- missing data ------------------------------------------------------------------------------


def _gap(b: CaseBuilder, flag: str | None, **learner: Any) -> tuple[int, list[int], dict[str, Any]]:
    learner_id = b.learner(**learner)
    ce, _ = b.current(learner_id)
    flags = [] if flag is None else [(flag, "learner", learner_id)]
    tags = [MISSING_USI] if flag == MISSING_USI else []
    return learner_id, [ce], expect(PROGRESSION, {ce: (PROGRESSION, tags)}, flags)


@case("No USI: missing-usi, and the tag on the current enrolment")
def _missing_usi(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, MISSING_USI, personal={"UniqueStudentIdentifier": None, "UsiStatus": None})


@case("A USI with the letter O is not a USI: missing-usi")
def _usi_malformed(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, MISSING_USI, personal={"UniqueStudentIdentifier": "3AW88YH9O5"})


@case("A lower-case USI with spaces around it is trimmed and upper-cased: present")
def _usi_lowercase_padded(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, None, personal={"UniqueStudentIdentifier": " 3aw88yh9u5 "})


@case("USI present but not verified")
def _usi_unverified(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "usi-unverified", personal={"UsiStatus": "Unverified"})


@case("USI exemption code INDIV counts as present and verified")
def _usi_exemption(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, None, personal={"UniqueStudentIdentifier": "INDIV", "UsiStatus": None})


@case("No date of birth")
def _missing_date_of_birth(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "missing-date-of-birth", personal={"DateOfBirth": None})


@case("No gender")
def _missing_gender(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "missing-gender", personal={"GenderId": None})


@case("Australian address without a state")
def _missing_address_state(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "missing-address", address={"StateId": None})


@case("Address without a postcode")
def _missing_address_postcode(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "missing-address", address={"Postcode": None})


@case("Overseas address without a state is complete")
def _overseas_address_no_state(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    nz = b.g.vocab.id_of("countries", "New Zealand")
    return _gap(
        b,
        None,
        address={
            "StateId": None,
            "CountryId": nz,
            "SuburbTownCity": "Ponsonby",
            "Postcode": "1011",
        },
    )


@case("Neither email nor mobile")
def _missing_contact(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _gap(b, "missing-contact", email=None, mobile=None)


@case("AVETMISS-reported enrolment of a learner without indigenous and employment status")
def _missing_avetmiss(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner(demographics={"IndigenousStatusId": None, "EmploymentStatusId": None})
    ce, _ = b.current(learner)
    return (
        learner,
        [ce],
        expect(
            PROGRESSION, {ce: (PROGRESSION, [])}, [("missing-avetmiss", "course_enrolment", ce)]
        ),
    )


@case("The same gaps on an enrolment not reported to AVETMISS: no flag")
def _avetmiss_not_reported(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner(demographics={"IndigenousStatusId": None, "EmploymentStatusId": None})
    ce, _ = b.current(learner, for_avetmiss=False)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


@case("A bare enquiry with no USI and no contact: out of scope for missing data")
def _bare_enquiry_missing_data(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner(personal={"UniqueStudentIdentifier": None}, email=None, mobile=None)
    ce = b.application(learner, "Enquiry")
    return learner, [ce], expect(SALES, {ce: (SALES, [])})


# --- overdue work ------------------------------------------------------------------------------


@case("A continuing unit whose end date has passed: outcome overdue")
def _outcome_overdue(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, (unit,) = b.current(learner, overdue_unit_days_ago=5)
    return (
        learner,
        [ce],
        expect(PROGRESSION, {ce: (PROGRESSION, [])}, [("outcome-overdue", "unit_enrolment", unit)]),
    )


@case("A unit ending today with no outcome: not yet overdue")
def _outcome_ends_today(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner, unit_ending_today=True)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


@case("An enquiry whose application expired yesterday")
def _application_expired(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.application(learner, "Enquiry", expiry=b.ago(1))
    return (
        learner,
        [ce],
        expect(SALES, {ce: (SALES, [])}, [("application-expired", "course_enrolment", ce)]),
    )


@case("An enquiry whose application expires today: not expired")
def _application_expires_today(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.application(learner, "Enquiry", expiry=b.today)
    return learner, [ce], expect(SALES, {ce: (SALES, [])})


@case("An incomplete learner checklist due three days ago")
def _checklist_overdue(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner)
    checklist = b.checklist(learner, due_days_ago=3)
    return (
        learner,
        [ce],
        expect(
            PROGRESSION, {ce: (PROGRESSION, [])}, [("checklist-overdue", "checklist", checklist)]
        ),
    )


@case("An overdue checklist of a learner in Reconnect is not flagged")
def _checklist_overdue_in_reconnect(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(learner, "Completed", 120, credential=("Issued", 110))
    b.checklist(learner, due_days_ago=3)
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


@case("A completed checklist is never overdue")
def _checklist_completed(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner)
    b.checklist(learner, due_days_ago=3, completed=True)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


# --- who is written ----------------------------------------------------------------------------


@case("Inactive learner in Reconnect: decided and reported, never written")
def _inactive_learner_reconnect(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner(active=False)
    ce = b.finished(learner, "Completed", 200, credential=("Issued", 190))
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


@case("Inactive learner with an uncertified completion: no flags (scope is active learners)")
def _inactive_learner_overdue(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner(active=False, personal={"UniqueStudentIdentifier": None})
    ce = b.finished(learner, "Completed", 40)
    return learner, [ce], expect(COMPLETION, {ce: (COMPLETION, [])})


@case("Staff tags (VIP, an archived Follow up) stay untouched beside the connector's")
def _human_tags_kept(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(
        learner, "Completed", 120, credential=("Issued", 110), tags=("VIP", "Follow up")
    )
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


# --- the language of an RTO: business days, audiences, owners (late cases) -------------------


def _certificate_on(b: CaseBuilder, completed: date) -> tuple[int, list[int], dict[str, Any]]:
    """An uncertified completion on `completed`, decided by the default 30-calendar-day rules."""
    learner = b.learner()
    days = (b.today - completed).days
    return _certificate_expectation(learner, b.finished(learner, "Completed", days), days)


@case(
    "Uncertified completion 20 business days ago (weekends and the sandbox's public holidays "
    "skipped): the last day of a 20-business-day deadline",
    late=True,
)
def _certificate_20_business_days(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_on(b, b.business_days_ago(20))


@case(
    "Uncertified completion 21 business days ago: one day past a 20-business-day deadline",
    late=True,
)
def _certificate_21_business_days(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _certificate_on(b, b.business_days_ago(21))


@case(
    "A first-aid short course (HLTAID011) completed and certified 90 days ago: Reconnect by "
    "default; the `short_courses` audience of the default mapping's comment closes it",
    late=True,
)
def _short_course_finished(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce = b.finished(
        learner,
        "Completed",
        90,
        outcomes=("20",),
        credential=("Issued", 85),
        short_course="HLTAID011",
    )
    return learner, [ce], expect(RECONNECT, {ce: (RECONNECT, [CERTIFIED, RECONNECT_ELIGIBLE])})


@case("An international student's current enrolment (study mode International)", late=True)
def _international_current(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    ce, _ = b.current(learner)
    row = b.g.db.course_enrolments.rows[ce]
    row["StudyModeId"] = b.g.vocab.id_of("study-modes", "International")
    b.g.put_enrolment(row)
    return learner, [ce], expect(PROGRESSION, {ce: (PROGRESSION, [])})


def _owned(
    b: CaseBuilder, trainer: int, coordinator: int | None
) -> tuple[int, list[int], dict[str, Any]]:
    learner = b.learner()
    staff = {"TrainerId": trainer, "CoordinatorId": coordinator}
    ce = b.finished(learner, "Completed", 40, staff=staff)
    found = _certificate_expectation(learner, ce, 40)
    found[2]["owners"] = {str(ce): coordinator if coordinator is not None else trainer}
    return found


@case("Overdue certificate of an enrolment with a coordinator: the coordinator owns it", late=True)
def _owner_coordinator(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _owned(b, trainer=23, coordinator=42)


@case("Overdue certificate of an enrolment with no coordinator: its trainer owns it", late=True)
def _owner_trainer_only(b: CaseBuilder) -> tuple[int, list[int], dict[str, Any]]:
    return _owned(b, trainer=24, coordinator=None)
