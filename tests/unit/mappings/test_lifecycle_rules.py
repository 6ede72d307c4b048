"""lifecycle.md, table row by table row, through the engine with the shipped default mapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from mappings.bundle import Address, Checklist, LearnerBundle
from mappings.decision import Decision, Flag
from mappings.evaluate import evaluate
from tests.support.bundles import (
    COMPLETE_AVETMISS,
    TODAY,
    ago,
    bundle,
    default_mapping,
    enrolment,
    issued,
    learner,
    unit,
)

CE = "course_enrolment"


def address(
    *,
    suburb: bool = True,
    postcode: bool = True,
    state: bool = True,
    country: str | None = "Australia",
) -> Address:
    """A street address with the given parts present."""
    return Address(has_suburb=suburb, has_postcode=postcode, has_state=state, country=country)


def decide(subject: LearnerBundle) -> Decision:
    """The default mapping's decision, as of the tests' today."""
    return evaluate(subject, default_mapping(), TODAY)


def stage_of(subject: LearnerBundle, ce_id: int = 10) -> str:
    """One enrolment's stage."""
    return decide(subject).enrolment(ce_id).stage


def flags(subject: LearnerBundle) -> set[tuple[str, str, int]]:
    """Every raised flag's key."""
    return set(decide(subject).flag_keys())


def tags(subject: LearnerBundle, ce_id: int = 10) -> set[str]:
    """One enrolment's desired owned tags."""
    return set(decide(subject).enrolment(ce_id).desired_tags)


def finished(status: str, days: int, *outcomes: str, certified: bool = False) -> LearnerBundle:
    """An enrolment (id 10) whose final units ended `days` ago, optionally certified."""
    units = [unit(20 + i, 10, code, days) for i, code in enumerate(outcomes or ("20",))]
    extra = [issued(30, 10)] if certified else []
    return bundle(enrolment(10, status, end_date=ago(days)), *units, *extra)


def current(**changes: Any) -> LearnerBundle:
    """A learner (with `changes`) in Progression."""
    return bundle(enrolment(10, "Current", end_date=ago(-100)), who=learner(**changes))


# --- §2 derived facts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "owed"),
    [("20", True), ("51", True), ("60", True), ("30", False), ("40", False), ("70", False)],
)
def test_competent_outcomes_make_a_statement_owed_on_withdrawal(code: str, owed: bool) -> None:
    """Competent = {20, 51, 60}: a withdrawal with such a unit owes a statement of attainment."""
    subject = finished("Withdrawn", 100, code, "40")
    assert (("certificate-overdue", CE, 10) in flags(subject)) is owed


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        ("20", True),
        ("30", True),
        ("65", True),
        ("82", True),
        ("70", False),
        ("85", False),
        ("NS", False),
        ("00", False),
    ],
)
def test_only_final_outcomes_date_the_completion(code: str, counts: bool) -> None:
    """The completion date comes from units with a final outcome; others are ignored."""
    subject = bundle(
        enrolment(10, "Withdrawn", end_date=ago(10)), unit(20, 10, code, 100), issued(30, 10)
    )
    assert stage_of(subject) == ("Reconnect" if counts else "Completion")


@pytest.mark.parametrize(
    "status",
    [
        "Completed",
        "Withdrawn",
        "Cancelled (no penalty)",
        "Cancelled (penalty)",
        "Partial Attendance",
    ],
)
def test_finalised_statuses_reach_reconnect_once_settled(status: str) -> None:
    """Each finalised status, settled and 60 days on, is Reconnect."""
    assert stage_of(finished(status, 60, "40", certified=True)) == "Reconnect"


def test_completion_pending_is_not_finalised() -> None:
    """Completion Pending stays Completion however long ago, even certified."""
    assert stage_of(finished("Completion Pending", 400, certified=True)) == "Completion"


def test_completion_date_prefers_the_latest_actual_end_of_final_units() -> None:
    """Step 1: the latest ActualEndDate among final units (the CE's own dates are ignored)."""
    subject = bundle(
        enrolment(10, "Withdrawn", end_date=ago(1), actual_end_date=ago(1)),
        unit(20, 10, "40", 100),
        unit(21, 10, "30", 61),
    )
    assert stage_of(subject) == "Reconnect"
    assert "days ago" not in str(decide(subject).flags)


def test_completion_date_falls_back_to_final_units_end_date() -> None:
    """Step 2: with no actual end dates, the latest EndDate among final units."""
    subject = bundle(
        enrolment(10, "Withdrawn", end_date=ago(1)),
        unit(20, 10, "40", 70, actual=False),
        unit(21, 10, "70", 1),
    )
    assert stage_of(subject) == "Reconnect"


