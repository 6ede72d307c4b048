"""The worklist of a synced sandbox: item for item the reference's flags, with their lateness."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from connector.bundles import Labels
from connector.store import migrate
from connector.store.worklist import WorkItem, selected
from jobs.cli.worklist import COLUMNS, csv_cell
from jobs.pipeline.runs import sync
from tests.reference import decide
from tests.support.databases import database
from tests.support.rig import Rig
from tests.support.sandbox import TODAY, control
from tests.support.sandbox_bundles import bundle_for, combos

pytestmark = pytest.mark.integration


def reference_items(rig: Rig, on: date) -> dict[tuple[str, str, int], int | None]:
    """Every flag lifecycle.md raises on active and inactive learners, with its days overdue."""
    sandbox = rig.server.sandbox
    labels = Labels.from_combos(combos(sandbox))
    found: dict[tuple[str, str, int], int | None] = {}
    for learner_id in sandbox.db.learners.ids():
        outcome = decide(bundle_for(sandbox, learner_id, labels), on)
        for key in outcome.flags:
            found[key] = outcome.days_overdue.get(key)
    return found


def case_enrolment(rig: Rig, name: str) -> int:
    """The planted case's course enrolment."""
    case = next(c for c in control(rig.server, "GET", "/cases") if c["name"] == name)
    return int(case["course_enrolment_ids"][0])


async def test_the_worklist_is_the_reference_flags_with_their_days_overdue(rig: Rig) -> None:
    """Same items, same lateness; day 31 of a missing certificate is 1 day overdue."""
    await sync(rig.ctx)
    items = await rig.store.worklist.items(TODAY)
    expected = reference_items(rig, TODAY)
    assert {(i.flag, i.subject, i.id): i.days_overdue for i in items} == expected
    assert len(items) == len(expected)
    by_enrolment = {
        (i.flag, i.course_enrolment_id): i for i in items if i.subject == "course_enrolment"
    }
    day_31 = by_enrolment["certificate-overdue", case_enrolment(rig, "certificate-day-31")]
    assert (day_31.days_overdue, day_31.kind) == (1, "overdue")
    assert day_31.due is not None
    assert (TODAY - day_31.due).days == 1
    day_30 = by_enrolment["certificate-due-soon", case_enrolment(rig, "certificate-day-30")]
    assert (day_30.days_overdue, day_30.kind) == (0, "other")


async def test_items_name_learners_by_id_and_number_and_enrolments_by_course(rig: Rig) -> None:
    """Every learner has its number; every enrolment item its sandbox course code."""
    await sync(rig.ctx)
    db = rig.server.sandbox.db
    items = await rig.store.worklist.items(TODAY)
    for item in items:
        learner = db.learners.rows[item.learner_id]
        assert item.learner_number == learner["Personal"]["LearnerNumber"]
        if item.course_enrolment_id is None:
            assert item.subject in ("learner", "checklist")
            continue
        offer = db.course_offers.rows[
            db.course_enrolments.rows[item.course_enrolment_id]["CourseOfferId"]
        ]
        assert item.course_code == db.courses.rows[offer["CourseId"]]["CourseCode"]


async def test_most_urgent_first_and_filters_select(rig: Rig) -> None:
    """Overdue by lateness, then missing data, then the rest; filters by kind, flag, course."""
    await sync(rig.ctx)
    items = await rig.store.worklist.items(TODAY)
    kinds = [item.kind for item in items]
    assert kinds == sorted(kinds, key=("overdue", "missing_data", "other").index)
    overdue = [item.days_overdue for item in items if item.kind == "overdue"]
    assert overdue == sorted(overdue, key=lambda days: -(days if days is not None else -1))
    assert all(item.kind == "missing_data" for item in selected(items, kind="missing_data"))
    usi = selected(items, flag_names=["missing-usi"])
    assert usi
    assert {item.flag for item in usi} == {"missing-usi"}
    code = next(item.course_code for item in items if item.course_code)
    assert code is not None
    in_course = selected(items, course=code.lower())
    assert in_course
    assert {item.course_code for item in in_course} == {code}


