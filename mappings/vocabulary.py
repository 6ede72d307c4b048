"""Values a mapping compares that can never match: typographic quotes, names no vocabulary has.

These are warnings, each located like a problem: an account may have values Wisenet does not
document, so the mapping still loads. Offline, values are compared with Wisenet's documented
vocabularies (wisenet-api.md §6); `connector check` compares them with the account's own combos.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mappings.catalogue import CHILDREN, Subject, normalise
from mappings.condition_schema import FieldTest, inner_conditions
from mappings.date_schema import Earliest, FirstOf, Latest
from mappings.loader import ParsedMapping
from mappings.positions import Loc
from mappings.problems import Problem, shown
from mappings.schema import TagSelect

# Wisenet's documented values per combo (wisenet-api.md §6), in the form names are compared in.
WISENET_VOCABULARY: dict[str, frozenset[str]] = {
    "enrolment-statuses": frozenset(
        normalise(name)
        for name in (
            "Enquiry",
            "Pending",
            "Current",
            "Completed",
            "Completion Pending",
            "Withdrawn",
            "Cancelled (no penalty)",
            "Cancelled (penalty)",
            "Partial Attendance",
            "Declined",
            "Deferred",  # §6.1: "other values (e.g. deferred) may exist"; the sandbox has it
        )
    ),
    "application-statuses": frozenset(
        normalise(name) for name in ("New", "Pending", "Reviewing", "Accepted", "Rejected")
    ),
    "outcomes": frozenset(
        {"20", "30", "40", "41", "51", "52", "60", "65", "70", "81", "82", "85", "90", "00"}
        | {"ns", "@@", "100", "105"}
    ),
    "credential-statuses": frozenset(
        normalise(name) for name in ("Requested", "Issued", "Cancelled")
    ),
}

# The fields whose values come from a combo, and which combo.
VOCABULARY_FIELDS: dict[tuple[Subject, str], str] = {
    (Subject.COURSE_ENROLMENT, "status"): "enrolment-statuses",
    (Subject.COURSE_ENROLMENT, "application_status"): "application-statuses",
    (Subject.UNIT_ENROLMENT, "outcome"): "outcomes",
    (Subject.CREDENTIAL, "status"): "credential-statuses",
}

_TYPOGRAPHIC_QUOTES = (
    "\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\u00ab\u00bb\u2039\u203a\u300c\u300d"
)


def never_matching(
    parsed: ParsedMapping, known: Mapping[str, frozenset[str]], whose: str
) -> list[Problem]:
    """Located warnings for compared values that can never match.

    `known` maps a combo name to its normalised names (codes, for outcomes); `whose` says whose
    they are ("the account's", "Wisenet's documented").
    """
    found: dict[tuple[int, int, str], Problem] = {}
    for subject, field, value, loc in _compared_values(parsed):
        if isinstance(value, bool):
            continue
        text = str(value)
        combo = VOCABULARY_FIELDS.get((subject, field))
        if text.strip()[:1] in _TYPOGRAPHIC_QUOTES or text.strip()[-1:] in _TYPOGRAPHIC_QUOTES:
            message = (
                f"{shown(value)} is written in typographic quotes, which are part of the value, "
                "so it can never match; write it in straight quotes or none"
            )
        elif combo is not None and combo in known and normalise(text) not in known[combo]:
            message = f"{shown(value)} is not among {whose} {combo}, so it can never match"
        else:
            continue
        problem = parsed.warning(loc, message)
        found.setdefault((problem.line, problem.column, message), problem)
    return [found[key] for key in sorted(found)]


def _compared_values(parsed: ParsedMapping) -> Iterator[tuple[Subject, str, Any, Loc]]:
    """Every value the mapping's field tests compare with: subject, field, value, location."""
    spec = parsed.spec
    roots: list[tuple[Any, Subject, Loc]] = []
    for index, rule in enumerate(spec.course_enrolment_stages):
        roots.append(
            (rule.when, Subject.COURSE_ENROLMENT, ("course_enrolment_stages", index, "when"))
        )
    for index, flag in enumerate(spec.flags):
        roots.append((flag.when, flag.subject, ("flags", index, "when")))
        if flag.scope is not None:
            roots.append((flag.scope, flag.subject, ("flags", index, "scope")))
    for subject in Subject:
        for name, condition in spec.facts.of(subject).items():
            roots.append((condition, subject, ("facts", subject.value, name)))
        for name, expression in spec.dates.of(subject).items():
            roots += _date_conditions(expression, subject, ("dates", subject.value, name))
    for index, tag_rule in enumerate(spec.tags.rules):
        loc: Loc = ("tags", "rules", index)
        if isinstance(tag_rule, TagSelect):
            select = tag_rule.select
            roots.append((select.among, Subject.COURSE_ENROLMENT, (*loc, "select", "among")))
            if select.learner is not None:
                roots.append((select.learner, Subject.LEARNER, (*loc, "select", "learner")))
        else:
            roots.append((tag_rule.when, Subject.COURSE_ENROLMENT, (*loc, "when")))
    for root, subject, loc in roots:
        yield from _walk(root, subject, loc, parsed)


def _date_conditions(expression: Any, subject: Subject, loc: Loc) -> list[tuple[Any, Subject, Loc]]:
    """The `where` conditions inside a date expression, with their subject and location."""
    if isinstance(expression, FirstOf):
        return [
            found
            for index, option in enumerate(expression.first_of)
            for found in _date_conditions(option, subject, (*loc, "first_of", index))
        ]
    if isinstance(expression, Latest | Earliest) and expression.where is not None:
        return [(expression.where, CHILDREN[subject][expression.of], (*loc, "where"))]
    return []


def _walk(
    node: Any, subject: Subject, loc: Loc, parsed: ParsedMapping
) -> Iterator[tuple[Subject, str, Any, Loc]]:
    if isinstance(node, FieldTest):
        if node.operator == "equals":
            yield subject, node.field, node.equals, (*loc, "equals")
        elif node.operator == "one_of":
            for index, value in enumerate(node.one_of or []):
                yield subject, node.field, value, (*loc, "one_of", index)
        elif node.operator == "in_set":
            name = str(node.in_set)
            for index, value in enumerate(parsed.spec.sets[name]):  # the loader checked it
                yield subject, node.field, value, ("sets", name, index)
        return
    for below, inner, inner_subject in inner_conditions(node, subject):  # checked by the loader
        yield from _walk(inner, inner_subject, (*loc, *below), parsed)
