"""The combos (lookup lists) the sandbox serves, seeded with wisenet-api.md §6's vocabularies.

Ids are deliberately not 1..n, and `shuffle=True` draws different ones from a seed, so tests can
prove that nothing downstream hard-codes an id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

# combo name -> (id property, [(code, description), ...])
_COMBOS: dict[str, tuple[str, list[tuple[str | None, str]]]] = {
    "enrolment-statuses": (
        "EnrolmentStatusId",
        [
            (None, d)
            for d in (
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
                "Deferred",
            )
        ],
    ),
    "application-statuses": (
        "ApplicationStatusId",
        [
            (None, d)
            for d in (
                "New",
                "Pending",
                "Reviewing",
                "Accepted",
                "Rejected",
            )
        ],
    ),
    "enrolment-status-reasons": (
        "EnrolmentStatusReasonId",
        [
            ("PRE", "Pre-Start"),
            ("ACT", "Active"),
            ("FIN", "Finished"),
            ("TRF", "Transferred"),
            ("MED", "Medical"),
        ],
    ),
    "application-status-reasons": (
        "ApplicationStatusReasonId",
        [
            ("INC", "Incomplete"),
            ("ELI", "Eligible"),
            ("INE", "Ineligible"),
        ],
    ),
    "outcomes": (
        "OutcomeId",
        [
            ("20", "Competency achieved/pass"),
            ("30", "Competency not achieved/fail"),
            ("40", "Withdrawn/discontinued"),
            ("41", "Incomplete due to RTO closure"),
            ("51", "Recognition of prior learning granted"),
            ("52", "Recognition of prior learning not granted"),
            ("60", "Credit transfer/national recognition"),
            ("65", "Transitioned"),
            ("70", "Continuing enrolment"),
            ("81", "Non-assessable enrolment - completed"),
            ("82", "Non-assessable enrolment - not completed"),
            ("85", "Not yet started"),
            ("90", "Not yet available"),
            ("00", "Not commenced"),
            ("NS", "Not started"),
            ("@@", "Not reported"),
            ("100", "Not yet reported"),
            ("105", "Not yet reported (state)"),
        ],
    ),
    "results": (
        "ResultId",
        [
            ("C", "Competent"),
            ("NYC", "Not Yet Competent"),
            ("RPL", "Recognition of Prior Learning"),
            ("CT", "Credit Transfer"),
            ("W", "Withdrawn"),
        ],
    ),
    "credential-statuses": (
        "CredentialStatusId",
        [
            (None, d)
            for d in (
                "Requested",
                "Issued",
                "Cancelled",
            )
        ],
    ),
    "genders": ("GenderId", [("M", "Male"), ("F", "Female"), ("X", "Non-binary / other")]),
    "states": (
        "StateId",
        [
            ("01", "NSW"),
            ("02", "VIC"),
            ("03", "QLD"),
            ("04", "SA"),
            ("05", "WA"),
            ("06", "TAS"),
            ("07", "NT"),
            ("08", "ACT"),
            ("09", "OTH"),
            ("99", "OVS"),
        ],
    ),
    "countries": (
        "CountryId",
        [
            ("1101", "Australia"),
            ("1201", "New Zealand"),
            ("2102", "England"),
            ("7103", "India"),
            ("6101", "China (excludes SARs and Taiwan)"),
            ("5203", "Philippines"),
            ("5105", "Vietnam"),
            ("9225", "South Africa"),
            ("8104", "United States of America"),
            ("4106", "Nepal"),
        ],
    ),
    "languages": (
        "PrimaryLanguageId",
        [
            ("1201", "English"),
            ("7100", "Mandarin"),
            ("6302", "Vietnamese"),
            ("5203", "Hindi"),
            ("4206", "Arabic"),
            ("2401", "Spanish"),
            ("9701", "Nepali"),
        ],
    ),
    "indigenous-statuses": (
        "IndigenousStatusId",
        [
            ("1", "Yes, Aboriginal"),
            ("2", "Yes, Torres Strait Islander"),
            ("3", "Yes, Aboriginal and Torres Strait Islander"),
            ("4", "No, Neither Aboriginal nor Torres Strait Islander"),
            ("@", "Not stated"),
        ],
    ),
    "highest-school-level-completed": (
        "HighestSchoolLevelCompletedId",
        [
            ("02", "Did not go to school"),
            ("08", "Year 8 or below"),
            ("09", "Year 9"),
            ("10", "Year 10"),
            ("11", "Year 11"),
            ("12", "Year 12"),
            ("@@", "Not stated"),
        ],
    ),
    "employment-statuses": (
        "EmploymentStatusId",
        [
            ("01", "Full-time employee"),
            ("02", "Part-time employee"),
            ("03", "Self-employed - not employing others"),
            ("04", "Employer"),
            ("06", "Unemployed - seeking full-time work"),
            ("07", "Unemployed - seeking part-time work"),
            ("08", "Not employed - not seeking employment"),
            ("@@", "Not stated"),
        ],
    ),
    "disability-flags": ("DisabilityFlagId", [("Y", "Yes"), ("N", "No"), ("@", "Not stated")]),
    "prior-education-flags": (
        "HasPriorEducationalAchievementId",
        [
            ("Y", "Yes"),
            ("N", "No"),
            ("@", "Not stated"),
        ],
    ),
    "study-modes": (
        "StudyModeId",
        [("FT", "Full-time"), ("PT", "Part-time"), ("INT", "International")],
    ),
    "survey-statuses": (
        "SurveyStatusId",
        [
            ("A", "Available for survey"),
            ("O", "Opted out"),
            ("M", "Minor"),
        ],
    ),
    "commencing-courses": (
        "CommencingCourseId",
        [
            ("3", "Commencing"),
            ("4", "Continuing"),
            ("8", "Continuing from earlier year"),
        ],
    ),
    "fund-source-nationals": (
        "FundSourceNationalId",
        [
            ("11", "Government funded"),
            ("20", "Domestic full fee-paying"),
            ("30", "International full fee-paying"),
        ],
    ),
    "delivery-modes": (
        "DeliveryModeId",
        [
            ("YNN", "Internal"),
            ("NYN", "External"),
            ("NNY", "Workplace-based"),
        ],
    ),
}


@dataclass(frozen=True)
class Entry:
    """One combo value."""

    id: int
    code: str | None
    description: str


class Vocabulary:
    """Every combo, with ids resolvable both ways."""

    def __init__(self, *, shuffle: bool = False, seed: int = 0) -> None:
        rng = random.Random(f"combo-ids:{seed}")
        self._entries: dict[str, list[Entry]] = {}
        self._id_keys: dict[str, str] = {}
        self._by_id: dict[str, dict[int, Entry]] = {}
        for index, (name, (id_key, values)) in enumerate(_COMBOS.items()):
            if shuffle:
                ids = rng.sample(range(1000, 99999), len(values))
            else:
                ids = [100 * (index + 3) + 7 * k + 3 for k in range(len(values))]
            self._entries[name] = [
                Entry(i, code, description)
                for i, (code, description) in zip(ids, values, strict=True)
            ]
            self._id_keys[name] = id_key
            self._by_id[name] = {entry.id: entry for entry in self._entries[name]}

    def names(self) -> list[str]:
        """Every combo's name."""
        return list(self._entries)

    def has(self, name: str) -> bool:
        """Whether `name` is a combo."""
        return name in self._entries

    def id_of(self, combo: str, label: str) -> int:
        """The id of the value whose description or code is `label`."""
        for entry in self._entries[combo]:
            if label in (entry.description, entry.code):
                return entry.id
        raise KeyError(f"{combo} has no value {label!r}")

    def entry(self, combo: str, ident: int | None) -> Entry | None:
        """The value with id `ident`, if any."""
        if ident is None:
            return None
        return self._by_id[combo].get(ident)

    def ids(self, combo: str) -> list[int]:
        """Every id of one combo."""
        return [e.id for e in self._entries[combo]]

    def items(self, combo: str) -> list[dict[str, Any]]:
        """The combo as Wisenet serves it: Items with `{<X>Id, Code, Description}`."""
        key = self._id_keys[combo]
        return [
            {"Data": {key: e.id, "Code": e.code, "Description": e.description}, "Relationships": {}}
            for e in self._entries[combo]
        ]

    def lookup(self, combo: str, ident: int | None) -> dict[str, Any] | None:
        """A Relationships lookup `{<X>Id, Code, Description}` for one id."""
        entry = self.entry(combo, ident)
        if entry is None:
            return None
        return {
            self._id_keys[combo]: entry.id,
            "Code": entry.code,
            "Description": entry.description,
        }