def test_completion_date_falls_back_to_the_enrolments_actual_end_then_end() -> None:
    """Steps 3 and 4: the CE's ActualEndDate, then its EndDate."""
    actual = bundle(enrolment(10, "Withdrawn", actual_end_date=ago(60), end_date=ago(1)))
    planned = bundle(enrolment(10, "Withdrawn", end_date=ago(60)))
    assert stage_of(actual) == stage_of(planned) == "Reconnect"


def test_no_completion_date_flags_and_stops_time_driven_rules() -> None:
    """Unknown completion date: completion-date-unknown, Completion, no overdue flag."""
    subject = bundle(enrolment(10, "Completed"))
    assert stage_of(subject) == "Completion"
    assert flags(subject) == {("completion-date-unknown", CE, 10)}


@pytest.mark.parametrize(
    ("credential", "flag", "certified"),
    [
        ("Issued", False, True),
        (" issued ", False, True),
        ("Requested", False, False),
        ("Cancelled", False, False),
        (None, True, True),
    ],
)
def test_certified_by_issued_credential_or_qualification_flag(
    credential: str | None, flag: bool, certified: bool
) -> None:
    """Certified = an Issued credential, or QualificationIssuedFlag."""
    extra = [issued(30, 10, credential)] if credential else []
    subject = bundle(
        enrolment(10, "Completed", end_date=ago(45), qualification_issued=flag),
        unit(20, 10, "20", 45),
        *extra,
    )
    assert ("certified" in tags(subject)) is certified
    assert (("certificate-overdue", CE, 10) in flags(subject)) is not certified


@pytest.mark.parametrize(
    ("status", "competent", "owed"),
    [
        ("Completed", False, True),
        ("Completion Pending", False, True),
        ("Withdrawn", True, True),
        ("Withdrawn", False, False),
        ("Cancelled (penalty)", True, True),
        ("Partial Attendance", False, False),
        ("Current", True, False),
    ],
)
def test_certificate_owed(status: str, competent: bool, owed: bool) -> None:
    """Owed: Completed or Completion Pending; a non-completion only with a competent unit."""
    subject = finished(status, 40, "20" if competent else "40")
    assert (("certificate-overdue", CE, 10) in flags(subject)) is owed


@pytest.mark.parametrize(
    ("usi", "status", "expected"),
    [
        ("3AW88YH9U5", "Verified", set()),
        (" 3aw88yh9u5 ", "verified", set()),
        ("3AW88YH9I5", "Verified", {"missing-usi"}),
        ("3AW88YH9O5", "Verified", {"missing-usi"}),
        ("3AW88YH9U", "Verified", {"missing-usi"}),
        ("3AW88YH915", "Verified", {"missing-usi"}),
        (None, None, {"missing-usi"}),
        ("3AW88YH9U5", "Unverified", {"usi-unverified"}),
        ("3AW88YH9U5", None, {"usi-unverified"}),
        ("INDIV", None, set()),
        ("intoff", None, set()),
        ("SHORT", "Unverified", set()),
    ],
)
def test_usi_present_and_verified(usi: str | None, status: str | None, expected: set[str]) -> None:
    """USI: 10 of [2-9 A-Z but I, O] after trimming and upper-casing, or an exemption code."""
    raised = {key[0] for key in flags(current(usi=usi, usi_status=status))}
    assert raised == expected


# --- §3 stage of one enrolment ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("Declined", "closed"),
        ("Enquiry", "Sales"),
        ("Pending", "Sales"),
        ("Current", "Progression"),
        ("Completion Pending", "Completion"),
        ("Deferred", "unmapped"),
        (None, "unmapped"),
    ],
)
def test_stage_rules_by_status(status: str | None, stage: str) -> None:
    """Rules 1, 2, 3, 5 and 6 of the stage table."""
    assert stage_of(bundle(enrolment(10, status, end_date=ago(200)))) == stage  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "stage"), [(59, "Completion"), (60, "Reconnect"), (61, "Reconnect")]
)
def test_reconnect_after_sixty_days(days: int, stage: str) -> None:
    """Rule 4: settled and at least 60 days after completion."""
    assert stage_of(finished("Completed", days, certified=True)) == stage


def test_an_owed_certificate_holds_the_enrolment_in_completion() -> None:
    """Rule 4 needs nothing owed or the certificate issued; otherwise rule 5."""
    assert stage_of(finished("Completed", 400)) == "Completion"


