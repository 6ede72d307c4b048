"""Audiences by course, business days and owners, on a synced sandbox, against the reference."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import holidays
import pytest

from connector.bundles import Labels
from connector.sandbox.app import SandboxServer
from connector.sandbox.service import Sandbox
from connector.sandbox.staff import enrolment_staff
from jobs.cli.main import EXIT_OK, main
from jobs.pipeline.mapping_apply import impact
from jobs.pipeline.runs import sync
from mappings.bundle import CourseEnrolment, LearnerBundle
from mappings.loader import load_mapping
from tests.reference import Outcome, Variant, decide
from tests.support.bundles import CALENDAR, DEFAULT_MAPPING, default_mapping
from tests.support.clock import FakeClock
from tests.support.rig import Rig
from tests.support.sandbox import TODAY, control, served, settings_for
from tests.support.sandbox_bundles import bundle_for, combos

pytestmark = pytest.mark.integration

SHORT_COURSES = (
    DEFAULT_MAPPING.read_text()
    .replace("\nfacts:\n", "\naudiences:\n  short_courses:\n    courses: [HLTAID*]\n\nfacts:\n", 1)
    .replace(
        "course_enrolment_stages:\n",
        "course_enrolment_stages:\n  - id: short-course-settled\n    audience: short_courses\n"
        "    stage: closed\n    when:\n      all:\n"
        "        - {field: status, in_set: finalised_statuses}\n"
        "        - any: [{not: {fact: certificate_owed}}, {fact: certified}]\n",
        1,
    )
)
BUSINESS_DAYS = DEFAULT_MAPPING.read_text().replace(
    "certificate_deadline_days: 30 ", "certificate_deadline_days: 20 business days ", 1
)
# Friday 5 February 2027: the 20 business days before it skip four weekends and Australia Day.
HOLIDAY_TODAY = date(2027, 2, 5)
NSW = holidays.country_holidays("AU", subdiv="NSW")


def case(server: SandboxServer, name: str) -> dict[str, Any]:
    """A planted case as the control API lists it."""
    return next(c for c in control(server, "GET", "/cases") if c["name"] == name)


def with_course_codes(sandbox: Sandbox, bundle: LearnerBundle) -> LearnerBundle:
    """A bundle whose enrolments have their course codes (the store joins them from offers)."""
    db = sandbox.db

    def code(ce: CourseEnrolment) -> str:
        offer = db.course_offers.rows[ce.course_offer_id or 0]
        return str(db.courses.rows[offer["CourseId"]]["CourseCode"])

    enrolments = tuple(
        dataclasses.replace(ce, course_code=code(ce)) for ce in bundle.course_enrolments
    )
    return dataclasses.replace(bundle, course_enrolments=enrolments)


def crossings(before: Outcome, after: Outcome) -> tuple[Counter[str], Counter[str]]:
    """Flags raised and cleared, and tags added (+name) and removed (-name), between outcomes."""
    flags: Counter[str] = Counter()
    flags.update(f"+{key[0]}" for key in after.flags - before.flags)
    flags.update(f"-{key[0]}" for key in before.flags - after.flags)
    tags: Counter[str] = Counter()
    for ce_id, (_, new) in after.enrolments.items():
        old = before.enrolments[ce_id][1]
        tags.update(f"+{tag}" for tag in new - old)
        tags.update(f"-{tag}" for tag in old - new)
    return flags, tags


async def test_enrolments_carry_their_course_offer_study_mode_and_staff(rig: Rig) -> None:
    """Every stored enrolment holds what its item and the course-offer listing say."""
    report = await sync(rig.ctx)
    assert report.learners_evaluated == 300
    counts = control(rig.server, "GET", "/counters")["by_endpoint"]
    offers = len(rig.server.sandbox.db.course_offers)
    assert counts["GET /course-offers"] == -(-offers // 1000)  # its pages, on the first read
    db = rig.server.sandbox.db
    vocab = rig.server.sandbox.vocab
    study_modes = {
        entry.id: entry.description
        for ident in vocab.ids("study-modes")
        if (entry := vocab.entry("study-modes", ident)) is not None
    }
    found = await rig.store.bundles.many(db.learners.ids())
    seen_modes, seen_coordinators = set(), 0
    for bundle, _ in found.values():
        for ce in bundle.course_enrolments:
            row = db.course_enrolments.rows[ce.id]
            offer = db.course_offers.rows[row["CourseOfferId"]]
            assert ce.course_offer_code == offer["Code"]
            assert ce.course_offer_end_date == offer["CourseOfferEndDate"]
            assert ce.course_code == db.courses.rows[offer["CourseId"]]["CourseCode"]
            assert ce.study_mode == study_modes[row["StudyModeId"]]
            assert (ce.trainer_id, ce.coordinator_id) == enrolment_staff(row, offer)
            seen_modes.add(ce.study_mode)
            seen_coordinators += ce.coordinator_id is not None
    assert seen_modes == {"Full-time", "Part-time", "International"}
    assert 0 < seen_coordinators < sum(len(b.course_enrolments) for b, _ in found.values())
    control(rig.server, "POST", "/counters/reset")
    await sync(rig.ctx)
    assert "GET /course-offers" not in control(rig.server, "GET", "/counters")["by_endpoint"]


async def test_every_flag_on_an_enrolment_is_owned_by_its_coordinator_else_trainer(
    rig: Rig,
) -> None:
    """The worklist's owners are the reference's; the planted owners are who they should be."""
    await sync(rig.ctx)
    sandbox = rig.server.sandbox
    labels = Labels.from_combos(combos(sandbox))
    expected: dict[tuple[str, str, int], int] = {}
    for learner_id in sandbox.db.learners.ids():
        expected.update(decide(bundle_for(sandbox, learner_id, labels), TODAY).owners)
    items = await rig.store.worklist.items(TODAY)
    owned = {(i.flag, i.subject, i.id): i.owner_id for i in items if i.owner_id is not None}
    assert owned == expected
    assert all(i.owner_id is None for i in items if i.subject == "learner")
    for name in ("owner-coordinator", "owner-trainer-only"):
        planted = case(rig.server, name)
        ((ce, owner),) = planted["owners"].items()
        item = next(i for i in items if i.course_enrolment_id == int(ce))
        assert item.owner_id == owner
    assert (
        case(rig.server, "owner-coordinator")["owners"]
        != case(rig.server, "owner-trainer-only")["owners"]
    )


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # decision logic: store-neutral
async def test_an_audience_rule_moves_only_the_short_course_enrolments(rig: Rig) -> None:
    """The preview of the short-course audience: exactly the reference's moves, one course."""
    await sync(rig.ctx)
    proposed = load_mapping(SHORT_COURSES, "short-courses.yaml", CALENDAR)
    found = await impact(rig.store, default_mapping(), proposed, TODAY)
    sandbox = rig.server.sandbox
    labels = Labels.from_combos(combos(sandbox))
    moves: Counter[tuple[str, str]] = Counter()
    for learner_id in sandbox.db.learners.ids():
        bundle = with_course_codes(sandbox, bundle_for(sandbox, learner_id, labels))
        before = decide(bundle, TODAY)
        codes = {ce.id: ce.course_code or "" for ce in bundle.course_enrolments}
        shorts = frozenset(code for code in codes.values() if code.startswith("HLTAID"))
        after = decide(bundle, TODAY, Variant(never_reconnect=shorts))
        for ce_id, (stage, _) in after.enrolments.items():
            if stage != before.enrolments[ce_id][0]:
                moves[(before.enrolments[ce_id][0], stage)] += 1
                assert codes[ce_id].startswith("HLTAID")
    assert moves == Counter({("Reconnect", "closed"): 1})  # the planted short course
    assert found.stage_moves == moves
    assert found.courses == Counter({"HLTAID011": 1})
    short = case(rig.server, "short-course-finished")
    assert found.samples["stage Reconnect -> closed"] == [short["learner_id"]]
    assert found.learner_moves == Counter({("Reconnect", "none"): 1})  # it was their only one


