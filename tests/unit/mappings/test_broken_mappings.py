"""Broken mapping files and the exact problems each must produce (listed in its header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.loader import load_mapping
from mappings.problems import MappingError
from tests.support.bundles import CALENDAR

CORPUS = sorted((Path(__file__).parents[2] / "fixtures" / "broken_mappings").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    """The `# expect:` lines at the top of a corpus file."""
    return [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


def test_the_corpus_is_large_enough() -> None:
    """At least twenty kinds of mistake are covered."""
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_broken_file_reports_exactly_its_problems(path: Path) -> None:
    """Every problem, with file, line, column, rule and path, and nothing more."""
    with pytest.raises(MappingError) as caught:
        load_mapping(path.read_text(), path.name, CALENDAR)
    assert [str(problem) for problem in caught.value.problems] == expected(path)
