"""The literal sample records of wisenet-api.md §7."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent.parent / "fixtures" / "samples"


def sample(name: str) -> dict[str, Any]:
    """Load one sample Item by file stem, e.g. `learner_10452`."""
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return loaded
