"""The limits of command-line arguments, at their edges, and of bundle files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
import pytest

from connector.bundle_file import MAX_BUNDLE_BYTES, read_bundle_text
from connector.bundles import BundleError
from jobs.cli.arguments import (
    ACCOUNT_DATE,
    EARLIEST_DATE,
    LARGEST_ID,
    LATEST_DATE,
    OUTPUT_FILE,
    RECORD_ID,
    write_output,
)


@pytest.mark.parametrize("text", ["1", "88213", str(LARGEST_ID), f" {LARGEST_ID} "])
def test_ids_that_fit_the_store_are_read(text: str) -> None:
    """Any id from 1 to 2**63 - 1 is taken as it is."""
    assert RECORD_ID.convert(text, None, None) == int(text)


@pytest.mark.parametrize("text", ["0", "-5", str(LARGEST_ID + 1), "9" * 5000, "1e3", "١٢", "x"])
def test_ids_outside_64_bits_or_not_decimal_are_refused(text: str) -> None:
    """Zero, negatives, 2**63 and beyond, and non-decimal text are usage errors."""
    with pytest.raises(click.BadParameter, match=f"expected an id from 1 to {LARGEST_ID}"):
        RECORD_ID.convert(text, None, None)


@pytest.mark.parametrize("day", [EARLIEST_DATE, date(2026, 11, 29), LATEST_DATE])
def test_dates_within_the_range_are_read(day: date) -> None:
    """Both ends of the range are included."""
    assert ACCOUNT_DATE.convert(day.isoformat(), None, None) == day


@pytest.mark.parametrize("text", ["0001-01-01", "1999-12-31", "2100-01-01", "9999-12-31"])
def test_dates_outside_the_range_are_refused(text: str) -> None:
    """A day the date arithmetic cannot move around safely is a usage error."""
    with pytest.raises(click.BadParameter, match="expected a date from 2000-01-01 to 2099-12-31"):
        ACCOUNT_DATE.convert(text, None, None)


@pytest.mark.parametrize("text", ["29/11/2026", "2026-02-30", ""])
def test_text_that_is_not_a_date_is_refused(text: str) -> None:
    """Only YYYY-MM-DD of a real day is read."""
    with pytest.raises(click.BadParameter, match="expected a date as YYYY-MM-DD"):
        ACCOUNT_DATE.convert(text, None, None)


def test_an_output_file_needs_an_existing_folder(tmp_path: Path) -> None:
    """A file in a missing folder, or a folder itself, is refused before any work is done."""
    assert (
        OUTPUT_FILE.convert(str(tmp_path / "report.html"), None, None) == tmp_path / "report.html"
    )
    with pytest.raises(click.BadParameter, match=r"the folder .* does not exist"):
        OUTPUT_FILE.convert(str(tmp_path / "missing" / "report.html"), None, None)
    with pytest.raises(click.BadParameter, match="is a folder"):
        OUTPUT_FILE.convert(str(tmp_path), None, None)


def test_an_output_file_is_private_and_a_failed_write_names_the_option(tmp_path: Path) -> None:
    """The page is readable by its owner only; a write that fails is a usage error on --html."""
    page = tmp_path / "report.html"
    write_output(page, "<html></html>", "--html")
    assert (page.read_text(), page.stat().st_mode & 0o777) == ("<html></html>", 0o600)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(click.BadParameter, match=r"cannot write .*a-file/report\.html") as caught:
        write_output(blocker / "report.html", "<html></html>", "--html")
    assert caught.value.param_hint == "'--html'"


def test_a_bundle_file_is_read_up_to_its_limit(tmp_path: Path) -> None:
    """A file of exactly the limit is read; one byte more is refused, naming the file."""
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(b" " * MAX_BUNDLE_BYTES)
    assert len(read_bundle_text(bundle)) == MAX_BUNDLE_BYTES
    bundle.write_bytes(b" " * (MAX_BUNDLE_BYTES + 1))
    with pytest.raises(BundleError, match=f"^{bundle}: larger than 4 MiB"):
        read_bundle_text(bundle)


def test_an_endless_device_is_not_read_for_ever() -> None:
    """`/dev/zero` is refused after the limit, not read until memory runs out."""
    with pytest.raises(BundleError, match=r"^/dev/zero: larger than 4 MiB"):
        read_bundle_text(Path("/dev/zero"))


def test_a_bundle_file_must_be_utf8(tmp_path: Path) -> None:
    """Latin-1 text is refused with the file, the byte and its offset."""
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes('{"learner": "é"}'.encode("latin-1"))
    with pytest.raises(BundleError, match=r"not UTF-8 text \(byte 0xe9 at offset 13\)"):
        read_bundle_text(bundle)
