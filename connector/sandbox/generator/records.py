"""Record builders shared by the planted cases and the random population.

Learners (complete, or roughened with the gaps real accounts have), course and unit
enrolments, credentials and checklists; each builder stores what it makes.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from connector.sandbox.generator.seed_data import (
    AU_PLACES,
    CHECKLIST_ITEMS,
    COMPETENT,
    FINAL_NOT_COMPETENT,
    FIRST_NAMES,
    LAST_NAMES,
    OVERSEAS_PLACES,
    STREETS,
    USI_ALPHABET,
)
from connector.sandbox.generator.state import GeneratorState
from connector.sandbox.store import Row


class RecordBuilder(GeneratorState):
    """Builds and stores learners, enrolments, unit enrolments, credentials and checklists."""

    def usi(self) -> str:
        """A valid-looking USI: 10 characters of digits 2-9 and letters other than I and O."""
        return "".join(self.rng.choice(USI_ALPHABET) for _ in range(10))

    def learner_row(self, ident: int, *, complete: bool) -> Row:
        """A learner; `complete` ones have every field rules check (verified USI, address …)."""
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        suburb, state, postcode = rng.choice(AU_PLACES)
        born = self.today - timedelta(days=rng.randint(17 * 365, 60 * 365))
        usi, usi_status = self.usi(), "Verified"
        address: Row = {
            "UnitDetails": None,
            "StreetNumber": str(rng.randint(1, 240)),
            "StreetName": rng.choice(STREETS),
            "SuburbTownCity": suburb,
            "StateId": self.vocab.id_of("states", state),
            "Postcode": postcode,
            "CountryId": self.vocab.id_of("countries", "Australia"),
        }
        personal: Row = {
            "IsActive": True,
            "Title": None,
            "FirstName": first,
            "LastName": last,
            "PreferredNamed": first[:3] if rng.random() < 0.2 else None,
            "DateOfBirth": born,
            "GenderId": rng.choice(self.vocab.ids("genders")),
            "UniqueStudentIdentifier": usi,
            "UsiStatus": usi_status,
            "UsiStatusLastModifiedTimestamp": self.stamp(),
            "LearnerNumber": f"L{ident:06d}",
            "SurveyStatusId": self.vocab.ids("survey-statuses")[0],
            "PhoneNumbers": {"Mobile": f"+614{rng.randint(10000000, 99999999)}"},
            "EmailAddresses": {
                "Email": f"{first}.{last}{ident}@example.com".lower().replace("'", "")
            },
            "StreetAddress": address,
        }
        demographics: Row = {
            "EmploymentStatusId": rng.choice(self.vocab.ids("employment-statuses")),
            "IsStillAtSchool": "N",
            "HighestSchoolLevelCompletedId": rng.choice(
                self.vocab.ids("highest-school-level-completed")
            ),
            "CountryOfBirthId": rng.choice(self.vocab.ids("countries")),
            "PrimaryLanguageId": rng.choice(self.vocab.ids("languages")),
            "IndigenousStatusId": rng.choice(self.vocab.ids("indigenous-statuses")),
            "DisabilityFlagId": rng.choice(self.vocab.ids("disability-flags")),
            "HasPriorEducationalAchievementId": rng.choice(self.vocab.ids("prior-education-flags")),
        }
        if not complete:
            self._roughen(personal, demographics)
        return {
            "LearnerId": ident,
            "LearnerGuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "Personal": personal,
            "Demographics": demographics,
            "LearnerAccess": {
                "Username": f"{first}.{last}".lower().replace("'", ""),
                "AccessEnabledLearnerApp": rng.random() < 0.6,
            },
        }

    def _roughen(self, personal: Row, demographics: Row) -> None:
        """Leave the gaps real accounts have: missing USIs, unverified ones, overseas addresses."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            personal["UniqueStudentIdentifier"], personal["UsiStatus"] = None, None
        elif roll < 0.12:
            personal["UniqueStudentIdentifier"] = rng.choice(("INDIV", "INTOFF", "SHORT"))
            personal["UsiStatus"] = None
        elif roll < 0.25:
            personal["UsiStatus"] = rng.choice(("Unverified", "Invalid", None))
        if rng.random() < 0.03:
            personal["DateOfBirth"] = None
        if rng.random() < 0.03:
            personal["GenderId"] = None
        roll = rng.random()
        address = personal["StreetAddress"]
        if roll < 0.05:
            suburb, country, postcode = rng.choice(OVERSEAS_PLACES)
            address.update(
                SuburbTownCity=suburb,
                Postcode=postcode,
                StateId=None,
                CountryId=self.vocab.id_of("countries", country),
            )
        elif roll < 0.09:
            address[rng.choice(("SuburbTownCity", "Postcode", "StateId"))] = None
        if rng.random() < 0.04:
            personal["PhoneNumbers"]["Mobile"] = None
            personal["EmailAddresses"]["Email"] = None
        if rng.random() < 0.08:
            for key in rng.sample(sorted(demographics), rng.randint(1, 3)):
                if key != "IsStillAtSchool":
                    demographics[key] = None
        if rng.random() < 0.05:
            personal["IsActive"] = False

    def put_learner(self, row: Row) -> None:
        """Store a learner."""
        self.db.learners.put(row, self.stamp())

    def enrolment_row(self, learner_id: int, offer: Row, status: str) -> Row:
        """A course enrolment on `offer` in `status`, not yet stored."""
        start, end = offer["CourseOfferStartDate"], offer["CourseOfferEndDate"]
        ce_id = self.next_id("ce")
        tags = []
        roll = self.rng.random()
        if roll < 0.12:
            tags.append(
                {"TagId": self.tag_ids[self.rng.choice(("VIP", "Scholarship", "Employer funded"))]}
            )
        elif roll < 0.16:
            tags.append({"TagId": self.tag_ids["Follow up"]})
        return {
            "CourseEnrolmentId": ce_id,
            "LearnerId": learner_id,
            "CourseOfferId": offer["CourseOfferId"],
            "StudentNumber": f"S-{ce_id}",
            "EnrolmentStatusId": self._status_ids[status],
            "ApplicationStatusId": self.vocab.id_of(
                "application-statuses",
                "Rejected"
                if status == "Declined"
                else "Pending"
                if status in ("Enquiry", "Pending")
                else "Accepted",
            ),
            # The random population studies full- or part-time; planted cases use the others.
            "StudyModeId": self.rng.choice(self.vocab.ids("study-modes")[:2]),
            "EnquiryDate": self.at(start - timedelta(days=self.rng.randint(20, 90))),
            "EnrolmentDate": None
            if status in ("Enquiry", "Pending", "Declined")
            else self.at(start - timedelta(days=self.rng.randint(3, 19))),
            "StartDate": start,
            "EndDate": end,
            "ExpectedAwardDate": end + timedelta(days=14),
            "QualificationIssuedFlag": False,
            "TrainingPlanIssuedFlag": status not in ("Enquiry", "Pending", "Declined"),
            "LlnFlag": True,
            "ForAvetmissFlag": True,
            "CommencingCourseId": self.vocab.ids("commencing-courses")[0],
            "TagIds": tags,
            "CreatedOn": self.at(start - timedelta(days=95)),
        }

    def put_enrolment(self, row: Row) -> None:
        """Store (or re-store) a course enrolment."""
        self.db.course_enrolments.put(row, self.stamp())

    def unit_enrolment(
        self,
        ce_id: int,
        unit_offer: Row,
        outcome_code: str | None,
        *,
        end: date | None = None,
        actual_end: date | bool | None = True,
    ) -> Row:
        """A unit enrolment; `actual_end=True` means "the unit's end, if it has a final outcome"."""
        unit_end = end or unit_offer["EndDate"]
        final = outcome_code in (*COMPETENT, *FINAL_NOT_COMPETENT)
        if actual_end is True:
            actual = unit_end if final else None
        elif actual_end is False:
            actual = None
        else:
            actual = actual_end
        row = {
            "UnitEnrolmentId": self.next_id("ue"),
            "UnitOfferId": unit_offer["UnitOfferId"],
            "CourseEnrolmentId": ce_id,
            "TrainerId": 21,
            "AssessorId": 21,
            "LocationId": 5,
            "StartDate": unit_offer["StartDate"],
            "EndDate": unit_end,
            "ActualEndDate": actual,
            "OutcomeId": None
            if outcome_code is None
            else self.vocab.id_of("outcomes", outcome_code),
            "ResultId": self.vocab.id_of("results", "C") if outcome_code in COMPETENT else None,
            "ActualHours": 40 if final else None,
            "ForGovtReportingFlag": True,
            "PredominantDeliveryModeId": self.vocab.ids("delivery-modes")[0],
            "FundSourceNationalId": self.vocab.ids("fund-source-nationals")[1],
            "IsLockedFlag": False,
        }
        self.db.unit_enrolments.put(row, self.stamp())
        return row

    def credential(self, ce_id: int, status: str, on: date) -> Row:
        """A credential of the enrolment in `status`, dated `on`."""
        row = {
            "CredentialId": self.next_id("credential"),
            "CourseEnrolmentId": ce_id,
            "CredentialStatusId": self.vocab.id_of("credential-statuses", status),
            "CredentialNumber": str(self.rng.randint(10**9, 10**10 - 1)),
            "CredentialDate": on,
            "StatusChangeDate": self.at(on),
        }
        self.db.credentials.put(row, self.stamp())
        return row

    def checklist(
        self,
        entity: str,
        record_id: int,
        *,
        random_state: bool = False,
        due: date | None = None,
        completed: bool = False,
    ) -> Row:
        """A checklist attached to a learner or an enrolment."""
        items = [i for e, i in CHECKLIST_ITEMS if e == entity]
        if random_state:
            due = self.today + timedelta(days=self.rng.randint(-60, 60))
            completed = self.rng.random() < 0.7
        row = {
            "ChecklistId": self.next_id("checklist"),
            "ChecklistItemId": self.checklist_item_ids[self.rng.choice(items)],
            "EntityName": entity,
            "RecordId": record_id,
            "DateDue": due,
            "DateCompleted": due if completed else None,
            "CompletedFlag": completed,
            "StaffName": "Admissions",
        }
        self.db.checklists.put(row, self.stamp())
        return row
