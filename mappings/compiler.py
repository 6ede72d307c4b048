"""Compiling a checked mapping into plain callables: its rules, ready to evaluate.

Conditions compile in `mappings.condition_compiler`, dates in `mappings.date_compiler`; here the
audiences that limit rules, and the stage, flag and tag rules assembled into a `CompiledMapping`.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Any

from mappings.audiences import code_matcher
from mappings.calendar import BusinessCalendar
from mappings.catalogue import Subject
from mappings.condition_compiler import ConditionCompiler
from mappings.condition_schema import LearnerScope
from mappings.evaluation_context import Context, DateOf, Node, Record
from mappings.references import enrolment_flag_driven_tags
from mappings.schema import MappingSpec, TagSelect


class Compiler(ConditionCompiler):
    """Compiles one checked mapping; facts, dates and audiences are compiled on first use."""

    def __init__(self, spec: MappingSpec, calendar: BusinessCalendar) -> None:
        super().__init__(spec, calendar)
        self._audiences: dict[str, Node] = {}

    def audience(self, name: str) -> Node:
        """Whether a course enrolment is in the named audience."""
        if name not in self._audiences:
            spec = self.spec.audiences[name]
            of_course, of_offer = code_matcher(spec.courses), code_matcher(spec.course_offers)
            when = (
                None if spec.when is None else self.condition(spec.when, Subject.COURSE_ENROLMENT)
            )

            def test(ctx: Context, ce: Record) -> bool:
                return (
                    of_course(ce.course_code)
                    or of_offer(ce.course_offer_code)
                    or (when is not None and when.test(ctx, ce))
                )

            def why_not(_ctx: Context, ce: Record) -> str:
                return (
                    f"not in audience {name} (course {ce.course_code or 'unknown'}, "
                    f"offer {ce.course_offer_code or 'unknown'})"
                )

            self._audiences[name] = Node(test, why_not)
        return self._audiences[name]

    def within(self, name: str | None, subject: Subject, inner: Node) -> Node:
        """`inner`, limited to subjects of enrolments in the audience (all without one).

        A unit, credential or enrolment checklist is in its enrolment's audience; a learner, or a
        learner's checklist, is in it when one of the learner's enrolments is.
        """
        if name is None:
            return inner
        audience = self.audience(name)
        if subject is Subject.COURSE_ENROLMENT:
            gate = audience
        else:

            def any_enrolment(ctx: Context, record: Record) -> bool:
                if subject is not Subject.LEARNER:
                    enrolment = ctx.enrolment_of(record)
                    if enrolment is not None:
                        return audience.test(ctx, enrolment)
                return any(audience.test(ctx, ce) for ce in ctx.bundle.course_enrolments)

            gate = Node(any_enrolment, lambda _ctx, _record: f"not in audience {name}")
        return self._all([gate, inner])


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledStageRule:
    """A stage rule, compiled."""

    id: str
    stage: str
    node: Node


@dataclass(frozen=True)
class Template:
    """A reason template: literal text and `{variable}` placeholders."""

    parts: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Split `text` into literals and placeholder names (checked by the loader)."""
        return cls(tuple((literal, name) for literal, name, _, _ in Formatter().parse(text)))

    @property
    def names(self) -> frozenset[str]:
        """The placeholders it uses."""
        return frozenset(name for _, name in self.parts if name is not None)

    def render(self, values: dict[str, Any]) -> str:
        """Fill the placeholders."""
        return "".join(
            literal + ("" if name is None else str(values.get(name, "")))
            for literal, name in self.parts
        )


@dataclass(frozen=True)
class CompiledFlag:
    """A flag rule, compiled; a `learner:` scope is the same for every subject of a learner."""

    id: str
    subject: Subject
    scope: Node | None
    when: Node
    reason: Template
    kind: str = "other"
    due: DateOf | None = None
    scope_is_per_learner: bool = False


@dataclass(frozen=True)
class CompiledTagRule:
    """A tag rule, compiled: either a condition per enrolment or a selection per learner."""

    id: str
    tag: str
    when: Node | None = None
    learner: Node | None = None
    among: Node | None = None
    latest: DateOf | None = None
    highest_id_wins: bool = True


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping ready to evaluate."""

    spec: MappingSpec
    compiler: Compiler
    stage_rules: tuple[CompiledStageRule, ...]
    precedence: dict[str, int]
    flags: tuple[CompiledFlag, ...]
    tag_rules: tuple[CompiledTagRule, ...]
    named_dates: dict[Subject, dict[str, DateOf]]
    flag_driven_tags: frozenset[str]  # tags an enrolment flag (raised by time) can bring


def compile_mapping(spec: MappingSpec, calendar: BusinessCalendar) -> CompiledMapping:
    """Compile a mapping that the loader has checked; business days count on `calendar`."""
    compiler = Compiler(spec, calendar)
    enrolment = Subject.COURSE_ENROLMENT
    stage_rules = tuple(
        CompiledStageRule(
            rule.id,
            rule.stage,
            compiler.within(rule.audience, enrolment, compiler.condition(rule.when, enrolment)),
        )
        for rule in spec.course_enrolment_stages
    )
    flags = tuple(
        CompiledFlag(
            id=rule.id,
            subject=rule.subject,
            scope=None if rule.scope is None else compiler.condition(rule.scope, rule.subject),
            when=compiler.within(
                rule.audience, rule.subject, compiler.condition(rule.when, rule.subject)
            ),
            reason=Template.parse(rule.reason),
            kind=rule.kind,
            due=None if rule.due is None else compiler.date_point(rule.due, rule.subject),
            scope_is_per_learner=isinstance(rule.scope, LearnerScope),
        )
        for rule in spec.flags
    )
    tag_rules = []
    for rule in spec.tags.rules:
        if isinstance(rule, TagSelect):
            select = rule.select
            tag_rules.append(
                CompiledTagRule(
                    id=rule.id,
                    tag=rule.tag,
                    learner=None
                    if select.learner is None
                    else compiler.condition(select.learner, Subject.LEARNER),
                    among=compiler.within(
                        rule.audience, enrolment, compiler.condition(select.among, enrolment)
                    ),
                    latest=compiler.named_date(Subject.COURSE_ENROLMENT, select.latest),
                    highest_id_wins=select.ties == "highest_id",
                )
            )
        else:
            tag_rules.append(
                CompiledTagRule(
                    id=rule.id,
                    tag=rule.tag,
                    when=compiler.within(
                        rule.audience, enrolment, compiler.condition(rule.when, enrolment)
                    ),
                )
            )
    named_dates = {
        subject: {name: compiler.named_date(subject, name) for name in spec.dates.of(subject)}
        for subject in Subject
    }
    return CompiledMapping(
        spec=spec,
        compiler=compiler,
        stage_rules=stage_rules,
        precedence={stage: rank for rank, stage in enumerate(spec.learner_stage.precedence)},
        flags=flags,
        tag_rules=tuple(tag_rules),
        named_dates=named_dates,
        flag_driven_tags=enrolment_flag_driven_tags(spec),
    )
