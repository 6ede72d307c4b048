"""Deterministic, realistic Australian VET data for the sandbox, with every rule planted.

The same seed, learner count and `today` give the same records. Planted cases come first (one
learner each, built "clean" so only the behaviour they plant shows), then a random population fills
up to the requested number of learners. Each planted case names its learner and enrolments and
says what `lifecycle.md`'s default mapping decides for it (`expect`), so tests can find it.

The fixed tables live in `seed_data`; the builders share `state` and split into the `catalogue`
(courses, offers, tags), the `records` planted cases build with, and the random `population`.
"""

from __future__ import annotations

from datetime import datetime

from connector.sandbox.cases import CASES, LATE_CASES, CaseBuilder, PlantedCase
from connector.sandbox.generator.catalogue import CatalogueBuilder
from connector.sandbox.generator.population import RandomPopulation
from connector.sandbox.generator.state import GeneratorConfig as GeneratorConfig  # generate's input
from connector.sandbox.store import Database
from connector.sandbox.vocabulary import Vocabulary


class Generator(RandomPopulation, CatalogueBuilder):
    """Builds the reference data, the planted cases and the random population."""


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
