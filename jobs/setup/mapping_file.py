"""The mapping file on disk: read within the size limit, and compared with the active mapping.

The file seeds the active mapping on first start and is never applied by itself afterwards, so a
file that turns bad (not UTF-8, over a limit, not a valid mapping, unreadable) changes nothing in
the running service: `/readyz`, `/metrics` and `status` say so, naming the file.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from mappings.loader import parse_mapping
from mappings.problems import MappingError
from mappings.reading import LIMITS, decode_mapping

log = structlog.get_logger(__name__)


def read_mapping_text(path: Path) -> str:
    """A mapping file's text; `MappingError` for what it holds, `OSError` if it cannot be read.

    At most one byte past the size limit is read, whatever the file is (`/dev/zero` included).
    """
    with path.open("rb") as handle:
        data = handle.read(LIMITS.max_bytes + 1)
    return decode_mapping(data, str(path))


def cannot_read(path: Path, exc: OSError) -> str:
    """Why a file cannot be read, in one line naming it."""
    return f"{path}: cannot read ({exc.strerror or type(exc).__name__})"


class FileState(StrEnum):
    """The mapping file on disk, as against the active mapping."""

    ACTIVE = "active"  # the same text as the active mapping
    DIFFERS = "differs"  # a valid mapping other than the active one (apply it to switch)
    VALID = "valid"  # a valid mapping, and no mapping is active yet
    BAD = "bad"  # not UTF-8, over a limit, not YAML or not a valid mapping
    UNREADABLE = "unreadable"  # permissions, a folder, an I/O error
    MISSING = "missing"


@dataclass(frozen=True)
class FileCheck:
    """What the mapping file on disk is; `problem` is one line naming the file."""

    path: str
    state: FileState
    problem: str | None = None

    @property
    def differs(self) -> bool:
        """A valid file other than the active mapping."""
        return self.state is FileState.DIFFERS

    @property
    def bad(self) -> bool:
        """The file could not be used as a mapping (the active one stays in use)."""
        return self.state in (FileState.BAD, FileState.UNREADABLE)

    def as_json(self) -> dict[str, str | None]:
        """The check's stable JSON shape."""
        return {"path": self.path, "state": self.state.value, "problem": self.problem}


class MappingFileWatch:
    """Checks the mapping file against the active mapping; a text is checked once, then kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked: tuple[str, str | None] | None = None  # (digest of a text, its problem)
        self._reported: FileCheck | None = None

    async def check(self, active_text: str | None) -> FileCheck:
        """The file's state now (read and checked off the event loop)."""
        return await asyncio.to_thread(self.check_now, active_text)

    def check_now(self, active_text: str | None) -> FileCheck:
        """The file's state now; a change to bad or unreadable is logged once."""
        found = self._check(active_text)
        if found.bad and found != self._reported:
            log.warning(
                "mapping.file_bad",
                file=found.path,
                problem=found.problem,
                hint="the active mapping stays in use",
            )
        self._reported = found
        return found

    def _check(self, active_text: str | None) -> FileCheck:
        path = str(self.path)
        try:
            text = read_mapping_text(self.path)
        except FileNotFoundError:
            return FileCheck(path, FileState.MISSING)
        except OSError as exc:
            return FileCheck(path, FileState.UNREADABLE, cannot_read(self.path, exc))
        except MappingError as exc:
            return FileCheck(path, FileState.BAD, first_problem(exc))
        if active_text is not None and text == active_text:
            return FileCheck(path, FileState.ACTIVE)
        problem = self._problem(text)
        if problem is not None:
            return FileCheck(path, FileState.BAD, problem)
        return FileCheck(path, FileState.DIFFERS if active_text is not None else FileState.VALID)

    def _problem(self, text: str) -> str | None:
        digest = hashlib.sha256(text.encode()).hexdigest()
        if self._checked is None or self._checked[0] != digest:
            try:
                parse_mapping(text, str(self.path))
                self._checked = (digest, None)
            except MappingError as exc:
                self._checked = (digest, first_problem(exc))
        return self._checked[1]


def first_problem(exc: MappingError) -> str:
    """A mapping's first problem, with how many more there are."""
    more = len(exc.problems) - 1
    return str(exc.problems[0]) + (f" (and {more} more)" if more else "")
