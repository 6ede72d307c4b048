"""Progress of a long read: a bar on a terminal, plain lines otherwise (logs, CI, pipes)."""

from __future__ import annotations

from typing import Never, TextIO

import click
from tqdm import tqdm


class ListingProgress:
    """Shows how many records of each listing have been read, page by page."""

    def __init__(self, stream: TextIO, *, terminal: bool | None = None) -> None:
        """Draw bars when `stream` is a terminal (or `terminal` says so), else print lines."""
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self.bars: dict[str, tqdm[Never]] = {}

    def __call__(self, entity: str, read: int) -> None:
        """A page of `entity` was stored; `read` records of it so far."""
        if not self.terminal:
            click.echo(f"{entity}: {read} records read", file=self.stream)
            return
        bar = self.bars.get(entity)
        if bar is None:
            bar = tqdm(desc=entity, unit=" records", file=self.stream, leave=True)
            self.bars[entity] = bar
        bar.update(read - bar.n)

    def close(self) -> None:
        """Finish the bars."""
        for bar in self.bars.values():
            bar.close()
