"""Log set-up, the same for every command: structlog to stderr, JSON or console.

On a terminal the log is for a person: warnings and errors only, in console format. Off a
terminal (cron, CI, a pipe) and always for `connector run` it is for machines: JSON, every event
from info up. `CONNECTOR_LOG_FORMAT` and `CONNECTOR_LOG_LEVEL` override those defaults; `-v` and
`-q` move the level one step down or up. Colours only on a terminal; a line never lands on a
progress bar. Log events carry ids and endpoint templates only (design.md §4).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from tqdm import tqdm

LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")
SERVICE_COMMAND = "run"  # logs for machines even when started on a terminal


class StderrLogger:
    """Writes each log line to whatever `sys.stderr` is then (tests replace it).

    A line goes through `tqdm.write`, which clears the progress bars drawn on stderr and draws
    them again below it, so a log line never lands on a bar.
    """

    def msg(self, message: str) -> None:
        """Write one rendered line."""
        stream = sys.stderr
        tqdm.write(message, file=stream)
        stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _stderr_logger(*_: object) -> StderrLogger:
    return StderrLogger()


def for_person(command: str | None, *, terminal: bool) -> bool:
    """Whether a command's log is read by a person: on a terminal, unless it is the service."""
    return terminal and command != SERVICE_COMMAND


def resolve_level(
    setting: LogLevel | None, *, for_person: bool, verbose: int = 0, quiet: int = 0
) -> LogLevel:
    """The level to log at, from debug to error.

    The setting, else warning for a person and info for a machine; one step lower per `-v`,
    one step higher per `-q`.
    """
    base = setting or ("warning" if for_person else "info")
    step = LEVELS.index(base) - verbose + quiet
    return LEVELS[min(max(step, 0), len(LEVELS) - 1)]


def resolve_format(setting: LogFormat | None, *, for_person: bool) -> LogFormat:
    """The log's format: the setting, else console for a person and JSON for a machine."""
    return setting or ("console" if for_person else "json")


def configure_logging(log_format: LogFormat, level: LogLevel | int = "info") -> None:
    """Route structlog to stderr in `log_format`, dropping events below `level`.

    The console format is coloured only when stderr is a terminal (no escape codes in a pipe).
    """
    threshold = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if log_format == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def configure_command_logging(
    log_format: LogFormat | None,
    log_level: LogLevel | None,
    *,
    for_person: bool,
    verbose: int = 0,
    quiet: int = 0,
) -> LogLevel:
    """Configure logging as every command does (the settings, the audience, -v/-q); the level."""
    level = resolve_level(log_level, for_person=for_person, verbose=verbose, quiet=quiet)
    configure_logging(resolve_format(log_format, for_person=for_person), level)
    return level
