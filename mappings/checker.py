"""The checks the schema cannot express, over a whole mapping, each problem located.

Fields must exist in the catalogue for the subject in context, stage rules may not refer to stages
or flags (directly or through facts), facts and dates may not refer to themselves, reason texts
may use only known, non-personal variables, and tag rules may write only owned tags. Conditions
are checked construct by construct in `mappings.condition_checker`.
"""

from __future__ import annotations

from string import Formatter

from mappings.catalogue import CATALOGUE, FieldKind, Subject
from mappings.condition_checker import ConditionChecker, Scope
from mappings.positions import Loc
from mappings.problems import Problem
from mappings.schema import CLOSED, UNMAPPED, MappingSpec, TagSelect


class Checker(ConditionChecker):
    """Every problem of a mapping the schema let through."""

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