@pytest.fixture
def holiday_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SandboxServer]:
    """A sandbox made for Friday 5 February 2027 in New South Wales, and settings aimed at it."""
    with served(today=HOLIDAY_TODAY, holidays="AU-NSW") as server:
        for name, value in settings_for(server, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}").items():
            monkeypatch.setenv(f"CONNECTOR_{name}", value)
        monkeypatch.setenv("CONNECTOR_HOLIDAYS", "AU-NSW")
        yield server


def run(capsys: pytest.CaptureFixture[str], clock: FakeClock, *argv: str) -> str:
    """Run one command; return its standard output."""
    capsys.readouterr()
    assert main(list(argv), clock=clock) == EXIT_OK, capsys.readouterr().err
    return capsys.readouterr().out


def test_a_business_day_deadline_is_previewed_with_the_references_crossings(
    holiday_env: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """30 calendar days to 20 business days, across Australia Day: the reference's crossings.

    The planted completion 20 business days ago (29 calendar days: a holiday in between) stays
    due soon; the one 21 business days ago becomes overdue, one day late.
    """
    clock = FakeClock(datetime(2027, 2, 4, 22, 0, tzinfo=UTC))  # 09:00 on the 5th in Sydney
    run(capsys, clock, "sync")
    changed = tmp_path / "business-days.yaml"
    changed.write_text(BUSINESS_DAYS)
    preview = json.loads(run(capsys, clock, "mapping", "preview", str(changed), "--json"))

    sandbox = holiday_env.sandbox
    labels = Labels.from_combos(combos(sandbox))
    variant = Variant(deadline_business_days=20, holidays=NSW)
    flags: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for learner_id in sandbox.db.learners.ids():
        bundle = bundle_for(sandbox, learner_id, labels)
        found_flags, found_tags = crossings(
            decide(bundle, HOLIDAY_TODAY), decide(bundle, HOLIDAY_TODAY, variant)
        )
        flags.update(found_flags)
        if bundle.learner.is_active is True:
            tags.update(found_tags)
    assert {
        f"{sign}{flag}": n
        for flag, moved in preview["flags"].items()
        for sign, n in (("+", moved["raised"]), ("-", moved["cleared"]))
        if n
    } == dict(flags)
    assert {
        f"{sign}{tag}": n
        for tag, moved in preview["tags"].items()
        for sign, n in (("+", moved["added"]), ("-", moved["removed"]))
        if n
    } == dict(tags)
    assert flags["+certificate-overdue"] >= 1

    last_day = case(holiday_env, "certificate-20-business-days")["course_enrolment_ids"]
    late = case(holiday_env, "certificate-21-business-days")["course_enrolment_ids"]
    run(capsys, clock, "mapping", "apply", str(changed), "--yes")
    items = json.loads(run(capsys, clock, "worklist", "--json"))
    by_enrolment = {(i["flag"], i["course_enrolment_id"]): i for i in items}
    due_today = by_enrolment[("certificate-due-soon", last_day[0])]
    assert (due_today["due"], due_today["days_overdue"]) == ("2027-02-05", 0)
    assert "29 days ago" in due_today["reason"]  # 20 business days: 4 weekends and a holiday
    overdue = by_enrolment[("certificate-overdue", late[0])]
    assert (overdue["due"], overdue["days_overdue"]) == ("2027-02-04", 1)


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # output shape: store-neutral
async def test_worklist_and_digest_group_open_work_by_owner(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`worklist --by-owner` and `digest --by-owner`: the same groups, busiest owner first."""
    await sync(rig.ctx)
    capsys.readouterr()  # the sync's own log lines
    monkeypatch.setenv(
        "CONNECTOR_DATABASE_URL", rig.store.db.engine.url.render_as_string(hide_password=False)
    )
    clock = rig.store.clock

    async def printed(*argv: str) -> Any:
        assert await asyncio.to_thread(main, list(argv), clock=clock) == EXIT_OK
        return capsys.readouterr().out

    groups = json.loads(await printed("worklist", "--by-owner", "--json"))
    items = await rig.store.worklist.items(TODAY)
    assert sum(len(group["items"]) for group in groups) == len(items)
    owners = [group["owner_id"] for group in groups]
    assert owners[-1] is None  # learners' flags: nobody to route them to
    assert len(set(owners)) == len(owners)
    overdue = [sum(i["kind"] == "overdue" for i in group["items"]) for group in groups[:-1]]
    assert overdue == sorted(overdue, reverse=True)
    for group in groups:
        assert {item["owner_id"] for item in group["items"]} == {group["owner_id"]}
    first = owners[0]
    mine = json.loads(await printed("worklist", "--owner", str(first), "--json"))
    assert mine == groups[0]["items"]
    text = await printed("worklist", "--by-owner")
    assert f"owner {first}: {len(mine)} item(s), {overdue[0]} overdue" in text
    digest = json.loads(await printed("digest", "--by-owner", "--json"))
    assert [(line["owner_id"], line["count"], line["overdue"]) for line in digest["owners"]] == [
        (
            group["owner_id"],
            len(group["items"]),
            sum(i["kind"] == "overdue" for i in group["items"]),
        )
        for group in groups
    ]
    assert json.loads(await printed("digest", "--json"))["owners"] is None
    assert f"owner {first}: {len(mine)} open" in await printed("digest", "--by-owner")
