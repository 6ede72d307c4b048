"""One table per language construct: each condition construct is checked and compiled once."""

from __future__ import annotations

from mappings.condition_checker import CONDITION_CHECKS
from mappings.condition_compiler import CONDITION_COMPILERS
from mappings.condition_schema import CONDITION_KEYS, CONDITION_MODELS


def test_every_condition_construct_has_one_check_and_one_compiler() -> None:
    """A construct in the schema's union without a check or a compiler is caught here."""
    constructs = set(CONDITION_MODELS.values())
    assert set(CONDITION_CHECKS) == constructs
    assert set(CONDITION_COMPILERS) == constructs


def test_the_operator_keys_are_the_unions_tags_in_its_order() -> None:
    """`condition_kind` picks the first of these keys a mapping holds; the order is the union's."""
    assert CONDITION_KEYS == (
        "all",
        "any",
        "not",
        "fact",
        "field",
        "date",
        "missing_any",
        "some",
        "every",
        "none",
        "count",
        "learner",
        "enrolment",
        "stage",
        "flag",
    )
