"""Deterministic, realistic Australian VET data for the sandbox, with every rule planted.

The same seed, learner count and `today` give the same records. Planted cases come first (one
learner each, built "clean" so only the behaviour they plant shows), then a random population fills
up to the requested number of learners. Each planted case names its learner and enrolments and
says what `lifecycle.md`'s default mapping decides for it (`expect`), so tests can find it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connector.public_holidays import business_calendar
from connector.sandbox.cases import CASES, LATE_CASES, CaseBuilder, PlantedCase
from connector.sandbox.store import Database, Row
from connector.sandbox.vocabulary import Vocabulary

FIRST_NAMES = (
    "Jordan",
    "Olivia",
    "Liam",
    "Charlotte",
    "Noah",
    "Amelia",
    "Jack",
    "Isla",
    "William",
    "Mia",
    "Oliver",
    "Ava",
    "Lucas",
    "Grace",
    "Thomas",
    "Chloe",
    "Ethan",
    "Zoe",
    "Mason",
    "Ruby",
    "Aarav",
    "Priya",
    "Wei",
    "Mei",
    "Minh",
    "Linh",
    "Mohammed",
    "Fatima",
    "Sione",
    "Aroha",
    "Bilal",
    "Sofia",
    "Kai",
    "Leilani",
    "Rohan",
    "Anika",
    "Tane",
    "Jarrah",
    "Kirra",
    "Talia",
)
LAST_NAMES = (
    "Nguyen",
    "Smith",
    "Williams",
    "Brown",
    "Jones",
    "Wilson",
    "Taylor",
    "Martin",
    "Anderson",
    "Thompson",
    "White",
    "Walker",
    "Harris",
    "Lee",
    "Ryan",
    "Kelly",
    "Singh",
    "Patel",
    "Chen",
    "Wang",
    "Tran",
    "Le",
    "Khan",
    "Ali",
    "Murphy",
    "O'Brien",
    "Campbell",
    "Stewart",
    "Clarke",
    "Roberts",
    "Hughes",
    "Edwards",
    "Papadopoulos",
    "Rossi",
    "Kowalski",
    "Tupou",
    "Ngata",
)
STREETS = (
    "Smith Street",
    "George Street",
    "High Street",
    "Station Road",
    "Church Street",
    "Victoria Parade",
    "Beach Road",
    "Main Street",
    "Park Avenue",
    "King Street",
)
AU_PLACES = (  # (suburb, state code, postcode)
    ("Fitzroy", "VIC", "3065"),
    ("Parramatta", "NSW", "2150"),
    ("Fortitude Valley", "QLD", "4006"),
    ("Glenelg", "SA", "5045"),
    ("Fremantle", "WA", "6160"),
    ("Sandy Bay", "TAS", "7005"),
    ("Darwin City", "NT", "0800"),
    ("Belconnen", "ACT", "2617"),
    ("Geelong", "VIC", "3220"),
    ("Newcastle", "NSW", "2300"),
    ("Townsville", "QLD", "4810"),
    ("Bunbury", "WA", "6230"),
)
OVERSEAS_PLACES = (  # (suburb, country description, postcode)
    ("Ponsonby", "New Zealand", "1011"),
    ("Andheri", "India", "400053"),
    ("Makati", "Philippines", "1226"),
    ("Kathmandu", "Nepal", "44600"),
)
SHORT_COURSES = (  # one-unit courses, offered only to planted cases (so a seed's data stays)
    ("HLTAID011", "Provide First Aid"),
    ("HLTAID009", "Provide cardiopulmonary resuscitation"),
)
COURSES = (  # (code, description, unit codes)
    (
        "BSB40120",
        "Certificate IV in Business",
        (
            "BSBCRT411",
            "BSBOPS404",
            "BSBPEF402",
            "BSBTWK401",
            "BSBXCM401",
            "BSBWHS411",
            "BSBSUS411",
            "BSBLDR411",
            "BSBFIN401",
            "BSBMKG433",
            "BSBOPS403",
            "BSBCMM411",
        ),
    ),
    (
        "BSB50120",
        "Diploma of Business",
        (
            "BSBCRT511",
            "BSBOPS501",
            "BSBFIN501",
            "BSBSUS511",
            "BSBXCM501",
            "BSBOPS504",
            "BSBLDR522",
            "BSBMKG541",
            "BSBPEF501",
            "BSBTWK503",
        ),
    ),
    (
        "BSB30120",
        "Certificate III in Business",
        (
            "BSBCRT311",
            "BSBPEF301",
            "BSBSUS211",
            "BSBTWK301",
            "BSBWHS311",
            "BSBXCM301",
            "BSBTEC301",
            "BSBOPS304",
            "BSBINS302",
        ),
    ),
    (
        "CHC33021",
        "Certificate III in Individual Support",
        (
            "CHCCOM005",
            "CHCDIV001",
            "CHCLEG001",
            "HLTINF006",
            "HLTWHS002",
            "CHCCCS031",
            "CHCCCS038",
            "CHCCCS040",
            "CHCCCS041",
            "CHCAGE011",
            "CHCPAL003",
            "HLTAAP001",
        ),
    ),
    (
        "CHC30121",
        "Certificate III in Early Childhood Education and Care",
        (
            "CHCECE030",
            "CHCECE031",
            "CHCECE032",
            "CHCECE033",
            "CHCECE034",
            "CHCECE035",
            "CHCECE036",
            "CHCECE037",
            "CHCECE038",
            "HLTAID012",
            "HLTWHS001",
            "CHCPRT001",
        ),
    ),
    (
        "CHC50121",
        "Diploma of Early Childhood Education and Care",
        (
            "CHCECE041",
            "CHCECE042",
            "CHCECE043",
            "CHCECE044",
            "CHCECE045",
            "CHCECE046",
            "CHCECE047",
            "CHCECE048",
            "CHCECE049",
            "CHCECE050",
            "CHCECE054",
            "CHCPOL002",
        ),
    ),
    (
        "CHC43015",
        "Certificate IV in Ageing Support",
        (
            "CHCAGE005",
            "CHCADV001",
            "CHCCCS006",
            "CHCCCS023",
            "CHCDIV001",
            "CHCLEG003",
            "CHCPAL001",
            "HLTAAP001",
            "HLTWHS002",
            "CHCAGE001",
        ),
    ),
    (
        "SIT30821",
        "Certificate III in Commercial Cookery",
        (
            "SITHCCC023",
            "SITHCCC027",
            "SITHCCC028",
            "SITHCCC029",
            "SITHCCC030",
            "SITHKOP009",
            "SITXFSA005",
            "SITXFSA006",
            "SITXINV006",
            "SITXWHS005",
            "SITHCCC031",
            "SITHPAT016",
        ),
    ),
    (
        "SIT40521",
        "Certificate IV in Kitchen Management",
        (
            "SITHKOP010",
            "SITHKOP012",
            "SITXFIN009",
            "SITXHRM008",
            "SITXMGT004",
            "SITXCOM010",
            "SITXFSA008",
            "SITXHRM009",
            "SITXINV007",
            "SITXWHS007",
        ),
    ),
    (
        "SIT50422",
        "Diploma of Hospitality Management",
        (
            "SITXFIN010",
            "SITXGLC002",
            "SITXHRM012",
            "SITXMGT005",
            "SITXCCS016",
            "SITXFIN009",
            "SITXHRM008",
            "SITXWHS008",
            "BSBOPS501",
            "SITXCOM010",
        ),
    ),
)
HUMAN_TAGS = (
    ("VIP", False),
    ("Scholarship", False),
    ("Employer funded", False),
    ("International", False),
    ("Follow up", True),
    ("Old intake", True),
)
CHECKLIST_ITEMS = (
    ("Learner", "USI collected"),
    ("Learner", "Photo ID sighted"),
    ("CourseEnrolment", "LLN completed"),
    ("CourseEnrolment", "Training plan signed"),
)
USI_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
STATUS_WEIGHTS = (
    ("Enquiry", 8),
    ("Pending", 6),
    ("Current", 32),
    ("Completed", 30),
    ("Completion Pending", 4),
    ("Withdrawn", 7),
    ("Cancelled (no penalty)", 3),
    ("Cancelled (penalty)", 1),
    ("Partial Attendance", 2),
    ("Declined", 4),
    ("Deferred", 3),
)
COMPETENT = ("20", "20", "20", "20", "51", "60")
FINAL_NOT_COMPETENT = ("30", "40", "52", "65", "81", "82")
IN_PROGRESS = ("70", "85", "90", "00", "NS", "@@", None)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate."""

    learners: int
    seed: int
    today: date
    holidays: str = "AU"  # whose public holidays the business-day cases skip


