"""Admin-written mapping test cases: a bundle, a day, and the decision expected for it.

```yaml
name: certified completion moves to Reconnect after 60 days
today: 2026-11-29
bundle: {learner: {...}, course_enrolments: [...], ...}   # or bundle_file: relative/path.json
expect:                                 # every key is optional; what is given must match
  learner_stage: Reconnect              # or null
  course_enrolments:
    88213: {stage: Reconnect, tags: [certified, reconnect-eligible]}
  flags:                                # the complete set of flags, when given
    - [certificate-overdue, course_enrolment, 88213]
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml.error import YAMLError

from connector.bundle_file import (
    bundle_from_data,
    parse_bundle_text,
    read_bundle_text,
    read_plain_yaml,
)
from connector.bundles import BundleError
from mappings.compiler import CompiledMapping
from mappings.evaluate import evaluate

UNSET: Any = object()


class ExpectedEnrolment(BaseModel):
    """What one enrolment should get."""

    model_config = ConfigDict(extra="forbid")

    stage: str | None = None
    tags: list[str] | None = None


class Expectation(BaseModel):
    """The expected decision; keys left out are not checked."""

    model_config = ConfigDict(extra="forbid")

    learner_stage: str | None = Field(default=UNSET)
    course_enrolments: dict[int, ExpectedEnrolment] = Field(default_factory=dict)
    flags: list[tuple[str, str, int]] | None = None


class MappingCase(BaseModel):
    """One case file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    today: date
    bundle: dict[str, Any] | None = None
    bundle_file: str | None = None
    expect: Expectation

    @model_validator(mode="after")
    def _one_bundle(self) -> MappingCase:
        if (self.bundle is None) == (self.bundle_file is None):
            raise ValueError("give exactly one of bundle, bundle_file")
        return self


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: what differed (nothing when it passed)."""

    source: str
    name: str
    differences: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Whether everything expected was found."""
        return not self.differences


def load_case(path: Path) -> MappingCase:
    """Read one case file; raise BundleError naming the file on any problem."""
    try:
        raw = read_plain_yaml(read_bundle_text(path), str(path))
        return MappingCase.model_validate(raw)
    except YAMLError as exc:
        raise BundleError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "case"
        raise BundleError(f"{path}: {where}: {first['msg']}") from exc


def run_case(path: Path, mapping: CompiledMapping) -> CaseResult:
    """Evaluate one case file and compare with its expectation."""
    case = load_case(path)
    if case.bundle_file is not None:
        bundle_path = path.parent / case.bundle_file
        data = parse_bundle_text(read_bundle_text(bundle_path), str(bundle_path))
    else:
        data = case.bundle
    bundle = bundle_from_data(data, str(path)).bundle
    decision = evaluate(bundle, mapping, case.today)
    expect = case.expect
    differences = []
    if expect.learner_stage is not UNSET and decision.learner_stage != expect.learner_stage:
        differences.append(
            f"learner stage {decision.learner_stage}, expected {expect.learner_stage}"
        )
    found = {ce.id: ce for ce in decision.course_enrolments}
    for ce_id, wanted in expect.course_enrolments.items():
        got = found.get(ce_id)
        if got is None:
            differences.append(f"enrolment {ce_id} is not in the bundle")
            continue
        if wanted.stage is not None and got.stage != wanted.stage:
            differences.append(f"enrolment {ce_id} stage {got.stage}, expected {wanted.stage}")
        if wanted.tags is not None and set(got.desired_tags) != set(wanted.tags):
            differences.append(
                f"enrolment {ce_id} tags {sorted(got.desired_tags)}, expected {sorted(wanted.tags)}"
            )
    if expect.flags is not None:
        raised = decision.flag_keys()
        wanted_flags = {tuple(flag) for flag in expect.flags}
        for extra in sorted(raised - wanted_flags):
            differences.append(f"unexpected flag {extra[0]} on {extra[1]} {extra[2]}")
        for missing in sorted(wanted_flags - raised):
            differences.append(f"missing flag {missing[0]} on {missing[1]} {missing[2]}")
    return CaseResult(str(path), case.name, tuple(differences))
