"""The mapping commands and `connector explain --bundle`, as admins run them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.bundle_file import bundle_from_data, parse_bundle_text
from connector.bundles import BundleError
from jobs.cli.main import EXIT_CONFIGURATION, EXIT_OK, main
from jobs.cli.mapping import mapping_schema
from tests.support.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "config" / "mapping.yaml"
CASES = ROOT / "config" / "mapping-cases"
SAMPLE = CASES / "sample-learner-10452.json"
BROKEN = ROOT / "tests" / "fixtures" / "broken_mappings" / "several-problems-at-once.yaml"


def test_check_accepts_the_default_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    """A good file: exit 0 and a one-line summary."""
    assert main(["mapping", "check", str(MAPPING)]) == EXIT_OK
    assert capsys.readouterr().out.strip().endswith("ok (5 stage rules, 14 flags, 4 tag rules)")


def test_check_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    """A broken file: exit 1, every problem on its own line, then the count."""
    assert main(["mapping", "check", str(BROKEN)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4
    assert err[0].startswith(f"{BROKEN}:11:12: rule sales: when.fact: unknown fact 'opened'")
    assert err[-1] == f"{BROKEN}: 3 problems"


def test_check_of_a_missing_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable file is named."""
    assert main(["mapping", "check", str(tmp_path / "nope.yaml")]) == EXIT_CONFIGURATION
    assert "nope.yaml: cannot read" in capsys.readouterr().err


def test_the_committed_json_schema_is_current() -> None:
    """config/mapping.schema.json is what `connector mapping schema` prints."""
    committed = json.loads((ROOT / "config" / "mapping.schema.json").read_text())
    assert committed == mapping_schema()


