"""What the connector keeps of a Unique Student Identifier: facts, never the USI.

A USI is a government identifier protected by law. Its ten characters are few enough to be
guessed from any hash, so the USI is turned into facts where a learner record is parsed, before
anything is stored, logged or hashed: whether a value is given, whether it is well-formed
(lifecycle.md §2) and which exemption code, if any, stands in its place. `UsiStatus` (Wisenet's
verification status) is a status word and is kept as it is.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

USI_FORM = re.compile(r"[2-9A-HJ-NP-Z]{10}")
USI_EXEMPTION_CODES = frozenset({"INTOFF", "SHORT", "INDIV"})


class UsiFacts(BaseModel):
    """The facts rules read of a USI, and nothing that could give it back."""

    model_config = ConfigDict(frozen=True)

    present: bool = False
    well_formed: bool = False
    exemption: str | None = None


def usi_facts(raw: str | None) -> UsiFacts:
    """The facts of a `UniqueStudentIdentifier` as Wisenet gives it.

    Is a value given; trimmed and upper-cased, is it 10 characters of digits 2-9 and letters
    other than I and O; is it an exemption code (`INTOFF`, `SHORT`, `INDIV`)?
    """
    usi = (raw or "").strip().upper()
    return UsiFacts(
        present=bool(usi),
        well_formed=USI_FORM.fullmatch(usi) is not None,
        exemption=usi if usi in USI_EXEMPTION_CODES else None,
    )
