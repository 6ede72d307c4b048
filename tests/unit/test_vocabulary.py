from __future__ import annotations

from connector.sandbox.vocabulary import Vocabulary as SandboxVocabulary
from connector.wisenet.vocabulary import Combo, TagCatalogue
from connector.wisenet.wire import ComboEntry, TagData
from mappings.catalogue import normalise
from mappings.vocabulary import WISENET_VOCABULARY


def statuses() -> Combo:
    """An enrolment-status combo with account-specific ids."""
    return Combo.of(
        "enrolment-statuses",
        [
            ComboEntry(id=4071, description="Current"),
            ComboEntry(id=4090, description="Cancelled (no penalty)"),
            ComboEntry(id=4112, description=" cancelled  (NO penalty) "),
            ComboEntry(id=4120, code="20", description=None),
        ],
    )


def test_combo_values_resolve_by_description_never_by_id() -> None:
    """Ids map to descriptions and codes; labels match trimmed and case-insensitively."""
    combo = statuses()
    assert combo.description(4071) == "Current"
    assert combo.code(4120) == "20"
    assert combo.description(None) is None
    assert combo.description(1) is None
    assert combo.ids_described("CANCELLED (NO PENALTY)") == {4090, 4112}
    assert combo.ids_described("Deferred") == frozenset()
    assert combo.knows(4071)
    assert not combo.knows(3)


def test_labels_are_compared_in_one_normal_form() -> None:
    """Whitespace runs fold and case is ignored."""
    assert normalise("  Completion   Pending ") == normalise("completion pending")


def test_tags_are_found_by_exact_name() -> None:
    """Tag names match exactly; ids resolve to names; unknown ids are left out."""
    catalogue = TagCatalogue.of(
        [
            TagData(tag_id=12, name="VIP", entity_name="CourseEnrolment"),
            TagData(tag_id=57, name="certified", entity_name="CourseEnrolment"),
            TagData(tag_id=58, name="certified", entity_name="CourseEnrolment", archived_flag=True),
        ]
    )
    assert catalogue.by_name["certified"].tag_id == 57
    assert "Certified" not in catalogue.by_name
    assert catalogue.names([12, 58, 999]) == {"VIP", "certified"}


def test_the_documented_vocabulary_is_what_the_sandbox_serves() -> None:
    """The offline warnings' names (wisenet-api.md §6) and the sandbox's combos agree."""
    sandbox = SandboxVocabulary()
    for combo, names in WISENET_VOCABULARY.items():
        entries = [sandbox.entry(combo, ident) for ident in sandbox.ids(combo)]
        served = {
            normalise((entry.code if combo == "outcomes" else entry.description) or "")
            for entry in entries
            if entry is not None
        }
        assert served == names, combo