# --- §4 learner stage and worked examples ---------------------------------------------------------


def test_learner_stage_precedence() -> None:
    """Progression > Sales > Completion > Reconnect; closed and unmapped give no stage."""
    ranked = [
        ("Current", "Progression"),
        ("Enquiry", "Sales"),
        ("Completion Pending", "Completion"),
    ]
    records = [enrolment(10 + i, status, end_date=ago(5)) for i, (status, _) in enumerate(ranked)]
    for count in range(len(records), 0, -1):
        assert decide(bundle(*records[-count:])).learner_stage == ranked[-count][1]
    assert (
        decide(bundle(enrolment(10, "Declined"), enrolment(11, "Deferred"))).learner_stage is None
    )


def test_example_withdrawn_2019_plus_certified_2023() -> None:
    """Both Reconnect; learner Reconnect; reconnect-eligible on the certified completion."""
    subject = bundle(
        enrolment(10, "Withdrawn", end_date=ago(2200)),
        unit(20, 10, "40", 2200),
        enrolment(11, "Completed", end_date=ago(730)),
        unit(21, 11, "20", 730),
        issued(30, 11),
    )
    decision = decide(subject)
    assert decision.learner_stage == "Reconnect"
    assert [(ce.stage, set(ce.desired_tags)) for ce in decision.course_enrolments] == [
        ("Reconnect", set()),
        ("Reconnect", {"certified", "reconnect-eligible"}),
    ]


def test_example_cancelled_no_units_three_months_ago() -> None:
    """Completion date = EndDate, nothing owed: Reconnect."""
    subject = bundle(enrolment(10, "Cancelled (no penalty)", end_date=ago(91)))
    assert stage_of(subject) == "Reconnect"
    assert decide(subject).learner_stage == "Reconnect"


def test_example_completed_three_years_ago_never_certified() -> None:
    """Completion, and outside the look-back: no certificate-overdue."""
    subject = finished("Completed", 3 * 365)
    assert stage_of(subject) == "Completion"
    assert flags(subject) == set()


def test_example_certified_ninety_days_plus_declined_last_week() -> None:
    """Learner Reconnect; the Declined enrolment is closed."""
    subject = bundle(
        *finished("Completed", 90, certified=True).course_enrolments,
        *finished("Completed", 90, certified=True).unit_enrolments,
        issued(30, 10),
        enrolment(11, "Declined", enquiry_date=ago(7)),
    )
    decision = decide(subject)
    assert decision.learner_stage == "Reconnect"
    assert decision.enrolment(11).stage == "closed"
    assert "reconnect-eligible" in decision.enrolment(10).desired_tags


def test_example_certified_ninety_days_plus_new_enquiry() -> None:
    """Learner Sales; reconnect-eligible is no longer desired."""
    base = finished("Completed", 90, certified=True)
    subject = replace(base, course_enrolments=(*base.course_enrolments, enrolment(11, "Enquiry")))
    decision = decide(subject)
    assert decision.learner_stage == "Sales"
    assert decision.enrolment(10).stage == "Reconnect"
    assert decision.enrolment(10).desired_tags == {"certified"}


# --- §5 missing data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"has_date_of_birth": False}, "missing-date-of-birth"),
        ({"has_gender": False}, "missing-gender"),
        (
            {"address": address(suburb=False)},
            "missing-address",
        ),
        ({"address": address(postcode=False)}, "missing-address"),
        ({"address": address(state=False)}, "missing-address"),
        ({"address": address(state=False, country=None)}, "missing-address"),
        ({"has_email": False, "has_mobile": False}, "missing-contact"),
    ],
)
def test_learner_missing_data_flags(changes: dict[str, object], flag: str) -> None:
    """Each missing-data flag on a learner with an enrolment in Progression."""
    learner_id = 1
    assert flags(current(**changes)) == {(flag, "learner", learner_id)}


@pytest.mark.parametrize(
    "changes",
    [
        {"address": address(state=False, country="New Zealand")},
        {"has_email": False},
        {"has_mobile": False},
    ],
)
def test_complete_enough_data_raises_nothing(changes: dict[str, object]) -> None:
    """An overseas address needs no state; email or mobile is enough contact."""
    assert flags(current(**changes)) == set()


