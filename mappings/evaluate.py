"""Evaluating one learner: stages, then the learner's stage, then flags, then desired tags.

`evaluate(bundle, mapping, today)` is pure: `today` is the account's calendar date, passed in.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mappings.bundle import CourseEnrolment, LearnerBundle
from mappings.catalogue import CATALOGUE, FieldKind, Subject
from mappings.compiler import CompiledFlag, CompiledMapping, CompiledTagRule
from mappings.decision import Decision, EnrolmentDecision, Flag
from mappings.evaluation_context import Context
from mappings.schema import UNMAPPED


def evaluate(bundle: LearnerBundle, mapping: CompiledMapping, today: date) -> Decision:
    """Decide one learner's stages, flags and desired owned tags as of `today`."""
    ctx = Context.of(bundle, today)
    stage_rules: dict[int, str | None] = {}
    for ce in bundle.course_enrolments:
        rule = next((r for r in mapping.stage_rules if r.node.test(ctx, ce)), None)
        ctx.stages[ce.id] = rule.stage if rule else UNMAPPED
        stage_rules[ce.id] = rule.id if rule else None
    ctx.learner_stage, stage_from = _learner_stage(ctx, mapping)
    flags = [flag for rule in mapping.flags for flag in _raise(rule, ctx, mapping)]
    ctx.flags = {flag.key for flag in flags}
    tags: dict[int, dict[str, str]] = {ce.id: {} for ce in bundle.course_enrolments}
    for tag_rule in mapping.tag_rules:
        for ce_id in _tagged(tag_rule, ctx):
            tags[ce_id].setdefault(tag_rule.tag, tag_rule.id)
    return Decision(
        learner_id=bundle.learner.id,
        learner_stage=ctx.learner_stage,
        learner_stage_from=stage_from,
        course_enrolments=tuple(
            EnrolmentDecision(
                id=ce.id,
                stage=ctx.stages[ce.id],
                stage_rule=stage_rules[ce.id],
                desired_tags=frozenset(tags[ce.id]),
                tag_rules=tuple(sorted(set(tags[ce.id].values()))),
            )
            for ce in bundle.course_enrolments
        ),
        flags=tuple(flags),
    )


def _learner_stage(ctx: Context, mapping: CompiledMapping) -> tuple[str | None, int | None]:
    """The highest-precedence enrolment stage, and the enrolment it comes from."""
    ranked = [
        (mapping.precedence[stage], ce_id)
        for ce_id, stage in ctx.stages.items()
        if stage in mapping.precedence
    ]
    if not ranked:
        return None, None
    _, ce_id = min(ranked)
    return ctx.stages[ce_id], ce_id


def _subjects(subject: Subject, ctx: Context) -> tuple[Any, ...]:
    bundle = ctx.bundle
    if subject is Subject.COURSE_ENROLMENT:
        return bundle.course_enrolments
    if subject is Subject.UNIT_ENROLMENT:
        return bundle.unit_enrolments
    if subject is Subject.LEARNER:
        return (bundle.learner,)
    if subject is Subject.CREDENTIAL:
        return bundle.credentials
    return bundle.checklists


def _raise(rule: CompiledFlag, ctx: Context, mapping: CompiledMapping) -> list[Flag]:
    subjects = _subjects(rule.subject, ctx)
    scope = rule.scope
    if scope is not None and rule.scope_is_per_learner and subjects:
        if not scope.test(ctx, subjects[0]):
            return []
        scope = None
    raised = []
    for record in subjects:
        ctx.missing = []
        if scope is not None and not scope.test(ctx, record):
            continue
        if not rule.when.test(ctx, record):
            continue
        values = reason_values(rule.subject, record, ctx, mapping, rule.reason.names)
        enrolment = _enrolment(rule.subject, record, ctx)
        raised.append(
            Flag(
                rule.id,
                rule.subject,
                record.id,
                rule.id,
                rule.reason.render(values),
                kind=rule.kind,
                due=None if rule.due is None else rule.due(ctx, record),
                course_enrolment_id=None if enrolment is None else enrolment.id,
                owner_id=None if enrolment is None else _owner(enrolment),
            )
        )
    return raised


def _enrolment(subject: Subject, record: Any, ctx: Context) -> CourseEnrolment | None:
    """The course enrolment a flagged subject is or belongs to, if any."""
    if subject is Subject.COURSE_ENROLMENT:
        found: CourseEnrolment = record
        return found
    if subject is Subject.LEARNER:
        return None
    return ctx.enrolment_of(record)


def _owner(enrolment: CourseEnrolment) -> int | None:
    """Who owes an enrolment's work: its coordinator, else its trainer."""
    return (
        enrolment.coordinator_id if enrolment.coordinator_id is not None else enrolment.trainer_id
    )


def _tagged(rule: CompiledTagRule, ctx: Context) -> list[int]:
    enrolments = ctx.bundle.course_enrolments
    if rule.when is not None:
        return [ce.id for ce in enrolments if rule.when.test(ctx, ce)]
    assert rule.among is not None  # noqa: S101 - a selection always has `among`
    assert rule.latest is not None  # noqa: S101 - and `latest`
    if rule.learner is not None and not rule.learner.test(ctx, ctx.bundle.learner):
        return []
    latest = rule.latest
    candidates = [ce for ce in enrolments if rule.among.test(ctx, ce)]
    if not candidates:
        return []
    sign = 1 if rule.highest_id_wins else -1

    def rank(ce: Any) -> tuple[bool, date, int]:
        found = latest(ctx, ce)
        return (found is not None, found or date.min, sign * ce.id)

    return [max(candidates, key=rank).id]


def reason_values(
    subject: Subject,
    record: Any,
    ctx: Context,
    mapping: CompiledMapping,
    wanted: frozenset[str],
) -> dict[str, Any]:
    """The `wanted` variables of a reason on one subject (never personal fields)."""
    values: dict[str, Any] = {
        "id": record.id,
        "learner_id": ctx.bundle.learner.id,
        "today": ctx.today.isoformat(),
        "missing": ", ".join(ctx.missing),
    }

    def needed(name: str) -> bool:
        return name in wanted or f"days_since_{name}" in wanted

    for name, spec in CATALOGUE[subject].items():
        if spec.personal or spec.kind is FieldKind.PRESENCE or "." in name or not needed(name):
            continue
        value = spec.get(record)
        if spec.kind is FieldKind.DATE:
            values[name] = value.isoformat() if value else "unknown"
            values[f"days_since_{name}"] = (ctx.today - value).days if value else "unknown"
        else:
            values[name] = "unknown" if value is None else value
    for name, getter in mapping.named_dates[subject].items():
        if not needed(name):
            continue
        found = getter(ctx, record)
        values[name] = found.isoformat() if found else "unknown"
        values[f"days_since_{name}"] = (ctx.today - found).days if found else "unknown"
    if subject is Subject.COURSE_ENROLMENT:
        values["stage"] = ctx.stages.get(record.id)
    if subject is Subject.LEARNER:
        values["learner_stage"] = ctx.learner_stage or "none"
        counts: dict[str, int] = {}
        for stage in ctx.stages.values():
            counts[stage] = counts.get(stage, 0) + 1
        values["enrolments"] = len(ctx.stages)
        values["stage_counts"] = ", ".join(f"{n} {stage}" for stage, n in sorted(counts.items()))
    return values
