"""Where a place of a mapping is in its file: line, column, enclosing rule and path within it.

Pydantic's error locations carry a union's tag after each condition, date expression, date point
and tag rule; the checker's locations do not. Both are resolved against the YAML tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mappings.condition_schema import (
    KEYS_OF_CONDITION_LISTS,
    KEYS_OF_ONE_CONDITION,
    condition_kind,
    point_kind,
)
from mappings.date_schema import date_kind
from mappings.problems import dotted
from mappings.schema import tag_rule_kind

Loc = tuple[str | int, ...]

# Keys whose value is a condition: the rules' (`when`, `scope`, `among`) and the constructs'.
_CONDITION_KEYS = frozenset({"when", "scope", "among"}) | KEYS_OF_ONE_CONDITION
_LIST_KEYS = KEYS_OF_CONDITION_LISTS | {"first_of"}
DATE_POINT_KEYS = frozenset({"before", "on_or_before", "after", "on_or_after"})


def _is_union_position(real: Sequence[str | int]) -> bool:
    """Whether the node at `real` is a condition, date expression, date point or tag rule.

    Pydantic puts the union's tag into error locations right after such a node.
    """
    if len(real) == 3 and real[0] in ("facts", "dates"):
        return True
    if len(real) == 3 and tuple(real[:2]) == ("tags", "rules"):
        return True
    if len(real) == 2 and real[0] in ("facts", "dates"):
        return False  # `facts.learner` is a subject, not a condition
    last = real[-1]
    if last in _CONDITION_KEYS or last in DATE_POINT_KEYS:
        return True
    return isinstance(last, int) and len(real) >= 2 and real[-2] in _LIST_KEYS


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


def rule_and_path(raw: Any, real: list[str | int]) -> tuple[str | None, str]:
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


def node_at(raw: Any, path: Sequence[str | int]) -> Any:
    """The YAML node at a real path."""
    node = raw
    for part in path:
        node = node[part]
    return node
