"""Loading a mapping file: YAML text in, a checked and compiled mapping out.

Every problem of a file is reported at once, each naming the source, line and column, the rule
(when inside one), the path within it, what was expected and what was found:

    mapping.yaml:42:7: rule reconnect: when.all[2]: unknown operator 'greater'; expected one of …

The checks go beyond the schema: fields must exist in the catalogue for the subject in context,
stage rules may not refer to stages or flags (directly or through facts), facts and dates may not
refer to themselves, reason texts may use only known, non-personal variables, and tag rules may
write only owned tags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mappings.calendar import BusinessCalendar
from mappings.catalogue import CATALOGUE, CHILDREN, HAS_ENROLMENT, FieldKind, Subject
from mappings.compiler import CompiledMapping, compile_mapping
from mappings.problems import MappingError, Problem, dotted, shown
from mappings.reading import read_yaml
from mappings.schema import (
    CLOSED,
    CONDITION_KEYS,
    DATE_KEYS,
    FIELD_OPERATORS,
    NAME,
    RULE_ID,
    UNMAPPED,
    AllOf,
    AnyOf,
    Audience,
    Count,
    DateExpression,
    DateOfField,
    DateOffset,
    DateOfName,
    DatePoint,
    DateTest,
    EnrolmentScope,
    Every,
    FactRef,
    FieldTest,
    FirstOf,
    FlagRef,
    FlagRule,
    Latest,
    LearnerScope,
    LearnerStage,
    MappingSpec,
    MissingAny,
    NoneOf,
    Not,
    PerSubject,
    Selection,
    Some,
    StageIs,
    StageRule,
    Tags,
    TagSelect,
    TagWhen,
    TodayOffset,
    condition_kind,
    date_kind,
    is_threshold_name,
    point_kind,
    tag_rule_kind,
)

Loc = tuple[str | int, ...]

_APPLICABLE: dict[FieldKind, frozenset[str]] = {
    FieldKind.TEXT: frozenset({"equals", "one_of", "in_set", "matches", "exists"}),
    FieldKind.DATE: frozenset({"before", "on_or_before", "after", "on_or_after", "exists"}),
    FieldKind.BOOL: frozenset({"is", "exists"}),
    FieldKind.INT: frozenset({"equals", "one_of", "exists"}),
    FieldKind.PRESENCE: frozenset({"exists"}),
}


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
        rule, path = _rule_and_path(self.raw, real)
        return Problem(self.source, line, column, message, rule, path, warning=True)


def parse_located(text: str, source: str) -> ParsedMapping:
    """Parse and check a mapping, keeping its YAML tree for positions."""
    raw = _read_yaml(text, source)
    try:
        spec = MappingSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [_schema_problem(error, raw, source) for error in exc.errors()]
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


# --- positions --------------------------------------------------------------------------------


_CONDITION_KEYS_OF_CONSTRUCTS = frozenset({"when", "scope", "not", "where", "enrolment", "among"})
_DATE_POINT_KEYS = frozenset({"before", "on_or_before", "after", "on_or_after"})


def _is_union_position(real: Sequence[str | int]) -> bool:
    """Whether the node at `real` is a condition, date expression or tag rule.

    Pydantic puts the union's tag into error locations right after such a node.
    """
    if len(real) == 3 and real[0] in ("facts", "dates"):
        return True
    if len(real) == 3 and tuple(real[:2]) == ("tags", "rules"):
        return True
    last = real[-1]
    if last in _CONDITION_KEYS_OF_CONSTRUCTS or last in _DATE_POINT_KEYS:
        return True
    if last == "learner":
        return not (len(real) == 2 and real[0] in ("facts", "dates"))
    return isinstance(last, int) and len(real) >= 2 and real[-2] in ("all", "any", "first_of")


def locate(raw: Any, loc: Loc, *, tagged: bool = True) -> tuple[int, int, list[str | int]]:
    """Line, column (1-based) and the real path of a location in the YAML tree.

    Pydantic's locations (`tagged`) carry union tags after conditions; the checker's do not.
    """
    node, line, column = raw, 0, 0
    real: list[str | int] = []
    skip_tag = False
    for part in loc:
        if (
            skip_tag
            and isinstance(node, dict)
            and part
            in (condition_kind(node), date_kind(node), tag_rule_kind(node), point_kind(node))
        ):
            skip_tag = False
            continue
        skip_tag = False
        if isinstance(node, CommentedMap) and part in node:
            line, column = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, column = node.lc.item(part)
            node = node[part]
        else:
            break
        real.append(part)
        skip_tag = tagged and _is_union_position(real)
    return line + 1, column + 1, real


def _rule_and_path(raw: Any, real: list[str | int]) -> tuple[str | None, str]:
    """The enclosing rule's id (if any) and the path within it."""
    prefix = 0
    rule = None
    if (
        len(real) >= 2
        and real[0] in ("course_enrolment_stages", "flags")
        and isinstance(real[1], int)
    ):
        prefix = 2
        rule = _rule_id(raw[real[0]][real[1]])
    elif len(real) >= 3 and real[0] == "tags" and real[1] == "rules" and isinstance(real[2], int):
        prefix = 3
        rule = _rule_id(raw["tags"]["rules"][real[2]])
    return rule, dotted(real[prefix:])


