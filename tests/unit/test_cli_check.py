from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from connector.wisenet.vocabulary import LIFECYCLE_COMBOS
from jobs.cli.main import EXIT_CONFIGURATION, EXIT_FAILED, EXIT_OK, main
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.client import API_KEY, BASE_URL
from tests.support.clock import FakeClock


@pytest.fixture
def wisenet(monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.MockRouter]:
    """A mocked Wisenet and the settings that point `check` at it."""
    monkeypatch.setenv("CONNECTOR_WISENET_BASE_URL", BASE_URL)
    monkeypatch.setenv("CONNECTOR_WISENET_API_KEY", API_KEY)
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "json")
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get("/learnersAU").respond(json=learners("Verified", "Unverified", None))
        yield router


def learners(*statuses: str | None) -> list[dict[str, object]]:
    """A page of learners with these `UsiStatus` values."""
    return [
        {"Data": {"LearnerId": 10 + i, "Personal": {"UsiStatus": status}}, "Relationships": {}}
        for i, status in enumerate(statuses)
    ]


def combo(name: str) -> list[dict[str, object]]:
    """A two-value combo body."""
    return [{"Data": {"SomeId": 500 + i, "Description": f"{name} {i}"}} for i in range(2)]


def test_check_loads_the_combos_and_reports_the_budget(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A healthy account: one request per combo and one page of learners, nothing written."""
    for name in LIFECYCLE_COMBOS:
        wisenet.get(f"/combos/{name}").respond(json=combo(name))
    assert main(["check"], clock=FakeClock()) == EXIT_OK
    out = capsys.readouterr().out
    assert "combo enrolment-statuses: 2 values" in out
    assert f"requests: {len(LIFECYCLE_COMBOS) + 1} spent by this check; daily quota 1000" in out
    assert "UsiStatus" not in out
    assert out.rstrip().endswith("check passed")
    assert all(call.request.method == "GET" for call in wisenet.calls)
    assert len(wisenet.calls) == len(LIFECYCLE_COMBOS) + 1


def test_check_warns_when_no_learner_has_a_verified_usi_status(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """An account that spells the status differently would flag every USI as unverified."""
    for name in LIFECYCLE_COMBOS:
        wisenet.get(f"/combos/{name}").respond(json=combo(name))
    wisenet.get("/learnersAU").respond(json=learners("Valid", "Valid", "Invalid", None))
    assert main(["check"], clock=FakeClock()) == EXIT_OK
    out = capsys.readouterr().out
    assert (
        "warning: set verified_usi_statuses: no learner among the first 4 has a UsiStatus of "
        "['Verified']; values seen: 'Valid' x2, 'Invalid' x1"
    ) in out
    assert sum(c.request.url.path.endswith("/learnersAU") for c in wisenet.calls) == 1


def test_check_with_a_bad_key_fails_clearly(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused key stops at the first request with one line naming the endpoint."""
    wisenet.get(url__regex=r".*").respond(401)
    assert main(["check"], clock=FakeClock()) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.strip() == "error: GET /combos/{name}: Wisenet refused the API key"
    assert len(wisenet.calls) == 1


def test_check_against_an_unreachable_host_fails_after_retrying(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """Connection failures are retried with (fake) backoff, then reported."""
    wisenet.get(url__regex=r".*").mock(side_effect=httpx.ConnectError("refused"))
    clock = FakeClock()
    assert main(["check"], clock=clock) == EXIT_FAILED
    assert capsys.readouterr().err.strip() == "error: GET /combos/{name}: could not connect"
    assert len(wisenet.calls) == 6
    assert len([s for s in clock.sleeps if s > 0.2]) == 5


def test_check_on_a_malformed_response_fails_clearly(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HTML page where JSON was expected is named as such."""
    wisenet.get(url__regex=r".*").respond(
        200, text="<html/>", headers={"content-type": "text/html"}
    )
    assert main(["check"], clock=FakeClock()) == EXIT_FAILED
    assert "GET /combos/{name}: response is not JSON (text/html)" in capsys.readouterr().err


def test_check_without_a_key_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Production defaults refuse to run without a key, before any request."""
    with respx.mock(assert_all_called=False) as router:
        assert main(["check"], clock=FakeClock()) == EXIT_CONFIGURATION
    assert "CONNECTOR_WISENET_API_KEY is not set" in capsys.readouterr().err
    assert len(router.calls) == 0


def test_bad_settings_stop_check_with_every_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid settings are listed one per line and nothing is called."""
    monkeypatch.setenv("CONNECTOR_WISENET_RATE_LIMIT", "abc")
    monkeypatch.setenv("CONNECTOR_TIMEZONE", "Nowhere/Land")
    assert main(["check"], clock=FakeClock()) == EXIT_CONFIGURATION
    err = capsys.readouterr().err
    assert "CONNECTOR_WISENET_RATE_LIMIT:" in err
    assert "CONNECTOR_TIMEZONE:" in err


def test_version_and_help_exit_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the version and `--help` lists `check`."""
    assert main(["--version"]) == EXIT_OK
    assert "connector, version" in capsys.readouterr().out
    assert main(["--help"]) == EXIT_OK
    assert "check" in capsys.readouterr().out


def test_check_warns_about_mapping_names_the_account_lacks(
    wisenet: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    """A status the mapping names but the account's combo lacks is a warning, not a failure."""
    statuses = [
        "Enquiry",
        "Pending",
        "Current",
        "Completed",
        "Completion Pending",
        "Withdrawn",
        "Cancelled (no penalty)",
        "Cancelled (penalty)",
        "Declined",
    ]
    wisenet.get("/combos/enrolment-statuses").respond(
        json=[
            {"Data": {"EnrolmentStatusId": 90 + i, "Description": d}}
            for i, d in enumerate(statuses)
        ]
    )
    wisenet.get("/combos/outcomes").respond(
        json=[
            {"Data": {"OutcomeId": 700 + i, "Code": code, "Description": "x"}}
            for i, code in enumerate(["20", "30", "40", "41", "51", "52", "60", "65", "81", "82"])
        ]
    )
    for name in ("application-statuses", "credential-statuses", "countries"):
        wisenet.get(f"/combos/{name}").respond(json=[{"Data": {"XId": 1, "Description": "Issued"}}])
    assert main(["check"], clock=FakeClock()) == EXIT_OK
    out = capsys.readouterr().out
    line = next(
        n
        for n, text in enumerate(DEFAULT_MAPPING.read_text().splitlines(), 1)
        if "Partial Attendance]" in text
    )
    assert (
        f"warning: config/mapping.yaml:{line}:24: sets.finalised_statuses[4]: 'Partial Attendance' "
        "is not among the account's enrolment-statuses, so it can never match"
    ) in out
    assert "outcomes" not in out.split("warning:", 1)[1]
    assert out.rstrip().endswith("check passed")


def test_check_warns_about_audience_courses_the_account_lacks(
    wisenet: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One `GET /courses` page; each code or pattern no course has is a located warning."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        DEFAULT_MAPPING.read_text().replace(
            "\nfacts:\n",
            "\naudiences:\n  short:\n    courses: [HLTAID011, hltaid0*, HLTAID099, CPR*]\n"
            "\nfacts:\n",
            1,
        )
    )
    monkeypatch.setenv("CONNECTOR_MAPPING_FILE", str(mapping))
    for name in LIFECYCLE_COMBOS:
        wisenet.get(f"/combos/{name}").respond(json=combo(name))
    courses = wisenet.get("/courses").respond(
        json=[
            {"Data": {"CourseId": 200, "CourseCode": "HLTAID011"}},
            {"Data": {"CourseId": 77, "CourseCode": "BSB40120"}},
        ]
    )
    assert main(["check"], clock=FakeClock()) == EXIT_OK
    out = capsys.readouterr().out
    warned = [line for line in out.splitlines() if "audience short" in line]
    assert courses.call_count == 1
    assert len(warned) == 2
    assert warned[0].endswith(
        "audiences.short.courses[2]: audience short: 'HLTAID099' is not a course of the account "
        "(2 courses)"
    )
    assert warned[1].endswith(
        "audiences.short.courses[3]: audience short: 'CPR*' matches no course of the account "
        "(2 courses)"
    )
    assert warned[0].startswith(f"warning: {mapping}:")
