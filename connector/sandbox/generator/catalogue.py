"""The catalogue: courses, units, offers (past and future), unit offers, tags, checklist items.

Also the offers made only for planted cases: a short course's one-day offer, an offer ending on
a given day.
"""

from __future__ import annotations

from datetime import date, timedelta

from connector.sandbox.generator.seed_data import (
    CHECKLIST_ITEMS,
    COURSES,
    HUMAN_TAGS,
    SHORT_COURSES,
)
from connector.sandbox.generator.state import GeneratorState
from connector.sandbox.store import Row


class CatalogueBuilder(GeneratorState):
    """Builds the reference data every enrolment points at."""

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
