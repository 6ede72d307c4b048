"""A hand-written reference implementation of lifecycle.md (no mapping file, no engine code).

It serves the differential tests (the engine with the default mapping must agree with it) and
the engine benchmark's baseline. It reads the same bundle types and returns the same shape:
(learner stage, {enrolment id: (stage, desired tags)}, {(flag, subject kind, subject id)}), with
each flag's lateness and owner.

`Variant` holds the changes of the default mapping that the mapping-language tests make, each
written here by hand: a certificate deadline in business days, and courses that never move to
Reconnect: closed once settled (the `short_courses` audience of the default mapping's comment).
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, timedelta

from mappings.bundle import CourseEnrolment, LearnerBundle

RECONNECT_AFTER = 60
DEADLINE = 30
DUE_SOON = 21
FINALISATION_GRACE = 14
LOOKBACK = 365
COMPETENT = {"20", "51", "60"}
FINAL = {"20", "30", "40", "41", "51", "52", "60", "65", "81", "82"}
FINALISED = {
    "completed",
    "withdrawn",
    "cancelled (no penalty)",
    "cancelled (penalty)",
    "partial attendance",
}
NON_COMPLETION = FINALISED - {"completed"}
USI = re.compile(r"[2-9A-HJ-NP-Z]{10}")
EXEMPT = {"INTOFF", "SHORT", "INDIV"}
PRECEDENCE = ["Progression", "Sales", "Completion", "Reconnect"]
AVETMISS = (
    "has_highest_school_level",
    "has_country_of_birth",
    "has_primary_language",
    "has_indigenous_status",
    "has_employment_status",
    "has_disability_flag",
    "has_prior_education",
)


def usi_facts(raw: str | None) -> tuple[bool, bool, str | None]:
    """lifecycle.md §2 on a raw USI: (given, well-formed, exemption code), as the store keeps it."""
    usi = (raw or "").strip().upper()
    return bool(usi), bool(USI.fullmatch(usi)), usi if usi in EXEMPT else None


def norm(text: str | None) -> str | None:
    """Names compare trimmed, whitespace folded, case-insensitively."""
    return None if text is None else " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Outcome:
    """What lifecycle.md decides for one learner."""

    learner_stage: str | None
    enrolments: dict[int, tuple[str, frozenset[str]]]
    flags: frozenset[tuple[str, str, int]]
    days_overdue: dict[tuple[str, str, int], int] = field(default_factory=dict)
    owners: dict[tuple[str, str, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """Departures from lifecycle.md's defaults (none by default)."""

    deadline_business_days: int | None = None  # the certificate deadline; None: 30 calendar days
    holidays: Container[date] = frozenset()  # skipped by business days, as are weekends
    never_reconnect: frozenset[str] = frozenset()  # course codes (upper case) closed once settled


DEFAULTS = Variant()


def plus_business_days(day: date, count: int, holidays: Container[date]) -> date:
    """The `count`-th weekday after `day` that is not a holiday."""
    while count:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            count -= 1
    return day


def owner_of(ce: CourseEnrolment) -> int | None:
    """Who owes an enrolment's work: its coordinator, else its trainer."""
    return ce.coordinator_id if ce.coordinator_id is not None else ce.trainer_id