def test_missing_avetmiss_lists_the_gaps_on_reported_enrolments() -> None:
    """On AVETMISS-reported enrolments in Progression or Completion, naming what is missing."""
    gaps = replace(COMPLETE_AVETMISS, has_indigenous_status=False, has_employment_status=False)
    subject = bundle(
        enrolment(10, "Current"),
        enrolment(11, "Current", for_avetmiss=False),
        enrolment(12, "Enquiry"),
        who=learner(avetmiss=gaps),
    )
    decision = decide(subject)
    assert decision.flag_keys() == {("missing-avetmiss", CE, 10)}
    assert decision.flags[0].reason == (
        "AVETMISS data missing: avetmiss.indigenous_status, avetmiss.employment_status"
    )


def test_missing_data_scope_excludes_bare_enquiries_and_inactive_learners() -> None:
    """Only active learners with an enrolment in Progression or Completion are checked."""
    gaps: dict[str, Any] = {"usi": None, "has_gender": False}
    assert flags(bundle(enrolment(10, "Enquiry"), who=learner(**gaps))) == set()
    assert flags(bundle(enrolment(10, "Current"), who=learner(is_active=False, **gaps))) == set()
    assert len(flags(bundle(enrolment(10, "Current"), who=learner(**gaps)))) == 2


# --- §6 overdue work ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "flag"),
    [
        (20, None),
        (21, "certificate-due-soon"),
        (30, "certificate-due-soon"),
        (31, "certificate-overdue"),
        (364, "certificate-overdue"),
        (365, "certificate-overdue"),
        (366, None),
    ],
)
def test_certificate_deadlines_and_look_back(days: int, flag: str | None) -> None:
    """Due soon on days 21-30, overdue after 30, only within 365 days."""
    expected = set() if flag is None else {(flag, CE, 10)}
    assert flags(finished("Completed", days)) == expected


@pytest.mark.parametrize(("days", "overdue"), [(14, False), (15, True), (365, True), (366, False)])
def test_finalisation_overdue(days: int, overdue: bool) -> None:
    """Current and EndDate more than 14 days ago (within the look-back)."""
    subject = bundle(enrolment(10, "Current", end_date=ago(days)))
    assert (("finalisation-overdue", CE, 10) in flags(subject)) is overdue


@pytest.mark.parametrize(
    ("status", "outcome", "days", "overdue"),
    [
        ("Current", None, 1, True),
        ("Current", "70", 5, True),
        ("Current", "20", 5, False),
        ("Current", None, 0, False),
        ("Current", None, 366, False),
        ("Withdrawn", None, 5, False),
    ],
)
def test_outcome_overdue(status: str, outcome: str | None, days: int, overdue: bool) -> None:
    """A unit of a Current enrolment past its EndDate with an in-progress outcome."""
    subject = bundle(
        enrolment(10, status, end_date=ago(-90)), unit(20, 10, outcome, days, actual=False)
    )
    assert (("outcome-overdue", "unit_enrolment", 20) in flags(subject)) is overdue


@pytest.mark.parametrize(
    ("status", "days", "expired"),
    [
        ("Enquiry", 1, True),
        ("Pending", 30, True),
        ("Enquiry", 0, False),
        ("Current", 5, False),
        ("Enquiry", 366, False),
    ],
)
def test_application_expired(status: str, days: int, expired: bool) -> None:
    """Sales and ApplicationExpiryDate before today."""
    subject = bundle(enrolment(10, status, application_expiry_date=ago(days), end_date=ago(-90)))
    assert (("application-expired", CE, 10) in flags(subject)) is expired


@pytest.mark.parametrize(
    ("status", "completed", "days", "overdue"),
    [
        ("Current", False, 1, True),
        ("Enquiry", False, 3, True),
        ("Current", True, 3, False),
        ("Current", False, 0, False),
        ("Declined", False, 3, False),
    ],
)
def test_checklist_overdue(status: str, completed: bool, days: int, overdue: bool) -> None:
    """Incomplete, due before today, learner with a stage other than Reconnect."""
    checklist = Checklist(
        id=40, entity="Learner", record_id=1, completed=completed, date_due=ago(days)
    )
    subject = bundle(enrolment(10, status, end_date=ago(-90)), checklist)
    assert (("checklist-overdue", "checklist", 40) in flags(subject)) is overdue


def test_checklists_of_learners_in_reconnect_are_not_overdue() -> None:
    """A learner in Reconnect has no overdue checklists."""
    base = finished("Completed", 100, certified=True)
    checklist = Checklist(id=40, entity="CourseEnrolment", record_id=10, date_due=ago(3))
    assert flags(replace(base, checklists=(checklist,))) == set()


