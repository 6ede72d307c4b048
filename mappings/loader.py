"""Loading a mapping file: YAML text in, a checked and compiled mapping out.

Every problem of a file is reported at once, each naming the source, line and column, the rule
(when inside one), the path within it, what was expected and what was found:

    mapping.yaml:42:7: rule reconnect: when.all[2]: unknown operator 'greater'; expected one of …

The schema (`mappings.schema`) and the checker (`mappings.checker`) find the problems;
`mappings.positions` places them in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from mappings.calendar import BusinessCalendar
from mappings.checker import Checker
from mappings.compiler import CompiledMapping, compile_mapping
from mappings.positions import Loc, locate, rule_and_path
from mappings.problems import MappingError, Problem
from mappings.reading import read_yaml
from mappings.schema import MappingSpec
from mappings.schema_problems import schema_problem


def load_mapping(text: str, source: str, calendar: BusinessCalendar) -> CompiledMapping:
    """Parse, check and compile a mapping; raise `MappingError` listing every problem."""
    return compile_mapping(parse_mapping(text, source), calendar)


def parse_mapping(text: str, source: str) -> MappingSpec:
    """Parse and check a mapping without compiling it."""
    return parse_located(text, source).spec


@dataclass(frozen=True)
class ParsedMapping:
    """A checked mapping with its YAML tree, so later findings can name their line and column."""

    spec: MappingSpec
    raw: Any
    source: str

    def warning(self, loc: Loc, message: str) -> Problem:
        """A located warning at a place of the mapping (a checker-style location)."""
        line, column, real = locate(self.raw, loc, tagged=False)
        rule, path = rule_and_path(self.raw, real)
        return Problem(self.source, line, column, message, rule, path, warning=True)


def parse_located(text: str, source: str) -> ParsedMapping:
    """Parse and check a mapping, keeping its YAML tree for positions."""
    raw = _read_yaml(text, source)
    try:
        spec = MappingSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [schema_problem(error, raw, source) for error in exc.errors()]
        raise MappingError(sorted(problems, key=_order)) from exc
    problems = Checker(spec, raw, source).run()
    if problems:
        raise MappingError(sorted(problems, key=_order))
    return ParsedMapping(spec, raw, source)


def _order(problem: Problem) -> tuple[int, int, str]:
    return (problem.line, problem.column, problem.message)


def _read_yaml(text: str, source: str) -> Any:
    raw = read_yaml(text, source)
    if not isinstance(raw, CommentedMap):
        found = "a list" if isinstance(raw, list) else "nothing" if raw is None else "a value"
        message = f"a mapping file is a YAML mapping (version, stages, …); found {found}"
        raise MappingError([Problem(source, 1, 1, message)])
    return raw
