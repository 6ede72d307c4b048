"""Expected echoes: each tag PATCH comes back as an `Updated` delivery for its enrolment.

The PATCH response is already stored as the enrolment's snapshot, so its echo needs no read
(`wisenet-api.md` §4.7; the next list poll confirms it). Deliveries carry no event id that says
whose change they announce, so echoes are matched by count and time: each PATCH expects one
`Updated` delivery received after the PATCH was sent and within `ECHO_WINDOW`. Wisenet
delivers at least once, and a repeat carries nothing to tell it from a new event, so a delivery
in the same batch within `REPEAT_WINDOW` of a matched echo counts as its repeat
(`wisenet-api.md` §5.3); a repeat that comes in a later batch is read. A record is left unread
only when every delivery of it in a batch is accounted for that way; one more (a staff edit
after ours, past the repeat window) and the record is read, and its expectations are dropped.
The price: a staff edit of the same enrolment made just after our PATCH and delivered within
seconds of our echo, in the same batch, waits for the next list poll. (One made before the
PATCH is in its response.) And while an echo is expected but never comes (a delivery lost or
refused), a staff edit of that enrolment within the window is taken for it and waits for the
next list poll too; past the window the expectation is dropped. A replica taking the lead
starts with none (another leader may have drained its echoes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ECHO_WINDOW = timedelta(minutes=2)
REPEAT_WINDOW = timedelta(seconds=5)


@dataclass
class ExpectedEchoes:
    """When each enrolment's PATCHes of this process were sent, awaiting their echoes."""

    window: timedelta = ECHO_WINDOW
    _sent: dict[int, list[datetime]] = field(default_factory=dict)

    def expect(self, enrolment_id: int, sent_at: datetime) -> None:
        """A PATCH of this enrolment was sent at `sent_at` and answered."""
        self._sent.setdefault(enrolment_id, []).append(sent_at)

    def all_echoes(self, enrolment_id: int, received: Sequence[datetime]) -> bool:
        """Whether each delivery of one batch (received at these times) is an echo or a repeat.

        When it is, the expectations matched are used up; when it is not, the record is read
        and all of its expectations are dropped (the read covers them).
        """
        left = sorted(self._sent.pop(enrolment_id, []))
        if not received or not left:
            return False
        echoes: list[datetime] = []
        for moment in sorted(received):
            match = next((s for s in left if s <= moment <= s + self.window), None)
            if match is not None:
                left.remove(match)
                echoes.append(moment)
            elif not any(moment - echo <= REPEAT_WINDOW for echo in echoes):
                return False
        if left:
            self._sent[enrolment_id] = left
        return True

    def drop(self, enrolment_id: int) -> None:
        """Expect no more echoes of this enrolment: it is read anyway."""
        self._sent.pop(enrolment_id, None)

    def forget_before(self, now: datetime) -> None:
        """Drop the expectations whose window has passed."""
        for enrolment_id in list(self._sent):
            kept = [s for s in self._sent[enrolment_id] if now - s <= self.window]
            if kept:
                self._sent[enrolment_id] = kept
            else:
                del self._sent[enrolment_id]

    def __len__(self) -> int:
        return sum(len(sent) for sent in self._sent.values())
