"""What a command that changes the store says when a dry run kept none of its changes."""

from __future__ import annotations

from jobs.setup.settings import Settings

NOTHING_KEPT = "dry run: nothing kept (CONNECTOR_DRY_RUN=true)"


def outcome_lines(settings: Settings, done: str, would: str) -> list[str]:
    """`done` after a real run; under a dry run `would` (conditional wording) and the notice."""
    if settings.dry_run:
        return [would, NOTHING_KEPT]
    return [done]