class Stamper:
    """Strictly increasing local modification times, in the past, with varied fractions."""

    def __init__(self, start: datetime, rng: random.Random, step: timedelta) -> None:
        self._next = start
        self._rng = rng
        self._step = step
        self.last = start

    def __call__(self) -> datetime:
        """Return the next stamp."""
        millis = self._rng.choice((0, 0, 0, 500, 520, 523, 100, 37, 990, 250))
        whole_second = self._next.replace(microsecond=0)
        self.last = whole_second + timedelta(milliseconds=millis)
        self._next += self._step
        return self.last


class Generator:
    """Builds the reference data, the planted cases and the random population."""

    def __init__(self, db: Database, vocab: Vocabulary, config: GeneratorConfig) -> None:
        self.db = db
        self.vocab = vocab
        self.config = config
        self.today = config.today
        self.calendar = business_calendar(config.holidays)
        self.rng = random.Random(f"sandbox:{config.seed}")
        # History spreads over the 80 days before the last 10; about 25 records per learner.
        expected_records = config.learners * 25 + 10_000
        self.stamp = Stamper(
            datetime.combine(config.today - timedelta(days=90), datetime.min.time()),
            self.rng,
            max(timedelta(seconds=1), timedelta(days=80) / expected_records),
        )
        self._ids = {
            "learner": 10000,
            "ce": 88000,
            "ue": 455000,
            "credential": 7000,
            "checklist": 30000,
        }
        self.offers_by_course: dict[int, list[Row]] = {}
        self.unit_offers_by_offer: dict[int, list[Row]] = {}
        self.tag_ids: dict[str, int] = {}
        self.checklist_item_ids: dict[str, int] = {}
        self._status_ids = {s: vocab.id_of("enrolment-statuses", s) for s, _ in STATUS_WEIGHTS}
        self._status_names = [s for s, _ in STATUS_WEIGHTS]
        self._status_weights = [w for _, w in STATUS_WEIGHTS]

    # --- ids --------------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """A new id of one kind, with small gaps (ids are not 1..n)."""
        self._ids[kind] += self.rng.randint(1, 3)
        return self._ids[kind]

    # --- reference data ---------------------------------------------------------------------

    def reference_data(self) -> None:
        """Courses, units, offers (past and future), unit offers, tags and checklist items."""
        unit_id = 900
        for index, (code, description, unit_codes) in enumerate(COURSES):
            course_id = 70 + index * 3
            self.db.courses.put(
                {
                    "CourseId": course_id,
                    "CourseCode": code,
                    "CourseDesc": description,
                    "NominalHours": 600,
                    "VetFlag": True,
                },
                self.stamp(),
            )
            units = []
            for unit_code in unit_codes:
                unit_id += 1
                unit = {
                    "UnitId": unit_id,
                    "CourseId": course_id,
                    "UnitCode": unit_code,
                    "UnitDesc": f"Unit {unit_code}",
                    "VetFlag": True,
                }
                self.db.units.put(unit, self.stamp())
                units.append(unit)
            self._offers_for(course_id, code, description, units)
        for name, archived in HUMAN_TAGS:
            tag_id = 12 + len(self.tag_ids) * 5
            self.db.tags.put(
                {
                    "TagId": tag_id,
                    "Name": name,
                    "EntityName": "CourseEnrolment",
                    "ArchivedFlag": archived,
                },
                self.stamp(),
            )
            self.tag_ids[name] = tag_id
        for offset, (entity, description) in enumerate(CHECKLIST_ITEMS):
            item_id = 401 + offset * 2
            self.db.checklist_items.put(
                {
                    "ChecklistItemId": item_id,
                    "EntityName": entity,
                    "Type": "Checkbox",
                    "Description": description,
                    "IsActive": True,
                },
                self.stamp(),
            )
            self.checklist_item_ids[description] = item_id

    def _offers_for(self, course_id: int, code: str, description: str, units: list[Row]) -> None:
        offers = []
        start = self.today - timedelta(days=365 * 7)
        term = 0
        while start < self.today + timedelta(days=240):
            term += 1
            offer_id = 500 + course_id * 40 + term
            end = start + timedelta(days=self.rng.choice((182, 273, 364)))
            offer = {
                "CourseOfferId": offer_id,
                "CourseId": course_id,
                "Code": f"{code}-{start.year}-T{(start.month - 1) // 4 + 1}",
                "Description": f"{description} - {start.isoformat()}",
                "CourseOfferStartDate": start,
                "CourseOfferEndDate": end,
                "ExpectedAwardDate": end + timedelta(days=14),
                "PublishFlag": True,
                "AcceptEnrolmentsFlag": start > self.today,
                "ForGovtReportingFlag": True,
            }
            self.db.course_offers.put(offer, self.stamp())
            offers.append(offer)
            span = (end - start).days
            unit_offers = []
            for position, unit in enumerate(units):
                uo_start = start + timedelta(days=span * position // len(units))
                uo_end = start + timedelta(days=span * (position + 1) // len(units))
                unit_offer = {
                    "UnitOfferId": offer_id * 100 + position,
                    "UnitId": unit["UnitId"],
                    "CourseOfferId": offer_id,
                    "UnitOfferCode": f"{unit['UnitCode']}-T{term}",
                    "StartDate": uo_start,
                    "EndDate": uo_end,
                    "UnitCode": unit["UnitCode"],
                }
                self.db.unit_offers.put(unit_offer, self.stamp())
                unit_offers.append(unit_offer)
            self.unit_offers_by_offer[offer_id] = unit_offers
            start += timedelta(days=121)
        self.offers_by_course[course_id] = offers

    # --- learners ---------------------------------------------------------------------------

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

    # --- record builders shared with the planted cases --------------------------------------

    def at(self, day: date, hour: int = 10) -> datetime:
        """A local date-time on `day`."""
        return datetime.combine(day, datetime.min.time()) + timedelta(
            hours=hour, minutes=self.rng.randint(0, 59)
        )

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

    def short_course_offer(self, code: str, end: date) -> Row:
        """A one-day offer of a one-unit short course ending on `end` (the course made once)."""
        index = [short for short, _ in SHORT_COURSES].index(code)
        course_id = 200 + index * 3
        description = SHORT_COURSES[index][1]
        if self.db.courses.get(course_id) is None:
            self.db.courses.put(
                {
                    "CourseId": course_id,
                    "CourseCode": code,
                    "CourseDesc": description,
                    "NominalHours": 8,
                    "VetFlag": True,
                },
                self.stamp(),
            )
            self.db.units.put(
                {
                    "UnitId": 2000 + index,
                    "CourseId": course_id,
                    "UnitCode": code,
                    "UnitDesc": description,
                    "VetFlag": True,
                },
                self.stamp(),
            )
        offer_id = 90000 + len(self.db.course_offers)
        offer = {
            "CourseOfferId": offer_id,
            "CourseId": course_id,
            "Code": f"{code}-P{offer_id}",
            "Description": f"{description} (planted)",
            "CourseOfferStartDate": end,
            "CourseOfferEndDate": end,
            "ExpectedAwardDate": end,
            "PublishFlag": True,
            "AcceptEnrolmentsFlag": False,
            "ForGovtReportingFlag": True,
        }
        self.db.course_offers.put(offer, self.stamp())
        unit_offer = {
            "UnitOfferId": offer_id * 100,
            "UnitId": 2000 + index,
            "CourseOfferId": offer_id,
            "UnitOfferCode": f"{code}-P",
            "StartDate": end,
            "EndDate": end,
            "UnitCode": code,
        }
        self.db.unit_offers.put(unit_offer, self.stamp())
        self.unit_offers_by_offer[offer_id] = [unit_offer]
        return offer

    def offer_ending(self, end: date, *, course_index: int = 0) -> Row:
        """An offer of one course that ends on `end` exactly (made for planted cases)."""
        code, description, _ = COURSES[course_index % len(COURSES)]
        course_id = 70 + (course_index % len(COURSES)) * 3
        template = self.offers_by_course[course_id][0]
        offer_id = 90000 + len(self.db.course_offers)
        start = end - timedelta(days=273)
        offer = {
            **template,
            "CourseOfferId": offer_id,
            "CourseOfferStartDate": start,
            "CourseOfferEndDate": end,
            "Code": f"{code}-P{offer_id}",
            "Description": f"{description} (planted)",
        }
        self.db.course_offers.put(offer, self.stamp())
        units = list(self.unit_offers_by_offer[template["CourseOfferId"]])
        span = (end - start).days
        planted = []
        for position, unit in enumerate(units):
            planted_unit = {
                **unit,
                "UnitOfferId": offer_id * 100 + position,
                "CourseOfferId": offer_id,
                "StartDate": start + timedelta(days=span * position // len(units)),
                "EndDate": start + timedelta(days=span * (position + 1) // len(units)),
            }
            self.db.unit_offers.put(planted_unit, self.stamp())
            planted.append(planted_unit)
        self.unit_offers_by_offer[offer_id] = planted
        return offer


def generate(
    db: Database, vocab: Vocabulary, config: GeneratorConfig
) -> tuple[list[PlantedCase], datetime]:
    """Fill `db`; return the planted cases and the last modification stamp used."""
    generator = Generator(db, vocab, config)
    generator.reference_data()
    cases = [build(CaseBuilder(generator)) for build in CASES]
    while len(db.learners) < config.learners - len(LATE_CASES):
        generator.random_learner()
    cases += [build(CaseBuilder(generator)) for build in LATE_CASES]
    return cases, generator.stamp.last