def decide(  # noqa: PLR0912, PLR0915
    bundle: LearnerBundle, today: date, variant: Variant = DEFAULTS
) -> Outcome:
    """Apply lifecycle.md (as `variant` changes it) to one learner."""
    learner = bundle.learner
    units = {
        ce.id: [u for u in bundle.unit_enrolments if u.course_enrolment_id == ce.id]
        for ce in bundle.course_enrolments
    }
    credentials = {
        ce.id: [c for c in bundle.credentials if c.course_enrolment_id == ce.id]
        for ce in bundle.course_enrolments
    }

    def completion_date(ce: CourseEnrolment) -> date | None:
        final = [
            u
            for u in units[ce.id]
            if u.outcome is not None and norm(u.outcome) in {norm(code) for code in FINAL}
        ]
        actual = [u.actual_end_date for u in final if u.actual_end_date]
        if actual:
            return max(actual)
        ends = [u.end_date for u in final if u.end_date]
        if ends:
            return max(ends)
        return ce.actual_end_date or ce.end_date

    def certified(ce: CourseEnrolment) -> bool:
        issued = any(norm(c.status) == "issued" for c in credentials[ce.id])
        return issued or ce.qualification_issued

    def owed(ce: CourseEnrolment) -> bool:
        status = norm(ce.status)
        if status in ("completed", "completion pending"):
            return True
        competent = any(
            u.outcome is not None and u.outcome.strip().casefold() in COMPETENT
            for u in units[ce.id]
        )
        return status in NON_COMPLETION and competent

    def stage(ce: CourseEnrolment) -> str:
        status = norm(ce.status)
        kept_out = (ce.course_code or "").strip().upper() in variant.never_reconnect
        settled = status in FINALISED and (not owed(ce) or certified(ce))
        if status == "declined" or (kept_out and settled):
            return "closed"
        if status in ("enquiry", "pending"):
            return "Sales"
        if status == "current":
            return "Progression"
        done = completion_date(ce)
        if settled and done is not None and done <= today - timedelta(days=RECONNECT_AFTER):
            return "Reconnect"
        if status in FINALISED or status == "completion pending":
            return "Completion"
        return "unmapped"

    stages = {ce.id: stage(ce) for ce in bundle.course_enrolments}
    ranked = [s for s in PRECEDENCE if s in stages.values()]
    learner_stage = ranked[0] if ranked else None

    flags: set[tuple[str, str, int]] = set()
    late_by: dict[tuple[str, str, int], int] = {}  # days past the day the work was due
    active = learner.is_active is True
    exempt = learner.usi_exemption in EXEMPT
    usi_present = learner.usi_well_formed or exempt
    verified = usi_present and (exempt or norm(learner.usi_status) == "verified")
    in_scope = active and any(s in ("Progression", "Completion") for s in stages.values())
    if in_scope:
        if not usi_present:
            flags.add(("missing-usi", "learner", learner.id))
        if usi_present and not verified:
            flags.add(("usi-unverified", "learner", learner.id))
        if not learner.has_date_of_birth:
            flags.add(("missing-date-of-birth", "learner", learner.id))
        if not learner.has_gender:
            flags.add(("missing-gender", "learner", learner.id))
        address = learner.address
        no_country = not (address.country or "").strip()
        australian = no_country or norm(address.country) == "australia"
        if (
            not address.has_suburb
            or not address.has_postcode
            or (australian and not address.has_state)
        ):
            flags.add(("missing-address", "learner", learner.id))
        if not learner.has_email and not learner.has_mobile:
            flags.add(("missing-contact", "learner", learner.id))
        avetmiss_gap = not all(getattr(learner.avetmiss, name) for name in AVETMISS)
        for ce in bundle.course_enrolments:
            if stages[ce.id] in ("Progression", "Completion") and ce.for_avetmiss and avetmiss_gap:
                flags.add(("missing-avetmiss", "course_enrolment", ce.id))
            finishing = norm(ce.status) in FINALISED or norm(ce.status) == "completion pending"
            if finishing and completion_date(ce) is None:
                flags.add(("completion-date-unknown", "course_enrolment", ce.id))

    def recent(day: date | None) -> bool:
        return day is not None and (today - day).days <= LOOKBACK

    if active:
        for ce in bundle.course_enrolments:
            done = completion_date(ce)
            if owed(ce) and not certified(ce) and done is not None and recent(done):
                late = (today - done).days
                deadline = (
                    done + timedelta(days=DEADLINE)
                    if variant.deadline_business_days is None
                    else plus_business_days(done, variant.deadline_business_days, variant.holidays)
                )
                if deadline < today:
                    flags.add(("certificate-overdue", "course_enrolment", ce.id))
                    late_by[("certificate-overdue", "course_enrolment", ce.id)] = (
                        today - deadline
                    ).days
                elif late >= DUE_SOON:
                    flags.add(("certificate-due-soon", "course_enrolment", ce.id))
                    late_by[("certificate-due-soon", "course_enrolment", ce.id)] = (
                        today - deadline
                    ).days
            if (
                norm(ce.status) == "current"
                and ce.end_date is not None
                and recent(ce.end_date)
                and (today - ce.end_date).days > FINALISATION_GRACE
            ):
                flags.add(("finalisation-overdue", "course_enrolment", ce.id))
                late_by[("finalisation-overdue", "course_enrolment", ce.id)] = (
                    today - ce.end_date
                ).days - FINALISATION_GRACE
            expiry = ce.application_expiry_date
            if (
                stages[ce.id] == "Sales"
                and expiry is not None
                and expiry < today
                and recent(expiry)
            ):
                flags.add(("application-expired", "course_enrolment", ce.id))
                late_by[("application-expired", "course_enrolment", ce.id)] = (today - expiry).days
            if norm(ce.status) == "current":
                for unit in units[ce.id]:
                    in_progress = (
                        unit.outcome is None or unit.outcome.strip().casefold() not in FINAL
                    )
                    if (
                        unit.end_date is not None
                        and unit.end_date < today
                        and in_progress
                        and recent(unit.end_date)
                    ):
                        flags.add(("outcome-overdue", "unit_enrolment", unit.id))
                        late_by[("outcome-overdue", "unit_enrolment", unit.id)] = (
                            today - unit.end_date
                        ).days
        if learner_stage in ("Sales", "Progression", "Completion"):
            for checklist in bundle.checklists:
                due = checklist.date_due
                if not checklist.completed and due is not None and due < today and recent(due):
                    flags.add(("checklist-overdue", "checklist", checklist.id))
                    late_by[("checklist-overdue", "checklist", checklist.id)] = (today - due).days

    tags: dict[int, set[str]] = {ce.id: set() for ce in bundle.course_enrolments}
    for ce in bundle.course_enrolments:
        if certified(ce) and norm(ce.status) == "completed":
            tags[ce.id].add("certified")
        if ("certificate-overdue", "course_enrolment", ce.id) in flags:
            tags[ce.id].add("certificate-overdue")
        if ("missing-usi", "learner", learner.id) in flags and stages[ce.id] in (
            "Progression",
            "Completion",
        ):
            tags[ce.id].add("missing-usi")
    if learner_stage == "Reconnect":
        reconnecting = [ce for ce in bundle.course_enrolments if stages[ce.id] == "Reconnect"]
        chosen = max(reconnecting, key=lambda ce: (completion_date(ce) or date.min, ce.id))
        tags[chosen.id].add("reconnect-eligible")
    enrolment_by_id = {ce.id: ce for ce in bundle.course_enrolments}
    owners: dict[tuple[str, str, int], int] = {}
    for key in flags:
        if key[1] == "course_enrolment":
            ce_of = enrolment_by_id[key[2]]
        elif key[1] == "unit_enrolment":
            unit_of = next(u for u in bundle.unit_enrolments if u.id == key[2])
            ce_of = enrolment_by_id[unit_of.course_enrolment_id]
        elif key[1] == "checklist":
            listed = next(c for c in bundle.checklists if c.id == key[2])
            if listed.entity != "CourseEnrolment" or listed.record_id not in enrolment_by_id:
                continue
            ce_of = enrolment_by_id[listed.record_id]
        else:
            continue
        owner = owner_of(ce_of)
        if owner is not None:
            owners[key] = owner
    return Outcome(
        learner_stage=learner_stage,
        enrolments={
            ce.id: (stages[ce.id], frozenset(tags[ce.id])) for ce in bundle.course_enrolments
        },
        flags=frozenset(flags),
        days_overdue=late_by,
        owners=owners,
    )
