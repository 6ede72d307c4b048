"""The operator's commands through `main`, on a store filled by a real sync of the sandbox."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import structlog

from jobs.cli.main import EXIT_CONFIGURATION, EXIT_FAILED, EXIT_OK, main
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.clock import FakeClock
from tests.support.dead_letters import seed_dead_letter
from tests.support.sandbox import served, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A store file and settings aimed at a served sandbox (yielded: its base URL)."""
    with served() as server:
        for name, value in settings_for(server, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}").items():
            monkeypatch.setenv(f"CONNECTOR_{name}", value)
        yield server.base_url


def run(capsys: pytest.CaptureFixture[str], clock: FakeClock, *argv: str) -> str:
    """Run one command; return its standard output."""
    capsys.readouterr()
    assert main(list(argv), clock=clock) == EXIT_OK, capsys.readouterr().err
    return capsys.readouterr().out


def test_operating_the_connector(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sync, then read everything back; apply a mapping; purge by retention."""
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    synced = run(capsys, clock, "sync")
    assert "learners evaluated: 300" in synced

    status = json.loads(run(capsys, clock, "status", "--json"))
    assert status["learners"] == 300
    assert status["last_runs"]["sync"]["outcome"] == "done"
    assert status["outbox"] == 0
    assert status["scheduler"] == {"leader": None}  # no `connector run` holds the lock
    assert status["mapping"] == {
        "version": 1,
        "source": str(DEFAULT_MAPPING),
        "file_differs": False,
        "file": {"path": str(DEFAULT_MAPPING), "state": "active", "problem": None},
    }
    assert status["budget"]["used"] > 100
    assert status["budget"]["write_reserve"] == status["budget"]["quota"] // 5
    assert status["budget"]["reads_paused"] is False
    text = run(capsys, clock, "status")
    assert "writes keep the last" in text
    assert "(running)" in text

    counts = json.loads(run(capsys, clock, "report", "--json"))
    assert sum(counts["stages"].values()) == 300
    assert counts["flags"]["certificate-overdue"] >= 1

    rows = list(csv.DictReader(io.StringIO(run(capsys, clock, "export"))))
    assert len(rows) == 430
    assert set(rows[0]) == {
        "learner_id",
        "learner_stage",
        "course_enrolment_id",
        "stage",
        "flags",
        "desired_tags",
        "stage_since",
    }

    learner_id = rows[0]["learner_id"]
    explained = json.loads(run(capsys, clock, "explain", learner_id, "--json"))
    assert explained["learner_id"] == int(learner_id)
    assert explained["course_enrolments"][0]["stage"] == rows[0]["stage"]

    assert (
        run(capsys, clock, "purge").strip()
        == "purged: runs 0, dead_letters 0, stage_history 0, webhook_inbox 0"
    )
    clock.advance(401 * 86400)
    purged = run(capsys, clock, "purge")
    assert "runs 1," in purged
    assert "stage_history 0" not in purged


def test_applying_needs_a_yes(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --yes and without a yes at the prompt, nothing switches."""
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    run(capsys, clock, "sync")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["mapping", "apply", str(DEFAULT_MAPPING)], clock=clock) == EXIT_FAILED
    assert "not applied" in capsys.readouterr().out
    assert json.loads(run(capsys, clock, "status", "--json"))["mapping"]["version"] == 1


