"""What the generator builders share: the configuration, the clock of stamps, ids and the rng."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connector.public_holidays import business_calendar
from connector.sandbox.generator.seed_data import STATUS_WEIGHTS
from connector.sandbox.store import Database, Row
from connector.sandbox.vocabulary import Vocabulary


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


class GeneratorState:
    """The state every builder reads and advances: one rng, one stamper, id counters, lookups."""

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

    def next_id(self, kind: str) -> int:
        """A new id of one kind, with small gaps (ids are not 1..n)."""
        self._ids[kind] += self.rng.randint(1, 3)
        return self._ids[kind]

    def at(self, day: date, hour: int = 10) -> datetime:
        """A local date-time on `day`."""
        return datetime.combine(day, datetime.min.time()) + timedelta(
            hours=hour, minutes=self.rng.randint(0, 59)
        )