def test_overdue_flags_need_an_active_learner() -> None:
    """Inactive learners are decided but never flagged."""
    subject = replace(finished("Completed", 40), learner=learner(is_active=False))
    assert flags(subject) == set()
    assert stage_of(subject) == "Completion"


# --- §7 tags ------------------------------------------------------------------------------------


def test_certified_tag_only_on_completed_enrolments() -> None:
    """`certified` marks certified Completed enrolments, not certified withdrawals."""
    assert tags(finished("Completed", 10, certified=True)) == {"certified"}
    assert "certified" not in tags(finished("Withdrawn", 10, "20", certified=True))


def test_reconnect_eligible_on_the_latest_reconnect_enrolment_ties_to_higher_id() -> None:
    """One per learner in Reconnect: latest completion date, tie broken by the higher id."""
    subject = bundle(
        enrolment(10, "Withdrawn", end_date=ago(100)),
        enrolment(11, "Withdrawn", end_date=ago(100)),
        enrolment(12, "Withdrawn", end_date=ago(300)),
    )
    decision = decide(subject)
    assert [set(ce.desired_tags) for ce in decision.course_enrolments] == [
        set(),
        {"reconnect-eligible"},
        set(),
    ]


def test_certificate_overdue_tag_follows_the_flag_and_goes_with_certification() -> None:
    """The tag is on every flagged enrolment and is no longer desired once certified."""
    assert tags(finished("Completed", 40)) == {"certificate-overdue"}
    assert tags(finished("Completed", 40, certified=True)) == {"certified"}


def test_missing_usi_tag_on_progression_and_completion_enrolments() -> None:
    """The learner flag is projected onto the learner's enrolments in those stages."""
    subject = bundle(
        enrolment(10, "Current"),
        enrolment(11, "Completion Pending", end_date=ago(5)),
        enrolment(12, "Enquiry"),
        who=learner(usi=None),
    )
    decision = decide(subject)
    assert [set(ce.desired_tags) for ce in decision.course_enrolments] == [
        {"missing-usi"},
        {"missing-usi"},
        set(),
    ]


def test_reasons_name_ids_and_dates_not_people() -> None:
    """A flag's reason is one line with the facts that raised it."""
    decision = decide(finished("Completed", 40))
    assert decision.flags[0].reason == (
        f"Completed on {ago(40).isoformat()}, 40 days ago; no certificate issued"
    )
    assert decision.flags[0].rule == "certificate-overdue"


def _raised(subject: LearnerBundle, flag: str) -> Flag:
    return next(raised for raised in decide(subject).flags if raised.flag == flag)


@pytest.mark.parametrize(("days", "overdue_by"), [(31, 1), (45, 15), (365, 335)])
def test_a_late_certificate_is_due_thirty_days_after_completion(days: int, overdue_by: int) -> None:
    """Day 31 after a completion is 1 day past the deadline: `due` is completion + 30."""
    raised = _raised(finished("Completed", days), "certificate-overdue")
    assert raised.kind == "overdue"
    assert raised.due == ago(days) + timedelta(days=30)
    assert (TODAY - raised.due).days == overdue_by
    assert raised.course_enrolment_id == 10


def test_each_overdue_flag_of_the_default_mapping_says_when_its_work_was_due() -> None:
    """Units by their end date, finalisation 14 days after it, applications and checklists."""
    units = bundle(enrolment(10, "Current", end_date=ago(20)), unit(20, 10, None, 3, actual=False))
    assert _raised(units, "outcome-overdue").due == ago(3)
    assert _raised(units, "outcome-overdue").course_enrolment_id == 10
    assert _raised(units, "finalisation-overdue").due == ago(20) + timedelta(days=14)
    sales = bundle(enrolment(10, "Enquiry", application_expiry_date=ago(4), end_date=ago(-90)))
    assert _raised(sales, "application-expired").due == ago(4)
    checklist = Checklist(id=40, entity="Learner", record_id=1, completed=False, date_due=ago(6))
    late = _raised(
        bundle(enrolment(10, "Current", end_date=ago(-90)), checklist), "checklist-overdue"
    )
    assert (late.due, late.course_enrolment_id) == (ago(6), None)


def test_missing_data_has_no_due_date() -> None:
    """A missing USI is missing, not late; a learner's flag belongs to no enrolment."""
    raised = _raised(
        bundle(enrolment(10, "Current", end_date=ago(-90)), who=learner(usi=None)), "missing-usi"
    )
    assert (raised.kind, raised.due, raised.course_enrolment_id) == ("missing_data", None, None)
