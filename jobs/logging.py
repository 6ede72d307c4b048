"""Log set-up: structlog, JSON in production, console on a terminal.

Log events carry ids and endpoint templates only (design.md §4).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def _stderr_logger(*_: object) -> structlog.PrintLogger:
    """A logger on whatever `sys.stderr` is when it writes (it may be replaced, as in tests)."""
    return structlog.PrintLogger(sys.stderr)


def configure_logging(
    log_format: Literal["json", "console"] | None, *, level: int = logging.INFO
) -> None:
    """Route structlog to stderr in the chosen format (console when unset and on a terminal)."""
    chosen = log_format or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if chosen == "console"
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
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