def _rule_id(node: Any) -> str | None:
    value = node.get("id") if isinstance(node, dict) else None
    return str(value) if value is not None else None


def _schema_problem(error: Any, raw: Any, source: str) -> Problem:
    loc: Loc = tuple(error["loc"])
    line, column, real = locate(raw, loc)
    rule, path = _rule_and_path(raw, real)
    return Problem(source, line, column, _schema_message(error, raw, real), rule, path)


def _schema_message(error: Any, raw: Any, real: list[str | int]) -> str:  # noqa: PLR0911
    kind, found = error["type"], error.get("input")
    if kind == "unknown_operator":
        return _unknown(found, CONDITION_KEYS, "operator", "a condition")
    if kind == "unknown_date_expression":
        return _unknown(found, DATE_KEYS, "date expression", "a date")
    if kind == "unknown_date_point":
        return (
            "a date is compared with today, {today_minus_days: N}, {today_plus_days: N} "
            f"or {{date|field: NAME, plus_days: N, minus_days: N}}; found {shown(found)}"
        )
    if kind == "extra_forbidden":
        parent = _node_at(raw, real[:-1])
        allowed = _keys_by_position(real[:-1], parent) or _allowed_keys(parent)
        expected = f"; expected one of {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{real[-1] if real else error['loc'][-1]}'{expected}"
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "tag_rule_kind"):
        return message
    described = _PATTERNS.get((error.get("ctx") or {}).get("pattern", ""))
    if kind == "string_pattern_mismatch" and described:
        return f"{described}; found {shown(found)}"
    return f"{message}; found {shown(found)}"


def _unknown(found: Any, keys: Sequence[str], what: str, construct: str) -> str:
    expected = ", ".join(keys)
    if isinstance(found, dict) and found:
        named = ", ".join(f"'{key}'" for key in found)
        return f"unknown {what} {named}; expected one of {expected}"
    return (
        f"{construct} is a mapping with one {what} key; found {shown(found)}; "
        f"expected one of {expected}"
    )


def _node_at(raw: Any, path: Sequence[str | int]) -> Any:
    node = raw
    for part in path:
        node = node[part]
    return node


_KEYS_BY_KIND: dict[str, tuple[str, ...]] = {
    "field": ("field", *FIELD_OPERATORS),
    "date": ("date", "exists", "before", "on_or_before", "after", "on_or_after"),
    "some": ("some", "where"),
    "none": ("none", "where"),
    "every": ("every", "where"),
    "count": ("count", "where", "at_least", "at_most"),
}


_PATTERNS = {
    RULE_ID: "an id is lower-case letters, digits and hyphens, starting with a letter",
    NAME: "a name is lower-case letters, digits and underscores, starting with a letter",
}


