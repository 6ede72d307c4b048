"""Why writes did not go through, grouped by reason with the fix, for summaries and exit codes."""

from __future__ import annotations

from dataclasses import dataclass

from connector.errors import ConnectorError, NotFoundError, RejectedError, TransientError

REJECTED = "rejected"
MISSING = "missing"
UNANSWERED = "unanswered"
REFUSED = "refused"
FIXES = {
    REJECTED: "Wisenet refused them; see `connector deadletters list`, fix, then replay",
    MISSING: "a tag or learner they need is gone from Wisenet; see `connector deadletters list`",
    UNANSWERED: "Wisenet did not answer (network, rate limit or 5xx); they are tried again later",
    REFUSED: "the connector refused them; see `connector deadletters list` for the reason",
}


@dataclass(frozen=True)
class FailureGroup:
    """Writes that failed or wait blocked for one reason, and what fixes it."""

    key: str  # `blocked:<tag>` or one of the failure keys above
    count: int
    fix: str

    def line(self) -> str:
        """The group as one summary line."""
        kind = "blocked" if self.key.startswith("blocked:") else "failed"
        return f"{self.count} write(s) {kind}: {self.fix}"


def failure_key(exc: Exception) -> str:
    """The reason key of a failed write's error."""
    if isinstance(exc, NotFoundError):
        return MISSING
    if isinstance(exc, TransientError):
        return UNANSWERED
    if isinstance(exc, RejectedError):
        return REJECTED
    return REFUSED  # a configuration error that is not a tag refusal


class WritesFailedError(ConnectorError):
    """A run ended with writes failed, refused or blocked: it did not do its work (exit 1)."""

    def __init__(self, failed: int, blocked: int) -> None:
        self.failed = failed
        self.blocked = blocked
        super().__init__(
            f"the run's writes did not all go through: {failed} failed, {blocked} blocked "
            "(the summary above says why and what fixes it)"
        )


def raise_unless_written(failed: int, blocked: int) -> None:
    """Fail a run that left writes failed or blocked; writes merely waiting for the budget pass."""
    if failed or blocked:
        raise WritesFailedError(failed, blocked)
