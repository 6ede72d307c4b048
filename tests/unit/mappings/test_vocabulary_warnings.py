"""Values that can never match are located warnings: typographic quotes, names no vocabulary has."""

from __future__ import annotations

from pathlib import Path

from mappings.loader import parse_located
from mappings.vocabulary import WISENET_VOCABULARY, never_matching
from tests.support.bundles import DEFAULT_MAPPING

KITCHEN_SINK = Path(__file__).parents[2] / "fixtures" / "mappings" / "kitchen_sink.yaml"
ACCOUNT = {
    "enrolment-statuses": frozenset(
        {
            "enquiry",
            "pending",
            "current",
            "completed",
            "completion pending",
            "withdrawn",
            "declined",
            "cancelled (no penalty)",
            "cancelled (penalty)",
        }
    ),
    "outcomes": frozenset({"20", "30", "40", "41", "51", "52", "60", "65", "81", "82"}),
    "credential-statuses": frozenset({"issued"}),
}
DOCUMENTED = "Wisenet's documented"

SMALL = """\
version: 1
stages: [Open, Done]
learner_stage:
  precedence: [Open, Done]
sets:
  finished: [\u201cCompleted\u201d, Withdrawn]
facts:
  unit_enrolment:
    zero: {field: outcome, one_of: [00, "00", 20]}
course_enrolment_stages:
  - id: done
    stage: Done
    when: {any: [{field: status, in_set: finished}, {field: status, equals: "\u2018Current\u2019"}]}
  - id: open
    stage: Open
    when:
      all: [{field: status, one_of: [Complete, Pending]}, {field: qualification_issued, is: true}]
flags:
  - id: odd
    subject: course_enrolment
    scope: {learner: {field: id, equals: 7}}
    when: {some: units, where: {field: outcome, equals: true}}
    reason: odd
tags:
  owned: [done]
  rules:
    - id: tag-done
      tag: done
      select:
        learner: {not: {field: id, equals: 3}}
        among: {none: units}
        latest: finished_on
dates:
  course_enrolment:
    finished_on: {first_of: [{field: end_date}, {earliest: start_date, of: units}]}
"""


def warnings(text: str, known: dict[str, frozenset[str]], whose: str) -> list[str]:
    """The warnings of one mapping text, as printed."""
    return [str(w) for w in never_matching(parse_located(text, "m.yaml"), known, whose)]


def test_names_the_account_lacks_are_located_warnings() -> None:
    """A status the account's combo lacks is named once, where it is written."""
    unknown = "'Partial Attendance' is not among the account's enrolment-statuses"
    text = DEFAULT_MAPPING.read_text()
    first, second = (
        n for n, line in enumerate(text.splitlines(), 1) if "Partial Attendance]" in line
    )
    assert warnings(text, ACCOUNT, "the account's") == [
        f"m.yaml:{first}:24: warning: sets.finalised_statuses[4]: {unknown}, so it can never match",
        f"m.yaml:{second}:29: warning: sets.non_completion_statuses[3]: {unknown}, "
        "so it can never match",
    ]


def test_the_default_mapping_uses_only_documented_names() -> None:
    """Offline, the default mapping draws no warning; unknown combos are skipped."""
    assert warnings(DEFAULT_MAPPING.read_text(), WISENET_VOCABULARY, DOCUMENTED) == []
    complete = {
        **ACCOUNT,
        "enrolment-statuses": ACCOUNT["enrolment-statuses"] | {"partial attendance"},
    }
    assert warnings(DEFAULT_MAPPING.read_text(), complete, "the account's") == []
    assert warnings(DEFAULT_MAPPING.read_text(), {}, "the account's") == []


def test_warnings_look_inside_scopes_children_and_dates() -> None:
    """Names inside `enrolment:`, quantifiers and date filters are checked, each once."""
    found = warnings(
        KITCHEN_SINK.read_text(),
        {"outcomes": frozenset({"20"}), "enrolment-statuses": frozenset({"current"})},
        "the account's",
    )
    assert [line.split(": warning: ")[0] for line in found] == [
        "m.yaml:6:10",
        "m.yaml:7:18",  # the set a date's `where` reads
        "m.yaml:8:10",
        "m.yaml:15:60",
        "m.yaml:71:46",
    ]
    assert found[-1] == (
        "m.yaml:71:46: warning: rule issued-credential: when.all[0].enrolment.equals: "
        "'Completed' is not among the account's enrolment-statuses, so it can never match"
    )


def test_typographic_quotes_and_undocumented_names_are_warned_of_offline() -> None:
    """Curly quotes are part of the value; `Complete` and the number 0 are no Wisenet names."""
    assert warnings(SMALL, WISENET_VOCABULARY, DOCUMENTED) == [
        "m.yaml:6:14: warning: sets.finished[0]: '“Completed”' is written in typographic "
        "quotes, which are part of the value, so it can never match; write it in straight "
        "quotes or none",
        "m.yaml:9:37: warning: facts.unit_enrolment.zero.one_of[0]: 0 is not among Wisenet's "
        "documented outcomes, so it can never match",
        "m.yaml:13:69: warning: rule done: when.any[1].equals: '\u2018Current\u2019' is written in "
        "typographic quotes, which are part of the value, so it can never match; write it in "
        "straight quotes or none",
        "m.yaml:17:38: warning: rule open: when.all[0].one_of[0]: 'Complete' is not among "
        "Wisenet's documented enrolment-statuses, so it can never match",
    ]
