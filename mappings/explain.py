"""Why a learner is where they are.

The rules that matched and, for each stage rule tried before the one that matched, the first
condition that failed (with the value found).

`decision_json` is the stable JSON shape scripts rely on:

    {"learner_id": 10452, "learner_stage": "Progression",
     "course_enrolments": [{"id": 88213, "stage": "Progression", "desired_tags": ["missing-usi"]}],
     "flags": [{"flag": "missing-usi", "subject": "learner", "id": 10452, "rule": "…",
                "reason": "…"}]}

Stages are spelled as the mapping declares them, plus `closed` and `unmapped`; `learner_stage` is
null when the learner has none; `desired_tags` lists owned tags only; a flag's `owner_id` is the
staff id that owes its work. `explanation_json` adds, per enrolment, `rule`, `not_matched` (rule
id and the reason it failed) and `course` (course and offer codes, study mode, staff ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mappings.bundle import LearnerBundle
from mappings.compiler import CompiledMapping
from mappings.decision import Decision
from mappings.evaluate import evaluate
from mappings.evaluation_context import Context


@dataclass(frozen=True)
class RuleMiss:
    """A stage rule tried before the one that matched, and why it did not match."""

    rule: str
    why_not: str


@dataclass(frozen=True)
class EnrolmentExplanation:
    """One enrolment's stage, the rule behind it, and the rules that did not match first."""

    id: int
    stage: str
    rule: str | None
    not_matched: tuple[RuleMiss, ...]
    tag_rules: tuple[str, ...]
    course: dict[str, Any]  # what audiences read: course and offer codes, study mode, staff ids


@dataclass(frozen=True)
class Explanation:
    """A decision and how it was reached."""

    decision: Decision
    enrolments: tuple[EnrolmentExplanation, ...]


def explain(bundle: LearnerBundle, mapping: CompiledMapping, today: date) -> Explanation:
    """Evaluate a learner and trace the stage rules for each enrolment."""
    decision = evaluate(bundle, mapping, today)
    ctx = Context.of(bundle, today)
    traced = []
    for ce in bundle.course_enrolments:
        chosen = decision.enrolment(ce.id)
        misses = []
        for rule in mapping.stage_rules:
            if rule.id == chosen.stage_rule:
                break
            misses.append(RuleMiss(rule.id, rule.node.why_not(ctx, ce)))
        traced.append(
            EnrolmentExplanation(
                ce.id,
                chosen.stage,
                chosen.stage_rule,
                tuple(misses),
                chosen.tag_rules,
                {name: getattr(ce, name) for name in COURSE_FACTS},
            )
        )
    return Explanation(decision, tuple(traced))


def decision_json(decision: Decision) -> dict[str, Any]:
    """The stable JSON shape of a decision."""
    return {
        "learner_id": decision.learner_id,
        "learner_stage": decision.learner_stage,
        "course_enrolments": [
            {"id": ce.id, "stage": ce.stage, "desired_tags": sorted(ce.desired_tags)}
            for ce in decision.course_enrolments
        ],
        "flags": [
            {
                "flag": flag.flag,
                "subject": flag.subject.value,
                "id": flag.subject_id,
                "rule": flag.rule,
                "reason": flag.reason,
                "kind": flag.kind,
                "due": None if flag.due is None else flag.due.isoformat(),
                "owner_id": flag.owner_id,
            }
            for flag in decision.flags
        ],
    }


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """The decision's JSON with, per enrolment, its rule and the rules that did not match."""
    shaped = decision_json(explanation.decision)
    for entry, traced in zip(shaped["course_enrolments"], explanation.enrolments, strict=True):
        entry["rule"] = traced.rule
        entry["not_matched"] = [{"rule": m.rule, "why_not": m.why_not} for m in traced.not_matched]
        entry["tag_rules"] = list(traced.tag_rules)
        entry["course"] = traced.course
    return shaped


def explanation_lines(explanation: Explanation) -> list[str]:
    """The explanation as text for a terminal."""
    decision = explanation.decision
    lines = [
        f"learner {decision.learner_id}: stage {decision.learner_stage or 'none'}"
        + (
            f" (from enrolment {decision.learner_stage_from})"
            if decision.learner_stage_from is not None
            else ""
        )
    ]
    for traced in explanation.enrolments:
        rule = f"rule {traced.rule}" if traced.rule else "no rule matched"
        lines.append(f"  enrolment {traced.id}: {traced.stage} ({rule})")
        about = course_line(traced.course)
        if about:
            lines.append(f"    {about}")
        lines += [f"    not {miss.rule}: {miss.why_not}" for miss in traced.not_matched]
        ce = decision.enrolment(traced.id)
        if ce.desired_tags:
            lines.append(
                f"    tags: {', '.join(sorted(ce.desired_tags))} "
                f"(rules {', '.join(traced.tag_rules)})"
            )
    for flag in decision.flags:
        owner = "" if flag.owner_id is None else f" [owner {flag.owner_id}]"
        lines.append(
            f"  flag {flag.flag} on {flag.subject.value} {flag.subject_id}{owner}: {flag.reason}"
        )
    return lines


COURSE_FACTS = (
    "course_code",
    "course_offer_code",
    "study_mode",
    "coordinator_id",
    "trainer_id",
)


def course_line(course: dict[str, Any]) -> str:
    """An enrolment's course facts in one line (the known ones only)."""
    labels = {
        "course_code": "course",
        "course_offer_code": "offer",
        "study_mode": "study mode",
        "coordinator_id": "coordinator",
        "trainer_id": "trainer",
    }
    return ", ".join(
        f"{labels[name]} {course[name]}" for name in COURSE_FACTS if course.get(name) is not None
    )
