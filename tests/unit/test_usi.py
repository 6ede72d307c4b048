"""A learner's personal fields become facts where Wisenet's record is parsed (lifecycle.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from connector.bundles import Labels, learner_of
from connector.wisenet.usi import usi_facts
from connector.wisenet.wire import Item, LearnerData
from tests import reference
from tests.support.bundles import USIS

LEARNER = TypeAdapter(Item[LearnerData])


def parsed(usi: object) -> Item[LearnerData]:
    """A learner record with `usi` as its `UniqueStudentIdentifier`, parsed."""
    return LEARNER.validate_python(
        {"Data": {"LearnerId": 7, "Personal": {"UniqueStudentIdentifier": usi}}}
    )


@given(
    st.one_of(st.none(), st.sampled_from(USIS), st.text(alphabet="23456789ABCIOZaz ", max_size=12))
)
def test_the_facts_agree_with_the_reference(usi: str | None) -> None:
    """Given, well-formed and exemption code are what the reference reads of the raw USI."""
    facts = usi_facts(usi)
    assert (facts.present, facts.well_formed, facts.exemption) == reference.usi_facts(usi)


@pytest.mark.parametrize("usi", ["3AW88YH9U5", " 3aw88yh9u5 ", "3AW88YH9O5", "INDIV"])
def test_the_parsed_record_and_the_bundle_hold_no_usi(usi: str) -> None:
    """Neither the wire model nor the learner's rule inputs keep the USI in any form."""
    item = parsed(usi)
    learner = learner_of(item, Labels.from_relationships())
    assert learner.has_usi
    kept = (item.model_dump_json() + repr(item) + repr(learner)).upper()
    assert usi.strip().upper() not in kept or usi == "INDIV"


def test_a_usi_that_is_not_text_is_a_malformed_record_quoting_nothing() -> None:
    """A number where the USI belongs breaks the contract; the error does not quote it."""
    with pytest.raises(ValidationError) as caught:
        parsed(3456789234)
    assert "UniqueStudentIdentifier" in str(caught.value.errors(include_input=False)[0]["loc"])
    personal = parsed(None).data.personal
    assert personal is not None
    assert not personal.usi.present


@pytest.mark.parametrize(
    ("personal", "given"),
    [
        ({"PhoneNumbers": {"Mobile": " 0412 345 678 "}}, {"has_mobile"}),
        ({"PhoneNumbers": {"Mobile": "  "}, "EmailAddresses": {"Email": None}}, set()),
        ({"EmailAddresses": {"Email": "a@example.com"}}, {"has_email"}),
        ({"StreetAddress": {"SuburbTownCity": "Fitzroy", "Postcode": ""}}, {"has_suburb"}),
        ({"DateOfBirth": "1996-07-02T00:00:00"}, {"has_date_of_birth"}),
    ],
)
def test_other_personal_texts_are_kept_as_whether_they_are_given(
    personal: dict[str, object], given: set[str]
) -> None:
    """Birth date, mobile, email, suburb and postcode become facts as the record is parsed."""
    item = LEARNER.validate_python({"Data": {"LearnerId": 7, "Personal": personal}})
    learner = learner_of(item, Labels.from_relationships())
    facts = {
        "has_date_of_birth": learner.has_date_of_birth,
        "has_mobile": learner.has_mobile,
        "has_email": learner.has_email,
        "has_suburb": learner.address.has_suburb,
        "has_postcode": learner.address.has_postcode,
    }
    assert {name for name, held in facts.items() if held} == given
    kept = item.model_dump_json()
    assert not [v for v in ("0412", "@", "Fitzroy", "1996") if v in kept]


def test_a_personal_text_that_is_not_text_breaks_the_contract() -> None:
    """A number where the mobile belongs is a malformed record."""
    with pytest.raises(ValidationError):
        LEARNER.validate_python(
            {"Data": {"LearnerId": 7, "Personal": {"PhoneNumbers": {"Mobile": 412345678}}}}
        )