def test_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`connector mapping schema` prints the JSON Schema."""
    assert main(["mapping", "schema"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["title"] == "Wisenet lifecycle connector mapping"


def test_the_shipped_cases_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """The example cases pass against the default mapping."""
    assert main(["mapping", "test", str(MAPPING), "--cases", str(CASES)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "3 passed, 0 failed" in out
    assert "PASS  certified-then-enquiry.yaml" in out


def test_a_failing_case_says_what_differed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong expectations fail with each difference; a broken case file is an error row."""
    (tmp_path / "sample-learner-10452.json").write_text(SAMPLE.read_text())
    (tmp_path / "wrong.yaml").write_text(
        "name: wrong on purpose\ntoday: 2025-12-20\nbundle_file: sample-learner-10452.json\n"
        "expect:\n  learner_stage: Completion\n  course_enrolments:\n"
        "    88213: {stage: Sales, tags: [certified]}\n    1: {stage: Sales}\n"
        "  flags: [[missing-usi, learner, 10452]]\n"
    )
    (tmp_path / "broken.yaml").write_text("name: no bundle\ntoday: 2025-12-20\nexpect: {}\n")
    assert main(["mapping", "test", str(MAPPING), "--cases", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ERROR broken.yaml: ")
    assert "give exactly one of bundle, bundle_file" in out[0]
    assert out[1] == "FAIL  wrong.yaml: wrong on purpose"
    assert out[2:-1] == [
        "        learner stage Progression, expected Completion",
        "        enrolment 88213 stage Progression, expected Sales",
        "        enrolment 88213 tags [], expected ['certified']",
        "        enrolment 1 is not in the bundle",
        "        unexpected flag finalisation-overdue on course_enrolment 88213",
        "        missing flag missing-usi on learner 10452",
    ]
    assert out[-1] == "0 passed, 2 failed"


def test_explain_prints_the_rules_behind_the_decision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Text output: stage, the rules that did not match first, flags with reasons."""
    argv = ["explain", "--bundle", str(SAMPLE), "--mapping", str(MAPPING), "--as-of", "2025-12-20"]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[:6] == [
        "as of 2025-12-20",
        "learner 10452: stage Progression (from enrolment 88213)",
        "  enrolment 88213: Progression (rule progression)",
        "    offer BSB40120-2025-T1",
        "    not declined: status is 'Current'; expected Declined",
        "    not sales: status is 'Current'; expected one of Enquiry, Pending",
    ]


def test_explain_json_has_the_stable_shape(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON output keeps the documented keys; today defaults to the account's date."""
    monkeypatch.setenv("CONNECTOR_MAPPING_FILE", str(MAPPING))
    clock = FakeClock(datetime(2025, 12, 19, 14, 0, tzinfo=UTC))  # 20 Dec in Sydney
    assert main(["explain", "--bundle", str(SAMPLE), "--json"], clock=clock) == EXIT_OK
    shaped = json.loads(capsys.readouterr().out)
    assert list(shaped) == ["learner_id", "learner_stage", "course_enrolments", "flags"]
    assert shaped["learner_stage"] == "Progression"
    assert list(shaped["course_enrolments"][0])[:3] == ["id", "stage", "desired_tags"]
    assert shaped["flags"] == [
        {
            "flag": "finalisation-overdue",
            "subject": "course_enrolment",
            "id": 88213,
            "rule": "finalisation-overdue",
            "reason": "Still Current 22 days after its end date (2025-11-28)",
            "kind": "overdue",
            "due": "2025-12-12",
            "owner_id": None,
        }
    ]
    assert shaped["course_enrolments"][0]["course"] == {
        "course_code": None,  # a bundle file carries no course-offer listing
        "course_offer_code": "BSB40120-2025-T1",
        "study_mode": None,
        "coordinator_id": None,
        "trainer_id": None,
    }


def test_explain_warns_about_records_it_cannot_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record without its lookup is evaluated with an unknown status, and said so."""
    data = json.loads(SAMPLE.read_text())
    data["course_enrolments"][0]["Relationships"] = {}
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(data))
    argv = ["explain", "--bundle", str(path), "--mapping", str(MAPPING), "--as-of", "2025-12-20"]
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert "course_enrolments[0]: EnrolmentStatusId 4 has no EnrolmentStatus" in captured.err
    assert "enrolment 88213: unmapped (no rule matched)" in captured.out


def test_explain_of_a_broken_bundle_names_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad record stops explain with the file and the record's path."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"learner": {"Data": {}}}))
    argv = ["explain", "--bundle", str(path), "--mapping", str(MAPPING), "--as-of", "2025-12-20"]
    assert main(argv) == EXIT_CONFIGURATION
    assert f"{path}: learner.Data.LearnerId: Field required" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a bundle is an object"),
        ({"learner": {"Data": {"LearnerId": 1}}, "extra": []}, "unknown keys extra"),
        ({"course_enrolments": []}, "'learner' is required"),
        (
            {"learner": {"Data": {"LearnerId": 1}}, "credentials": {}},
            "credentials: expected a list",
        ),
        (
            {
                "learner": {"Data": {"LearnerId": 1}},
                "course_enrolments": [
                    {"Data": {"CourseEnrolmentId": 5, "LearnerId": 1, "EndDate": "someday"}}
                ],
            },
            "course enrolment 5: not a Wisenet timestamp",
        ),
    ],
)
def test_bundle_files_name_what_is_wrong(data: object, message: str) -> None:
    """Every bundle-file problem names the file and where."""
    with pytest.raises(BundleError, match=message):
        bundle_from_data(data, "b.json")


def test_bundle_text_may_be_json_or_yaml() -> None:
    """JSON is read as JSON; anything else as YAML; neither is an error."""
    assert parse_bundle_text('{"learner": 1}', "b.json") == {"learner": 1}
    assert parse_bundle_text("learner: 1\n", "b.yaml") == {"learner": 1}
    with pytest.raises(BundleError, match=r"b\.txt: neither JSON nor YAML"):
        parse_bundle_text("learner: [1\n", "b.txt")


LATIN_1 = ROOT / "tests" / "fixtures" / "hostile_mappings" / "latin-1.yaml"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["mapping", "check", "FILE"], 1),
        (["mapping", "test", "FILE", "--cases", str(CASES)], 1),
        (["mapping", "preview", "FILE"], 1),
        (["mapping", "apply", "FILE", "--yes"], 1),
        (["explain", "--bundle", str(SAMPLE), "--mapping", "FILE"], 1),
        (["check"], 1),
        (["sync"], EXIT_CONFIGURATION),
        (["backfill"], EXIT_CONFIGURATION),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else str(value),
)
def test_every_command_reading_a_mapping_file_prints_located_lines(
    argv: list[str],
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Latin-1 file: one line naming file, line and column, the documented exit code."""
    monkeypatch.setenv("CONNECTOR_MAPPING_FILE", str(LATIN_1))
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", "key-that-is-never-used")
    assert main([str(LATIN_1) if arg == "FILE" else arg for arg in argv]) == code
    err = capsys.readouterr().err.splitlines()
    first = err[0].removeprefix("configuration error: ")
    assert first.startswith(f"{LATIN_1}:8:40: not UTF-8: byte 0xe9 (invalid continuation byte)")
    assert "Traceback" not in "\n".join(err)


def test_values_that_can_never_match_are_located_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Typographic quotes and undocumented names warn; the mapping is still ok (exit 0)."""
    curly = tmp_path / "curly.yaml"
    text = MAPPING.read_text()
    line = text[: text.index("equals: Completed}")].count("\n") + 1
    curly.write_text(text.replace("equals: Completed}", "equals: \u201cCompleted\u201d}"))
    assert main(["mapping", "check", str(curly)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("ok (5 stage rules, 14 flags, 4 tag rules)")
    assert captured.err.splitlines() == [
        f"{curly}:{line}:29: warning: rule tag-certified: when.all[1].equals: "
        "'“Completed”' is written in typographic quotes, which are part of the value, so it can "
        "never match; write it in straight quotes or none"
    ]


def test_a_case_file_of_aliases_fails_alone_with_its_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An alias bomb in a case file is one failed case naming file and line, not a hang."""
    cases = Path(__file__).parents[1] / "fixtures" / "hostile_bundles" / "cases"
    assert main(["mapping", "test", str(MAPPING), "--cases", str(cases)]) == 1
    out = capsys.readouterr().out
    assert f"{cases / 'aliases.yaml'}:2: anchors and aliases are not allowed here" in out
    assert out.strip().endswith("0 passed, 1 failed")
