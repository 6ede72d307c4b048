"""Command-line argument types with their limits, checked where the argument is parsed.

A value outside its limits is a usage error naming the argument (exit 2), never an overflow
deep inside the store or the date arithmetic:

- `RECORD_ID`: a Wisenet record or dead-letter id, a positive 64-bit integer (the store's
  column type);
- `ACCOUNT_DATE`: a `YYYY-MM-DD` day from `EARLIEST_DATE` to `LATEST_DATE`, which leaves the
  mapping's day counts room either side;
- `SECONDS`: a finite number of seconds within a range (`FloatRange` lets NaN through);
- `OUTPUT_FILE`: a file to write whose folder exists; `write_output` writes it readable by its
  owner only and names the option when the write fails.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

LARGEST_ID = 2**63 - 1
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)


class RecordIdType(click.ParamType[int, object]):
    """A positive id that fits the store's 64-bit integer columns."""

    name = "id"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """Read a decimal id from 1 to 2**63 - 1."""
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not (text.isascii() and text.isdigit()) or len(text) > len(str(LARGEST_ID)):
                self.fail(f"expected an id from 1 to {LARGEST_ID}", param, ctx)
            number = int(text)
        if not 1 <= number <= LARGEST_ID:
            self.fail(f"expected an id from 1 to {LARGEST_ID}", param, ctx)
        return number


class SecondsType(click.FloatRange):
    """Seconds from `low` to `high`, NaN refused."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Read a number of seconds within the range."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected seconds from {self.min} to {self.max}", param, ctx)
        return float(number)


class AccountDateType(click.ParamType[date, object]):
    """A calendar day `YYYY-MM-DD` within the dates the connector can reason about."""

    name = "date"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> date:
        """Read `YYYY-MM-DD` from `EARLIEST_DATE` to `LATEST_DATE`."""
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
        else:
            try:
                day = datetime.strptime(str(value).strip(), "%Y-%m-%d").date()  # noqa: DTZ007 - a calendar day
            except ValueError:
                self.fail("expected a date as YYYY-MM-DD, e.g. 2026-11-29", param, ctx)
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            self.fail(
                f"expected a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
                param,
                ctx,
            )
        return day


class OutputFileType(click.ParamType[Path, object]):
    """A file to write: not a folder, and its folder must exist."""

    name = "file"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        """Check the path's folder now, before any work is done for it."""
        path = value if isinstance(value, Path) else Path(str(value))
        if path.is_dir():
            self.fail(f"{path} is a folder; name a file in it", param, ctx)
        if not path.parent.is_dir():
            self.fail(f"{path}: the folder {path.parent} does not exist", param, ctx)
        return path


RECORD_ID = RecordIdType()
ACCOUNT_DATE = AccountDateType()
OUTPUT_FILE = OutputFileType()


def write_output(path: Path, text: str, option: str) -> None:
    """Write `text` to `path` readable by its owner only; a failure names `option` and the path."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        path.chmod(0o600)  # a file that existed keeps its mode through os.open
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {path} ({exc.strerror})", param_hint=f"'{option}'"
        ) from exc
