"""The random population: learners with 1-3 enrolments, drawn with the weights in `seed_data`.

Each enrolment's dates, unit outcomes and credentials agree with its status.
"""

from __future__ import annotations

from datetime import date, timedelta

from connector.sandbox.generator.records import RecordBuilder
from connector.sandbox.generator.seed_data import COMPETENT, FINAL_NOT_COMPETENT, IN_PROGRESS
from connector.sandbox.store import Row


class RandomPopulation(RecordBuilder):
    """Fills the account up with random learners."""

    def random_learner(self) -> None:
        """One learner of the random population with 1-3 enrolments."""
        learner_id = self.next_id("learner")
        self.put_learner(self.learner_row(learner_id, complete=False))
        for _ in range(self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]):
            status = self.rng.choices(self._status_names, weights=self._status_weights)[0]
            self.random_enrolment(learner_id, status)
        for _ in range(self.rng.choice((0, 0, 1, 1, 2))):
            self.checklist("Learner", learner_id, random_state=True)

    def random_enrolment(self, learner_id: int, status: str) -> None:
        """A course enrolment with dates, units and credentials consistent with its status."""
        rng = self.rng
        course_id = rng.choice(list(self.offers_by_course))
        offers = self.offers_by_course[course_id]
        if status in ("Enquiry", "Pending", "Declined"):
            pool = [o for o in offers if o["CourseOfferStartDate"] > self.today] or offers[-1:]
        elif status in ("Current", "Deferred"):
            pool = [
                o
                for o in offers
                if o["CourseOfferStartDate"]
                <= self.today
                < o["CourseOfferEndDate"] + timedelta(days=30)
            ] or offers[-2:]
        else:
            pool = [o for o in offers if o["CourseOfferEndDate"] < self.today] or offers[:1]
        offer = rng.choice(pool)
        start, end = offer["CourseOfferStartDate"], offer["CourseOfferEndDate"]
        ce = self.enrolment_row(learner_id, offer, status)
        if status in ("Enquiry", "Pending", "Declined"):
            ce["EnquiryDate"] = self.at(self.today - timedelta(days=rng.randint(0, 90)))
            if rng.random() < 0.4:
                ce["ApplicationExpiryDate"] = self.today + timedelta(days=rng.randint(-30, 60))
            self.put_enrolment(ce)
            return
        finalised_early = status in (
            "Withdrawn",
            "Cancelled (no penalty)",
            "Cancelled (penalty)",
            "Partial Attendance",
        )
        ce["ActualEndDate"] = (
            start + timedelta(days=rng.randint(10, max(11, (end - start).days)))
            if finalised_early and rng.random() < 0.7
            else (end if status == "Completed" and rng.random() < 0.5 else None)
        )
        self.put_enrolment(ce)
        cutoff = ce["ActualEndDate"] or end
        unit_offers = rng.sample(
            self.unit_offers_by_offer[offer["CourseOfferId"]],
            min(len(self.unit_offers_by_offer[offer["CourseOfferId"]]), rng.randint(3, 12)),
        )
        competent_any = False
        for unit_offer in sorted(unit_offers, key=lambda u: u["UnitOfferId"]):
            outcome = self._random_outcome(status, unit_offer, cutoff)
            competent_any |= outcome in ("20", "51", "60")
            self.unit_enrolment(ce["CourseEnrolmentId"], unit_offer, outcome)
        self._random_certification(ce, status, competent_any)
        if rng.random() < 0.3:
            self.checklist("CourseEnrolment", ce["CourseEnrolmentId"], random_state=True)

    def _random_outcome(self, status: str, unit_offer: Row, cutoff: date) -> str | None:
        rng = self.rng
        if status == "Completed":
            return rng.choice(COMPETENT)
        if status == "Completion Pending":
            return rng.choice((*COMPETENT, None))
        if status in ("Current", "Deferred"):
            if unit_offer["EndDate"] < self.today:
                return rng.choice(COMPETENT) if rng.random() < 0.9 else rng.choice(IN_PROGRESS)
            return rng.choice(IN_PROGRESS)
        if unit_offer["EndDate"] <= cutoff:
            return rng.choice((*COMPETENT, *FINAL_NOT_COMPETENT))
        return rng.choice(("40", "40", "00", None))

    def _random_certification(self, ce: Row, status: str, competent_any: bool) -> None:
        rng = self.rng
        end = ce.get("ActualEndDate") or ce["EndDate"]
        owed = status in ("Completed", "Completion Pending") or (
            status
            in ("Withdrawn", "Cancelled (no penalty)", "Cancelled (penalty)", "Partial Attendance")
            and competent_any
        )
        if not owed or status == "Completion Pending":
            return
        roll = rng.random()
        if roll < 0.8:
            issued = min(end + timedelta(days=rng.randint(3, 45)), self.today)
            self.credential(ce["CourseEnrolmentId"], "Issued", issued)
            if status == "Completed" and rng.random() < 0.7:
                ce.update(
                    QualificationIssuedFlag=True,
                    QualificationIssuedDate=issued,
                    ParchmentNumber=str(rng.randint(10**9, 10**10 - 1)),
                )
                self.put_enrolment(ce)
        elif roll < 0.88:
            self.credential(ce["CourseEnrolmentId"], rng.choice(("Requested", "Cancelled")), end)
