"""The mapping engine against the hand-written reference, over the same bundles in one run.

Run: `.venv/bin/python -m bench.engine [--bundles 100000] [--business-days]`. Target: the engine
takes at most twice the reference's time. `--business-days` sets the certificate deadline to 20
business days (Australia's public holidays) in both. Bundles are seeded and shaped like the
sandbox's population (1-3 enrolments, 3-12 units each, credentials, checklists, dates around the
rules' boundaries).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta
from pathlib import Path

import holidays

from connector.public_holidays import business_calendar
from connector.sandbox.generator.seed_data import STATUS_WEIGHTS
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
from mappings.evaluate import evaluate
from mappings.loader import load_mapping
from tests.reference import Variant, decide

TODAY = date(2026, 11, 29)
STATUSES = [status for status, _ in STATUS_WEIGHTS]
WEIGHTS = [weight for _, weight in STATUS_WEIGHTS]
OUTCOMES = ["20", "20", "20", "51", "60", "30", "40", "70", "85", None]


def make_bundles(count: int, seed: int = 7) -> list[LearnerBundle]:
    """`count` seeded bundles."""
    rng = random.Random(seed)

    def day() -> date | None:
        return None if rng.random() < 0.1 else TODAY - timedelta(days=rng.randint(-200, 900))

    bundles = []
    next_id = 1
    for learner_id in range(1, count + 1):
        usi = usi_facts(rng.choice(["3AW88YH9U5", "INDIV", None, "12345"]))
        learner = Learner(
            id=learner_id,
            is_active=rng.random() > 0.05,
            has_usi=usi.present,
            usi_well_formed=usi.well_formed,
            usi_exemption=usi.exemption,
            usi_status=rng.choice(["Verified", "Verified", "Unverified", None]),
            has_date_of_birth=rng.random() > 0.03,
            has_gender=rng.random() > 0.03,
            has_email=rng.random() > 0.05,
            has_mobile=rng.random() > 0.2,
            address=Address(
                True,
                rng.random() > 0.05,
                rng.random() > 0.08,
                rng.choice(["Australia", "Australia", "New Zealand"]),
            ),
            avetmiss=Avetmiss(*(rng.random() > 0.02 for _ in range(7))),
        )
        enrolments, units, credentials, checklists = [], [], [], []
        for _ in range(rng.choices([1, 2, 3], [60, 30, 10])[0]):
            next_id += 1
            ce_id = next_id
            enrolments.append(
                CourseEnrolment(
                    id=ce_id,
                    learner_id=learner_id,
                    status=rng.choices(STATUSES, WEIGHTS)[0],
                    end_date=day(),
                    actual_end_date=day() if rng.random() < 0.3 else None,
                    application_expiry_date=day() if rng.random() < 0.2 else None,
                    qualification_issued=rng.random() < 0.3,
                    for_avetmiss=True,
                )
            )
            for _ in range(rng.randint(3, 12)):
                next_id += 1
                end = day()
                units.append(
                    UnitEnrolment(
                        id=next_id,
                        course_enrolment_id=ce_id,
                        outcome=rng.choice(OUTCOMES),
                        end_date=end,
                        actual_end_date=end if rng.random() < 0.6 else None,
                    )
                )
            if rng.random() < 0.4:
                next_id += 1
                credentials.append(
                    Credential(next_id, ce_id, rng.choice(["Issued", "Requested"]), day())
                )
        for _ in range(rng.choice([0, 0, 1, 2])):
            next_id += 1
            checklists.append(Checklist(next_id, "Learner", learner_id, rng.random() < 0.7, day()))
        bundles.append(
            LearnerBundle(
                learner, tuple(enrolments), tuple(units), tuple(credentials), (), tuple(checklists)
            )
        )
    return bundles


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=100_000)
    parser.add_argument("--business-days", action="store_true", help="A 20-business-day deadline.")
    args = parser.parse_args()
    mapping_file = Path(__file__).parents[1] / "config" / "mapping.yaml"
    text, variant = mapping_file.read_text(), Variant()
    calendar = business_calendar("AU")
    if args.business_days:
        text = text.replace(
            "certificate_deadline_days: 30 ", "certificate_deadline_days: 20 business days "
        )
        variant = Variant(deadline_business_days=20, holidays=holidays.country_holidays("AU"))
    mapping = load_mapping(text, str(mapping_file), calendar)
    bundles = make_bundles(args.bundles)
    units = sum(len(b.unit_enrolments) for b in bundles)
    started = time.perf_counter()
    for bundle in bundles:
        decide(bundle, TODAY, variant)
    reference = time.perf_counter() - started
    started = time.perf_counter()
    for bundle in bundles:
        evaluate(bundle, mapping, TODAY)
    engine = time.perf_counter() - started
    print(f"{len(bundles)} bundles ({units} unit enrolments)")
    print(f"reference: {reference:.1f} s, {len(bundles) / reference:,.0f} bundles/s")
    print(f"engine:    {engine:.1f} s, {len(bundles) / engine:,.0f} bundles/s")
    print(f"ratio engine / reference: {engine / reference:.2f} (target at most 2.00)")


if __name__ == "__main__":
    main()
