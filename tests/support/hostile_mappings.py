"""The hostile mapping corpus and its big files (made on demand, not committed).

`EXPECTED` says what each committed file's first problem says (after `FILE:LINE:COL: `);
`GENERATED` makes the big ones in a folder, with what theirs says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mappings.reading import LIMITS

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile_mappings"
VALID_FLAG = """\
  - id: flag-{i}
    subject: course_enrolment
    when: {{field: status, equals: Completed}}
    reason: "Finished on {{end_date}}"
"""

# What each file's first problem says (after `FILE:LINE:COL: `).
EXPECTED = {
    "alias-bomb-block-style.yaml": "limit of 20,000 keys and values once aliases are written",
    "alias-bomb-in-a-rule.yaml": "limit of 20,000 keys and values once aliases are written",
    "alias-bomb-of-maps.yaml": "limit of 20,000 keys and values once aliases are written",
    "billion-laughs.yaml": "limit of 20,000 keys and values once aliases are written",
    "binary-png.yaml": "not UTF-8: byte 0x89",
    "binary-random.yaml": "not UTF-8: byte 0xbb",
    "binary-tag.yaml": "the YAML tag !!binary is not allowed",
    "control-character.yaml": "character U+0007 is not allowed",
    "date-value.yaml": "a date is not a value of a mapping file",
    "deep-block-lists.yaml": "nested deeper than the limit of 40 levels",
    "deep-block-maps.yaml": "nested deeper than the limit of 40 levels",
    "deep-conditions.yaml": "nested deeper than the limit of 40 levels",
    "deep-flow-lists.yaml": "nested deeper than the limit of 40 levels",
    "deep-flow-maps.yaml": "nested deeper than the limit of 40 levels",
    "deep-through-aliases.yaml": "nests the file deeper than the limit of 40 levels",
    "duplicate-keys.yaml": 'found duplicate key "version"',
    "empty.yaml": "a mapping file is a YAML mapping (version, stages, …); found nothing",
    "encoded-surrogate.yaml": "not UTF-8: byte 0xed",
    "escaped-lone-surrogate.yaml": "an escape gives character U+D800",
    "escaped-nul.yaml": "an escape gives character U+0000",
    "huge-float.yaml": "thresholds.grace_days: expected a number of days",
    "huge-integer.yaml": "a number longer than the limit of 30 characters",
    "huge-threshold.yaml": "Input should be less than or equal to 36600",
    "infinite-threshold.yaml": "thresholds.grace_days: expected a number of days",
    "latin-1.yaml": "not UTF-8: byte 0xe9",
    "many-aliases.yaml": "more than the limit of 200 aliases",
    "mapping-as-key.yaml": "a key is a plain value, not a list or a mapping",
    "merge-key-bomb.yaml": "limit of 20,000 keys and values once aliases are written",
    "merge-key-list-bomb.yaml": "limit of 20,000 keys and values once aliases are written",
    "nan-threshold.yaml": "thresholds.grace_days: expected a number of days",
    "nul-byte.yaml": "character U+0000 is not allowed",
    "omap-tag.yaml": "the YAML tag !!omap is not allowed",
    "only-comments.yaml": "found nothing",
    "overlong-utf-8.yaml": "not UTF-8: byte 0xc0",
    "python-name-tag.yaml": "the YAML tag !!python/name:builtins.eval is not allowed",
    "python-object-tag.yaml": "the YAML tag !!python/object/apply:os.system is not allowed",
    "recursive-alias-list.yaml": "alias *a is inside the node it names (a cycle)",
    "recursive-alias-map.yaml": "alias *f is inside the node it names (a cycle)",
    "recursive-merge-key.yaml": "alias *t is inside the node it names (a cycle)",
    "set-tag.yaml": "the YAML tag !!set is not allowed",
    "top-level-list.yaml": "found a list",
    "top-level-scalar.yaml": "found a value",
    "truncated-utf-8.yaml": "not UTF-8: byte 0xe2 (unexpected end of data)",
    "two-documents.yaml": "expected a single document in the stream, but found another",
    "undefined-alias.yaml": "found undefined alias 'nowhere'",
    "unknown-tag.yaml": "the YAML tag !vault is not allowed",
    "utf-16-be-bom.yaml": "the file starts with a UTF-16 (or UTF-32) byte-order mark",
    "utf-16-be.yaml": "character U+0000 is not allowed in a mapping file (NULs between",
    "utf-16-le-bom.yaml": "the file starts with a UTF-16 (or UTF-32) byte-order mark",
    "utf-16-le.yaml": "character U+0000 is not allowed in a mapping file (NULs between",
    "utf-32-le-bom.yaml": "the file starts with a UTF-16 (or UTF-32) byte-order mark",
    "windows-1252-quotes.yaml": "not UTF-8: byte 0x93",
    "yaml-1-1-directive.yaml": "a %YAML 1.1 directive; mapping files are YAML 1.2",
}


def six_megabytes(folder: Path) -> Path:
    """A valid-looking mapping of about 6 MB: many flags."""
    head = (CORPUS / "duplicate-keys.yaml").read_text().rsplit("version: 2", 1)[0]
    flags = "".join(VALID_FLAG.format(i=i) for i in range(42_000))
    path = folder / "six-megabytes.yaml"
    path.write_text(head + "flags:\n" + flags)
    return path


def one_long_line(folder: Path) -> Path:
    """One megabyte on a single line."""
    path = folder / "one-long-line.yaml"
    path.write_text("version: [" + "1, " * 350_000 + "]\n")
    return path


def too_many_values(folder: Path) -> Path:
    """Under the size limit, over the value limit: a flow list of 25,000 items."""
    path = folder / "too-many-values.yaml"
    path.write_text("version: [" + "x," * 25_000 + "]\n")
    return path


def huge_scalar(folder: Path) -> Path:
    """One quoted value of 250,000 characters (under the size limit)."""
    path = folder / "huge-scalar.yaml"
    path.write_text('version: "' + "x" * 250_000 + '"\n')
    return path


GENERATED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "six-megabytes": (six_megabytes, f"size limit of {LIMITS.max_bytes:,} bytes"),
    "one-long-line": (one_long_line, f"size limit of {LIMITS.max_bytes:,} bytes"),
    "too-many-values": (too_many_values, "more than the limit of 20,000 keys and values"),
    "huge-scalar": (huge_scalar, "version: Input should be 1; found 'xxxx"),
}
