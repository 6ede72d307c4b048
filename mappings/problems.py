"""What a mapping file's problems look like: each one names the file, line and column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One error (or warning) in a mapping file, where it is and what is wrong."""

    source: str
    line: int
    column: int
    message: str
    rule: str | None = None
    path: str = ""
    warning: bool = False  # a warning does not stop the mapping from loading

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}: " + ("warning: " if self.warning else "")
        rule = f"rule {self.rule}: " if self.rule else ""
        path = f"{self.path}: " if self.path else ""
        return one_line(where + rule + path + self.message)


class MappingError(ValueError):
    """A mapping file has problems; `problems` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


_LINE_BREAKS = str.maketrans(
    {"\n": "\\n", "\r": "\\r", "\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
MAX_LINE = 2000  # characters of one problem line; longer ones are cut


def one_line(text: str) -> str:
    """A problem as one line: line breaks written as escapes, cut at `MAX_LINE` characters."""
    text = text.translate(_LINE_BREAKS)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def shown(value: object, limit: int = 60) -> str:
    """A value as problems quote it: its repr, on one line, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dotted(path: Sequence[str | int]) -> str:
    """A path within the file as problems show it: `flags[2].when.all[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