def _keys_by_position(path: Sequence[str | int], parent: Any) -> tuple[str, ...]:
    """The keys of the construct at a fixed place of the file (the top, a rule, `tags` …)."""
    shape: tuple[str | int, ...] = tuple("#" if isinstance(p, int) else p for p in path)
    models: dict[tuple[str | int, ...], type[BaseModel]] = {
        (): MappingSpec,
        ("course_enrolment_stages", "#"): StageRule,
        ("flags", "#"): FlagRule,
        ("flags", "#", "due"): DateOffset,
        ("tags",): Tags,
        ("learner_stage",): LearnerStage,
        ("tags", "rules", "#"): TagSelect
        if isinstance(parent, dict) and "select" in parent
        else TagWhen,
        ("tags", "rules", "#", "select"): Selection,
        ("facts",): PerSubject,
        ("dates",): PerSubject,
    }
    model = models.get(shape)
    if len(path) == 2 and path[0] == "audiences":
        model = Audience
    if path and path[-1] in _DATE_POINT_KEYS:
        today = "today_minus_days" in parent or "today_plus_days" in parent
        model = TodayOffset if today else DateOffset
    if model is None:
        return ()
    return tuple(field.alias or name for name, field in model.model_fields.items())


def _allowed_keys(parent: dict[str, Any]) -> tuple[str, ...]:
    """The keys a condition accepts, told from its operator key."""
    return _KEYS_BY_KIND.get(condition_kind(parent) or "", ())


# --- semantic checks --------------------------------------------------------------------------


# Conditions decided before any stage is known, and what to call them in a problem.
_NO_DECISIONS = {"stage": "stage rules", "audience": "audiences (stage rules use them)"}


@dataclass
class Scope:
    """Where a condition stands: the rule kind it belongs to and how to report it."""

    rule_kind: str  # "stage", "audience", "flag", "tag" or "definition"
    loc: Loc