def as_items(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """CSV rows typed as the JSON has them."""
    typed: list[dict[str, object]] = []
    numbers = ("id", "learner_id", "course_enrolment_id", "owner_id", "days_overdue")
    for row in rows:
        typed.append(
            {
                key: (None if value == "" else int(value) if key in numbers else value)
                for key, value in row.items()
            }
        )
    return typed


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)
async def test_csv_and_json_agree_through_the_command(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`connector worklist --csv` and `--json` print the same items in the same order."""
    from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main  # noqa: PLC0415 - as a person runs it

    await sync(rig.ctx)
    capsys.readouterr()  # the sync's own log lines
    monkeypatch.setenv(
        "CONNECTOR_DATABASE_URL", rig.store.db.engine.url.render_as_string(hide_password=False)
    )
    assert await asyncio.to_thread(main, ["worklist", "--json"], clock=rig.store.clock) == EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    assert await asyncio.to_thread(main, ["worklist", "--csv"], clock=rig.store.clock) == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == COLUMNS
    assert as_items(rows) == printed
    expected = [item.as_json() for item in await rig.store.worklist.items(TODAY)]
    assert printed == expected
    assert set(printed[0]) == set(WorkItem.__dataclass_fields__)
    assert (
        await asyncio.to_thread(
            main, ["worklist", "--kind", "overdue", "--json"], clock=rig.store.clock
        )
        == EXIT_OK
    )
    assert {i["kind"] for i in json.loads(capsys.readouterr().out)} == {"overdue"}
    misspelt = ["worklist", "--flag", "certificate-overdeu"]
    assert await asyncio.to_thread(main, misspelt, clock=rig.store.clock) == EXIT_CONFIGURATION
    assert "no flag called certificate-overdeu; the mapping's flags: " in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+61 2", "'+61 2"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("L010028", "L010028"),
        (-3, -3),
        (None, ""),
    ],
)
def test_text_a_spreadsheet_would_run_is_quoted_in_csv(value: object, cell: object) -> None:
    """Learner numbers, course codes and reasons come from Wisenet: never a formula in Excel."""
    assert csv_cell(value) == cell


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_upgrade_marks_learners_with_old_flags_for_the_next_decision(
    kind: str, tmp_path: Path
) -> None:
    """0010 flags have no kind or due: the upgrade marks their learners for a decision."""
    async with database(kind, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            await migrate.upgrade(engine, "0010")
            async with engine.begin() as conn:
                for learner_id in (7, 8):
                    await conn.execute(
                        text(
                            "INSERT INTO learner_state (learner_id, stage, mapping_version, "
                            "decided_on, decision) VALUES (:id, 'Completion', 1, :day, '{}')"
                        ),
                        {"id": learner_id, "day": date(2026, 11, 1)},
                    )
                await conn.execute(
                    text(
                        "INSERT INTO flags (flag, subject, subject_id, learner_id, rule, reason, "
                        "raised_at) VALUES ('certificate-overdue', 'course_enrolment', 70, 7, "
                        "'certificate-overdue', 'late', :at)"
                    ),
                    {"at": datetime(2026, 11, 1, tzinfo=UTC)},
                )
                await conn.execute(text("INSERT INTO dirty_learners (learner_id) VALUES (8)"))
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                dirty = (await conn.execute(text("SELECT learner_id FROM dirty_learners"))).all()
                old = (await conn.execute(text("SELECT kind, due FROM flags"))).all()
        finally:
            await engine.dispose()
    assert sorted(row[0] for row in dirty) == [7, 8]
    assert [tuple(row) for row in old] == [(None, None)]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_the_owner_upgrade_marks_decided_learners_for_the_next_decision(
    kind: str, tmp_path: Path
) -> None:
    """0011 flags have no owner: the upgrade adds the column and marks learners for a decision."""
    async with database(kind, tmp_path) as url:
        engine = create_async_engine(url)
        try:
            await migrate.upgrade(engine, "0011")
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO learner_state (learner_id, stage, mapping_version, "
                        "decided_on, decision) VALUES (7, 'Completion', 1, :day, '{}')"
                    ),
                    {"day": date(2026, 11, 1)},
                )
                await conn.execute(
                    text(
                        "INSERT INTO flags (flag, subject, subject_id, learner_id, rule, reason, "
                        "raised_at, kind) VALUES ('certificate-overdue', 'course_enrolment', 70, "
                        "7, 'certificate-overdue', 'late', :at, 'overdue')"
                    ),
                    {"at": datetime(2026, 11, 1, tzinfo=UTC)},
                )
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                dirty = (await conn.execute(text("SELECT learner_id FROM dirty_learners"))).all()
                old = (await conn.execute(text("SELECT kind, owner_id FROM flags"))).all()
        finally:
            await engine.dispose()
    assert [row[0] for row in dirty] == [7]
    assert [tuple(row) for row in old] == [("overdue", None)]
