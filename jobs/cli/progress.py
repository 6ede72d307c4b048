"""Progress of a run's phases: bars on a terminal, log events otherwise (logs, CI, pipes).

A run reads (one bar per listing, with its running count), decides (learners decided of those
to decide) and writes (writes handled of those queued). Off a terminal reads log a
`listing.progress` event per page, so stderr stays one JSON object a line; the log carries the
rest.
"""

from __future__ import annotations

from typing import Never, TextIO

import structlog
from tqdm import tqdm

from jobs.pipeline.context import SyncContext

log = structlog.get_logger(__name__)

DECIDE = "decide"
WRITE = "write"


class RunProgress:
    """Shows each phase of a run: records read per listing, learners decided, writes handled."""

    def __init__(self, stream: TextIO, *, terminal: bool | None = None) -> None:
        """Draw bars when `stream` is a terminal (or `terminal` says so), else log events."""
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self.bars: dict[str, tqdm[Never]] = {}

    def attach(self, ctx: SyncContext) -> None:
        """Follow the run of `ctx` through its callbacks."""
        ctx.on_page = self
        ctx.on_decided = self.decided
        ctx.on_written = self.written

    def __call__(self, entity: str, read: int) -> None:
        """A page of `entity` was stored; `read` records of it so far."""
        if not self.terminal:
            log.info("listing.progress", entity=entity, records_read=read)
            return
        bar = self._bar(entity, " records")
        if read > bar.n:  # a listing read again while writing starts from 0: not a new read
            bar.update(read - bar.n)

    def decided(self, done: int, total: int) -> None:
        """`done` learners of `total` have been decided in this run."""
        self._phase(DECIDE, " learners", done, total)

    def written(self, done: int, total: int) -> None:
        """`done` writes of the `total` queued have been handled (sent, skipped or failed)."""
        self._phase(WRITE, " writes", done, total)

    def _phase(self, name: str, unit: str, done: int, total: int) -> None:
        if not self.terminal:
            return
        bar = self._bar(name, unit, total)
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    def _bar(self, name: str, unit: str, total: int | None = None) -> tqdm[Never]:
        """The phase's bar; a new one finishes the others (phases follow each other)."""
        bar = self.bars.get(name)
        if bar is None:
            self.close()
            bar = tqdm(desc=name, unit=unit, total=total, file=self.stream, leave=True)
            self.bars[name] = bar
        return bar

    def close(self) -> None:
        """Finish the bars (a finished bar ignores later updates)."""
        for bar in self.bars.values():
            bar.close()