class Checker:
    """The checks the schema cannot express, with a position for each problem."""

    def __init__(self, spec: MappingSpec, raw: Any, source: str) -> None:
        self.spec = spec
        self.raw = raw
        self.source = source
        self.problems: list[Problem] = []
        self.flag_subjects = {flag.id: flag.subject for flag in spec.flags}
        self.stage_names = set(spec.stages)
        # Facts and dates that refer (maybe indirectly) to stages or flags.
        self._uses_decisions: dict[tuple[str, Subject, str], bool] = {}
        self._visiting: set[tuple[str, Subject, str]] = set()

    def problem(self, loc: Loc, message: str) -> None:
        """Record one problem at a location."""
        line, column, real = locate(self.raw, loc, tagged=False)
        rule, path = _rule_and_path(self.raw, real)
        self.problems.append(Problem(self.source, line, column, message, rule, path))

    def run(self) -> list[Problem]:
        """Every problem of the mapping."""
        self._stages()
        self._definitions()
        self._audiences()
        seen: dict[str, Loc] = {}
        for index, stage_rule in enumerate(self.spec.course_enrolment_stages):
            loc: Loc = ("course_enrolment_stages", index)
            self._unique(stage_rule.id, loc, seen)
            self._audience_ref(stage_rule.audience, loc)
            if stage_rule.stage not in self.stage_names | {CLOSED, UNMAPPED}:
                self.problem(
                    (*loc, "stage"),
                    f"unknown stage '{stage_rule.stage}'; expected "
                    f"one of {', '.join([*self.spec.stages, CLOSED, UNMAPPED])}",
                )
            self.condition(
                stage_rule.when, Subject.COURSE_ENROLMENT, Scope("stage", (*loc, "when"))
            )
        for index, flag in enumerate(self.spec.flags):
            loc = ("flags", index)
            self._unique(flag.id, loc, seen)
            self._audience_ref(flag.audience, loc)
            if flag.scope is not None:
                self.condition(flag.scope, flag.subject, Scope("flag", (*loc, "scope")))
            self.condition(flag.when, flag.subject, Scope("flag", (*loc, "when")))
            self._template(flag.reason, flag.subject, (*loc, "reason"))
            if flag.due is not None:
                self._date_point(flag.due, flag.subject, (*loc, "due"))
        self._tags(seen)
        return self.problems

    def _audiences(self) -> None:
        """Check each audience's codes and condition.

        The condition is on a course enrolment and, like a stage rule's, may not refer to stages
        or flags (stage rules may be limited to an audience).
        """
        for name, audience in self.spec.audiences.items():
            loc: Loc = ("audiences", name)
            for key in ("courses", "course_offers"):
                for index, code in enumerate(getattr(audience, key) or ()):
                    if not code.strip():
                        self.problem((*loc, key, index), "a code or pattern may not be blank")
            if audience.when is not None:
                self.condition(
                    audience.when, Subject.COURSE_ENROLMENT, Scope("audience", (*loc, "when"))
                )

    def _audience_ref(self, name: str | None, loc: Loc) -> None:
        if name is not None and name not in self.spec.audiences:
            known = ", ".join(self.spec.audiences) or "none defined"
            self.problem((*loc, "audience"), f"unknown audience '{name}'; known: {known}")

    def _unique(self, rule_id: str, loc: Loc, seen: dict[str, Loc]) -> None:
        if rule_id in seen:
            self.problem((*loc, "id"), f"duplicate rule id '{rule_id}'")
        seen.setdefault(rule_id, loc)

    def _stages(self) -> None:
        declared = self.spec.stages
        for index, name in enumerate(declared):
            if name in (CLOSED, UNMAPPED):
                self.problem(("stages", index), f"'{name}' is reserved; it is not a stage")
            if declared.index(name) != index:
                self.problem(("stages", index), f"stage '{name}' is declared twice")
        precedence = self.spec.learner_stage.precedence
        for index, name in enumerate(precedence):
            if name not in self.stage_names:
                self.problem(
                    ("learner_stage", "precedence", index),
                    f"unknown stage '{name}'; expected one of {', '.join(declared)}",
                )
            elif precedence.index(name) != index:
                self.problem(
                    ("learner_stage", "precedence", index), f"stage '{name}' is listed twice"
                )
        missing = [
            name for name in declared if name not in precedence and name not in (CLOSED, UNMAPPED)
        ]
        if missing:
            self.problem(
                ("learner_stage", "precedence"),
                f"every stage needs a precedence; missing {', '.join(missing)}",
            )

    def _definitions(self) -> None:
        for subject in Subject:
            for name, condition in self.spec.facts.of(subject).items():
                self.fact_uses_decisions(subject, name)
                del condition
            for name in self.spec.dates.of(subject):
                self.date_uses_decisions(subject, name)

    def fact_uses_decisions(self, subject: Subject, name: str) -> bool:
        """Check a fact once; whether it refers (maybe indirectly) to stages or flags."""
        key = ("fact", subject, name)
        if key in self._uses_decisions:
            return self._uses_decisions[key]
        loc: Loc = ("facts", subject.value, name)
        if key in self._visiting:
            self.problem(loc, f"fact '{name}' refers to itself")
            return False
        self._visiting.add(key)
        uses = self.condition(self.spec.facts.of(subject)[name], subject, Scope("definition", loc))
        self._visiting.discard(key)
        self._uses_decisions[key] = uses
        return uses

    def date_uses_decisions(self, subject: Subject, name: str) -> bool:
        """Check a named date once; whether it refers (maybe indirectly) to stages or flags."""
        key = ("date", subject, name)
        if key in self._uses_decisions:
            return self._uses_decisions[key]
        loc: Loc = ("dates", subject.value, name)
        if key in self._visiting:
            self.problem(loc, f"date '{name}' refers to itself")
            return False
        self._visiting.add(key)
        uses = self.date_expression(
            self.spec.dates.of(subject)[name], subject, Scope("definition", loc)
        )
        self._visiting.discard(key)
        self._uses_decisions[key] = uses
        return uses

    def date_expression(self, expression: DateExpression, subject: Subject, at: Scope) -> bool:
        """Check a date expression; whether it uses stages or flags."""
        if isinstance(expression, DateOfField):
            self._date_field(expression.field, subject, (*at.loc, "field"))
            return False
        if isinstance(expression, DateOfName):
            return self._named_date(expression.date, subject, (*at.loc, "date"))
        if isinstance(expression, FirstOf):
            # Check every option, not just up to the first that uses stages or flags.
            option_uses = [
                self.date_expression(option, subject, Scope(at.rule_kind, (*at.loc, "first_of", i)))
                for i, option in enumerate(expression.first_of)
            ]
            return any(option_uses)
        collection = expression.of
        child = self._child(subject, collection, (*at.loc, "of"))
        if child is None:
            return False
        name = expression.latest if isinstance(expression, Latest) else expression.earliest
        key = "latest" if isinstance(expression, Latest) else "earliest"
        self._date_field(name, child, (*at.loc, key))
        if expression.where is None:
            return False
        return self.condition(expression.where, child, Scope(at.rule_kind, (*at.loc, "where")))

    def _named_date(self, name: str, subject: Subject, loc: Loc) -> bool:
        if name not in self.spec.dates.of(subject):
            known = ", ".join(self.spec.dates.of(subject)) or "none defined"
            self.problem(loc, f"unknown date '{name}' for a {subject.value}; known: {known}")
            return False
        return self.date_uses_decisions(subject, name)

    def _date_field(self, name: str, subject: Subject, loc: Loc) -> None:
        spec = CATALOGUE[subject].get(name)
        if spec is None or spec.kind is not FieldKind.DATE:
            dates = [n for n, f in CATALOGUE[subject].items() if f.kind is FieldKind.DATE]
            self.problem(
                loc,
                f"'{name}' is not a date field of a {subject.value}; "
                f"expected one of {', '.join(dates) or 'none'}",
            )

    def _child(self, subject: Subject, collection: str, loc: Loc) -> Subject | None:
        children = CHILDREN[subject]
        if collection not in children:
            expected = ", ".join(children) or f"nothing (a {subject.value} has no children)"
            self.problem(loc, f"a {subject.value} has no '{collection}'; expected {expected}")
            return None
        return children[collection]

    def condition(self, spec: Any, subject: Subject, at: Scope) -> bool:  # noqa: PLR0911, PLR0912
        """Check one condition on `subject`; whether it uses stages or flags."""
        loc = at.loc
        if isinstance(spec, AllOf | AnyOf):
            key = "all" if isinstance(spec, AllOf) else "any"
            parts = spec.all if isinstance(spec, AllOf) else spec.any
            # Check every part, not just up to the first that uses stages or flags.
            part_uses = [
                self.condition(part, subject, Scope(at.rule_kind, (*loc, key, i)))
                for i, part in enumerate(parts)
            ]
            return any(part_uses)
        if isinstance(spec, Not):
            return self.condition(spec.not_, subject, Scope(at.rule_kind, (*loc, "not")))
        if isinstance(spec, FactRef):
            if spec.fact not in self.spec.facts.of(subject):
                known = ", ".join(self.spec.facts.of(subject)) or "none defined"
                self.problem(
                    (*loc, "fact"),
                    f"unknown fact '{spec.fact}' for a {subject.value}; known: {known}",
                )
                return False
            uses = self.fact_uses_decisions(subject, spec.fact)
            if uses and at.rule_kind in _NO_DECISIONS:
                self.problem(
                    (*loc, "fact"),
                    f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages or flags; "
                    f"fact '{spec.fact}' does",
                )
            return uses
        if isinstance(spec, FieldTest):
            return self._field_test(spec, subject, at)
        if isinstance(spec, DateTest):
            uses = self._named_date(spec.date, subject, (*loc, "date"))
            if spec.operator != "exists":
                self._date_point(spec.operand, subject, (*loc, spec.operator))
            if uses and at.rule_kind in _NO_DECISIONS:
                self.problem(
                    (*loc, "date"),
                    f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages or flags; "
                    f"date '{spec.date}' does",
                )
            return uses
        if isinstance(spec, MissingAny):
            for i, name in enumerate(spec.missing_any):
                if name not in CATALOGUE[subject]:
                    self.problem((*loc, "missing_any", i), self._unknown_field(name, subject))
            return False
        if isinstance(spec, Some | Every | NoneOf | Count):
            key = (
                "some"
                if isinstance(spec, Some)
                else "every"
                if isinstance(spec, Every)
                else "none"
                if isinstance(spec, NoneOf)
                else "count"
            )
            child = self._child(subject, getattr(spec, key), (*loc, key))
            if child is None or spec.where is None:
                return False
            return self.condition(spec.where, child, Scope(at.rule_kind, (*loc, "where")))
        if isinstance(spec, LearnerScope):
            return self.condition(
                spec.learner, Subject.LEARNER, Scope(at.rule_kind, (*loc, "learner"))
            )
        if isinstance(spec, EnrolmentScope):
            if subject not in HAS_ENROLMENT:
                self.problem(
                    (*loc, "enrolment"),
                    f"a {subject.value} has no enrolment to refer to; `enrolment:` "
                    "applies to unit enrolments, credentials and checklists",
                )
                return False
            return self.condition(
                spec.enrolment, Subject.COURSE_ENROLMENT, Scope(at.rule_kind, (*loc, "enrolment"))
            )
        if isinstance(spec, StageIs):
            return self._stage_test(spec, subject, at)
        assert isinstance(spec, FlagRef)  # noqa: S101 - the union is closed
        return self._flag_test(spec, subject, at)

    def _stage_test(self, spec: StageIs, subject: Subject, at: Scope) -> bool:
        loc = (*at.loc, "stage")
        if at.rule_kind in _NO_DECISIONS:
            self.problem(loc, f"{_NO_DECISIONS[at.rule_kind]} cannot refer to stages")
        if subject not in (Subject.LEARNER, Subject.COURSE_ENROLMENT):
            self.problem(loc, f"a {subject.value} has no stage; use `learner:` or `enrolment:`")
        for name in spec.stage:
            if name not in self.stage_names | {CLOSED, UNMAPPED}:
                self.problem(
                    loc,
                    f"unknown stage '{name}'; expected one of "
                    f"{', '.join([*self.spec.stages, CLOSED, UNMAPPED])}",
                )
        return True

    def _flag_test(self, spec: FlagRef, subject: Subject, at: Scope) -> bool:
        loc = (*at.loc, "flag")
        if at.rule_kind != "tag":
            self.problem(loc, "only tag rules may refer to flags")
        flag_subject = self.flag_subjects.get(spec.flag)
        if flag_subject is None:
            known = ", ".join(self.flag_subjects) or "none defined"
            self.problem(loc, f"unknown flag '{spec.flag}'; known: {known}")
        elif flag_subject is not subject:
            self.problem(
                loc,
                f"flag '{spec.flag}' is raised on a {flag_subject.value}, not on "
                f"a {subject.value}"
                + ("; wrap it in `learner:`" if flag_subject is Subject.LEARNER else ""),
            )
        return True

    def _unknown_field(self, name: str, subject: Subject) -> str:
        return (
            f"unknown field '{name}' for a {subject.value}; expected one of "
            f"{', '.join(CATALOGUE[subject])}"
        )

    def _field_test(self, spec: FieldTest, subject: Subject, at: Scope) -> bool:
        loc = at.loc
        field = CATALOGUE[subject].get(spec.field)
        if field is None:
            self.problem((*loc, "field"), self._unknown_field(spec.field, subject))
            return False
        operator = spec.operator
        if operator not in _APPLICABLE[field.kind]:
            self.problem(
                (*loc, operator),
                f"operator '{operator}' does not apply to "
                f"{field.kind.value} field '{spec.field}'; expected one of "
                f"{', '.join(sorted(_APPLICABLE[field.kind]))}",
            )
            return False
        if operator == "in_set" and spec.in_set not in self.spec.sets:
            known = ", ".join(self.spec.sets) or "none defined"
            self.problem((*loc, "in_set"), f"unknown set '{spec.in_set}'; known: {known}")
        if operator == "matches":
            try:
                re.compile(str(spec.matches))
            except re.error as exc:
                self.problem((*loc, "matches"), f"not a valid pattern: {exc}")
        if operator in ("before", "on_or_before", "after", "on_or_after"):
            return self._date_point(spec.operand, subject, (*loc, operator))
        return False

    def _date_point(self, point: DatePoint, subject: Subject, loc: Loc) -> bool:
        if point == "today":
            return False
        counts: list[tuple[str, int | str]]
        if isinstance(point, DateOffset):
            counts = [("plus_days", point.plus_days), ("minus_days", point.minus_days)]
        else:
            counts = [
                (key, value)
                for key, value in (
                    ("today_minus_days", point.today_minus_days),
                    ("today_plus_days", point.today_plus_days),
                )
                if value is not None
            ]
        for key, count in counts:
            if is_threshold_name(count) and count not in self.spec.thresholds:
                known = ", ".join(self.spec.thresholds) or "none defined"
                self.problem((*loc, key), f"unknown threshold '{count}'; known: {known}")
        if isinstance(point, DateOffset):
            if point.date is not None:
                return self._named_date(point.date, subject, (*loc, "date"))
            self._date_field(point.field or "", subject, (*loc, "field"))
        return False

    def _template(self, text: str, subject: Subject, loc: Loc) -> None:
        allowed = template_variables(self.spec, subject)
        personal = {name for name, f in CATALOGUE[subject].items() if f.personal}
        try:
            parsed = list(Formatter().parse(text))
        except ValueError as exc:
            self.problem(loc, f"not a valid reason text: {exc}")
            return
        for _, name, format_spec, conversion in parsed:
            if name is None:
                continue
            if format_spec or conversion:
                self.problem(loc, f"placeholder '{{{name}}}' may not carry a format or conversion")
            elif name in personal:
                self.problem(loc, f"'{name}' is personal and cannot appear in a reason")
            elif name not in allowed:
                self.problem(
                    loc,
                    f"unknown placeholder '{{{name}}}'; expected one of "
                    f"{', '.join(sorted(allowed))}",
                )

    def _tags(self, seen: dict[str, Loc]) -> None:
        owned_names: dict[str, int] = {}
        for index, owned in enumerate(self.spec.tags.owned):
            if owned.name in owned_names:
                self.problem(("tags", "owned", index), f"tag '{owned.name}' is owned twice")
            owned_names.setdefault(owned.name, index)
        for index, name in enumerate(self.spec.tags.retired):
            if name in owned_names:
                self.problem(
                    ("tags", "retired", index),
                    f"tag '{name}' is both owned and retired; a retired tag is only removed",
                )
        for index, tag_rule in enumerate(self.spec.tags.rules):
            loc: Loc = ("tags", "rules", index)
            self._unique(tag_rule.id, loc, seen)
            self._audience_ref(tag_rule.audience, loc)
            if tag_rule.tag not in owned_names:
                self.problem(
                    (*loc, "tag"),
                    f"tag '{tag_rule.tag}' is not owned; add it to "
                    "tags.owned (the connector writes only tags it owns)",
                )
            if isinstance(tag_rule, TagSelect):
                select = tag_rule.select
                if select.learner is not None:
                    self.condition(
                        select.learner, Subject.LEARNER, Scope("tag", (*loc, "select", "learner"))
                    )
                self.condition(
                    select.among, Subject.COURSE_ENROLMENT, Scope("tag", (*loc, "select", "among"))
                )
                self._named_date(
                    select.latest, Subject.COURSE_ENROLMENT, (*loc, "select", "latest")
                )
            else:
                self.condition(
                    tag_rule.when, Subject.COURSE_ENROLMENT, Scope("tag", (*loc, "when"))
                )


def template_variables(spec: MappingSpec, subject: Subject) -> frozenset[str]:
    """The placeholders a reason on `subject` may use."""
    names = {"id", "learner_id", "today", "missing"}
    for name, field in CATALOGUE[subject].items():
        if field.personal or field.kind is FieldKind.PRESENCE or "." in name:
            continue
        names.add(name)
        if field.kind is FieldKind.DATE:
            names.add(f"days_since_{name}")
    for name in spec.dates.of(subject):
        names |= {name, f"days_since_{name}"}
    if subject is Subject.COURSE_ENROLMENT:
        names.add("stage")
    if subject is Subject.LEARNER:
        names |= {"learner_stage", "enrolments", "stage_counts"}
    return frozenset(names)