def test_applying_a_mapping_logs_its_stage_changes_on_stderr_not_stdout(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mapping apply` configures logging as every command does: JSON on stderr off a terminal."""
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    run(capsys, clock, "sync")
    changed = tmp_path / "mapping.yaml"
    changed.write_text(
        DEFAULT_MAPPING.read_text().replace("reconnect_after_days: 60", "reconnect_after_days: 30")
    )
    structlog.reset_defaults()  # as in a new process
    assert main(["mapping", "apply", str(changed), "--yes"], clock=clock) == EXIT_OK
    out, err = capsys.readouterr()
    assert "stage.changed" not in out
    assert "mapping version 2 is active" in out
    changes = [json.loads(line) for line in err.splitlines() if '"stage.changed"' in line]
    assert changes
    assert {(line["from_stage"], line["to_stage"]) for line in changes} == {
        ("Completion", "Reconnect")
    }


def test_previewing_then_applying_a_mapping(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconnect after 30 days: the preview's counts, samples and pages, then the switch.

    A bad file on disk afterwards is reported by `status`; the active mapping stays.
    """
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    run(capsys, clock, "sync")
    changed = tmp_path / "mapping.yaml"
    changed.write_text(
        DEFAULT_MAPPING.read_text().replace("reconnect_after_days: 60", "reconnect_after_days: 30")
    )
    preview = json.loads(run(capsys, clock, "mapping", "preview", str(changed), "--json"))
    moved = preview["stage_moves"]["Completion"]["Reconnect"]
    assert moved > 0
    assert sum(n for row in preview["stage_moves"].values() for n in row.values()) == moved
    assert preview["tags"]["reconnect-eligible"]["added"] == moved
    assert preview["writes"] == moved
    assert 0 < len(preview["samples"]["stage Completion -> Reconnect"]) <= 5
    later = json.loads(
        run(capsys, clock, "mapping", "preview", str(changed), "--json", "--as-of", "2027-06-01")
    )
    assert later["learners"] == 300
    page = tmp_path / "preview.html"
    run(capsys, clock, "mapping", "preview", str(changed), "--html", str(page))
    assert 'id="stage-moves"' in page.read_text()
    table = run(capsys, clock, "mapping", "preview", str(changed))
    assert "course enrolments moving stage (rows from, columns to):" in table
    applied = run(capsys, clock, "mapping", "apply", str(changed), "--yes")
    assert "course enrolments moving stage" in applied
    assert f"write cost: {moved} request(s)" in applied
    assert "mapping version 2 is active; 300 learner(s) re-decided" in applied
    assert json.loads(run(capsys, clock, "status", "--json"))["mapping"]["file_differs"]

    latin_1 = tmp_path / "latin-1.yaml"
    latin_1.write_bytes(b"version: 1\nstages: [Termin\xe9]\n")
    monkeypatch.setenv("CONNECTOR_MAPPING_FILE", str(latin_1))
    text = run(capsys, clock, "status")
    assert (
        f"  the mapping file is bad (the active mapping stays in use): {latin_1}:2:16: not UTF-8"
    ) in text
    assert "active mapping: version 2" in text


def test_dead_letters_are_listed_replayed_and_discarded(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write blocked by an archived owned tag, then refused by Wisenet, waits until replayed."""
    clock = FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    run(capsys, clock, "sync")
    tags = httpx.get(f"{env}/tags", headers={"x-api-key": "sandbox-key"}).json()
    certified = next(t["Data"]["TagId"] for t in tags if t["Data"]["Name"] == "certified")
    overdue = [
        row
        for row in csv.DictReader(io.StringIO(run(capsys, clock, "export")))
        if "certificate-overdue" in row["desired_tags"]
    ]
    ce, learner = int(overdue[0]["course_enrolment_id"]), int(overdue[0]["learner_id"])
    sandbox = env.removesuffix("/v1") + "/_sandbox"
    httpx.post(f"{sandbox}/tags/{certified}/archive", json={"archived": True}).raise_for_status()
    httpx.post(f"{sandbox}/course-enrolments/{ce}/credentials", json={}).raise_for_status()
    clock.advance(3600)
    assert main(["sync"], clock=clock) == EXIT_FAILED  # the write waits, blocked by the archive
    status = json.loads(run(capsys, clock, "status", "--json"))
    assert [group["writes"] for group in status["blocked"]] == [1]
    assert status["dead_letters"] == 0

    seed_dead_letter(clock, ce, learner, ["certified"])
    (letter,) = [
        json.loads(line)
        for line in run(capsys, clock, "deadletters", "list", "--json").splitlines()
    ]
    assert letter["course_enrolment_id"] == ce
    assert letter["learner_id"] == learner
    assert "400" in letter["reason"]
    assert letter["attempts"] == 1
    assert "certified" in letter["add"]
    assert "1 dead letter(s)" in run(capsys, clock, "deadletters", "list")

    httpx.post(f"{sandbox}/tags/{certified}/archive", json={"archived": False}).raise_for_status()
    replayed = run(capsys, clock, "deadletters", "replay", str(letter["id"]))
    assert "replayed 1 dead letter(s): 1 learner(s) decided again, " in replayed
    assert "0 dead letter(s)" in run(capsys, clock, "deadletters", "list")
    clock.advance(3600)
    assert "writes: 1 done" in run(capsys, clock, "sync")
    assert run(capsys, clock, "deadletters", "discard", "--all").strip() == (
        "discarded 0 dead letter(s)"
    )
    assert main(["deadletters", "discard"], clock=clock) == EXIT_CONFIGURATION
