from __future__ import annotations

import re
import time
from datetime import date

from connector.sandbox.entities import COURSE_ENROLMENTS, LEARNERS, UNIT_ENROLMENTS
from connector.sandbox.service import Sandbox
from tests.support.sandbox import client_for, make_sandbox

USI = re.compile(r"^[2-9A-HJ-NP-Z]{10}$")


def snapshot(sandbox: Sandbox) -> list[object]:
    """Every learner, enrolment and unit as served."""
    return [
        sandbox.item(entity, row)
        for entity in (LEARNERS, COURSE_ENROLMENTS, UNIT_ENROLMENTS)
        for row in (entity.table(sandbox.db).rows[i] for i in entity.table(sandbox.db).ids())
    ]


def test_the_same_seed_and_today_give_the_same_dataset() -> None:
    """Generation is deterministic; another seed or another today gives other data."""
    assert snapshot(make_sandbox(learners=80)) == snapshot(make_sandbox(learners=80))
    assert snapshot(make_sandbox(learners=80, seed=2)) != snapshot(make_sandbox(learners=80))
    moved = make_sandbox(learners=80, today=date(2027, 3, 1))
    assert snapshot(moved) != snapshot(make_sandbox(learners=80))


def test_the_population_looks_like_an_australian_rto() -> None:
    """USIs (with exemptions and gaps), overseas addresses, 1-3 enrolments, 3-12 units each."""
    sandbox = make_sandbox(learners=600)
    usis = [
        row["Personal"].get("UniqueStudentIdentifier") for row in sandbox.db.learners.rows.values()
    ]
    assert sum(1 for u in usis if u and USI.match(u)) > 450
    assert {"INDIV", "INTOFF", "SHORT"} & set(usis)
    assert None in usis
    australia = sandbox.vocab.id_of("countries", "Australia")
    countries = {
        row["Personal"]["StreetAddress"]["CountryId"] for row in sandbox.db.learners.rows.values()
    }
    assert len(countries - {australia}) >= 2
    per_learner = [
        len(sandbox.db.course_enrolments.ids_where("LearnerId", i))
        for i in sandbox.db.learners.ids()
    ]
    assert min(per_learner) >= 1
    random_learners = per_learner[len(sandbox.cases) :]
    assert max(random_learners) == 3
    codes = {row["Code"][:3] for row in sandbox.db.course_offers.rows.values()}
    assert {"BSB", "CHC", "SIT"} <= codes
    units = [
        len(sandbox.db.unit_enrolments.ids_where("CourseEnrolmentId", i))
        for i in sandbox.db.course_enrolments.ids()
    ]
    assert max(units) <= 12
    assert any(row["Personal"]["IsActive"] is False for row in sandbox.db.learners.rows.values())


def test_injected_latency_delays_answers_without_refusing_them() -> None:
    """Latency is added to answers; they still succeed."""
    sandbox = make_sandbox(learners=20)
    with client_for(sandbox) as api:
        api.post("/_sandbox/faults", json={"latency_ms": [40, 60]})
        started = time.perf_counter()
        answer = api.get("/v1/tags")
        waited = time.perf_counter() - started
    assert answer.status_code == 200
    assert waited >= 0.04
