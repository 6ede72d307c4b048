"""Hostile mapping files: each is refused quickly with `file:line:col`, never with a traceback.

The corpus is `tests/fixtures/hostile_mappings/` (bombs, depth, encodings, tags, odd values); the
big files are made at test time rather than committed. `connector mapping check` runs in-process
for every file (the e2e tests run some as processes and measure their memory).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.cli.main import main
from tests.support.hostile_mappings import CORPUS, EXPECTED, GENERATED


def test_the_corpus_is_large_and_every_file_has_an_expectation() -> None:
    """At least thirty hostile files, each with its expected problem."""
    names = sorted(path.name for path in CORPUS.iterdir())
    assert len(names) + len(GENERATED) >= 30
    assert names == sorted(EXPECTED)


def assert_refused(path: Path, code: int, err: str, fragment: str) -> None:
    """Exit 1, first line `FILE:LINE:COL: …` with the expected words, a count, no traceback."""
    lines = err.splitlines()
    assert code == 1, err
    assert "Traceback" not in err
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", lines[0]), lines[0]
    assert fragment in lines[0], lines[0]
    assert lines[-1] in (f"{path}: 1 problem", *(f"{path}: {n} problems" for n in range(2, 9)))
    assert all(len(line) <= 2000 for line in lines)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_hostile_file_is_refused_with_a_located_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`connector mapping check FILE` names file, line and column, and what is wrong."""
    path = CORPUS / name
    code = main(["mapping", "check", str(path)])
    assert_refused(path, code, capsys.readouterr().err, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_big_files_are_refused_before_the_expensive_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over the size limit: refused after reading one byte past it; the others by their limit."""
    make, fragment = GENERATED[name]
    path = make(tmp_path)
    code = main(["mapping", "check", str(path)])
    assert_refused(path, code, capsys.readouterr().err, fragment)
