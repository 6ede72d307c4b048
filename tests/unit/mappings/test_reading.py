"""Reading mapping files: UTF-8 only, limits checked before the work they bound, located."""

from __future__ import annotations

import codecs

import pytest

from mappings.problems import MappingError, Problem, one_line, shown
from mappings.reading import LIMITS, Limits, decode_mapping, position, read_yaml

SMALL = Limits(max_bytes=64, max_depth=4, max_aliases=3, max_values=20, max_number_length=5)


def refusal(call: object, *args: object) -> str:
    """The one problem a reading step raises, as printed."""
    with pytest.raises(MappingError) as caught:
        call(*args)  # type: ignore[operator]
    assert len(caught.value.problems) == 1
    return str(caught.value.problems[0])


def test_positions_count_every_kind_of_line_break() -> None:
    """Lines end at LF, CRLF, CR and the Unicode breaks; columns count characters."""
    text = "a\r\nb\rc\u2028dé\nxyz"
    assert position(text, 0) == (1, 1)
    assert position(text, text.index("b")) == (2, 1)
    assert position(text, text.index("c")) == (3, 1)
    assert position(text, text.index("é") + 1) == (4, 3)
    assert position(text, text.index("z")) == (5, 3)


def test_utf_8_is_read_and_a_utf_8_byte_order_mark_is_dropped() -> None:
    """A BOM (as Windows editors write) is tolerated; the text starts after it."""
    assert decode_mapping(codecs.BOM_UTF8 + "a: é\n".encode(), "m.yaml") == "a: é\n"
    assert decode_mapping(b"", "m.yaml") == ""


def test_a_file_over_the_size_limit_is_refused_where_the_limit_falls() -> None:
    """The size is checked before decoding; the position is the first byte past the limit."""
    data = b"a: 1\n" * 12 + b"bb: 2\n"
    assert refusal(decode_mapping, data, "m.yaml", SMALL) == (
        "m.yaml:13:5: the file goes on past the size limit of 64 bytes (0 KiB) for a mapping file"
    )
    assert f"{LIMITS.max_bytes:,} bytes (256 KiB)" in refusal(
        decode_mapping, b"x" * (LIMITS.max_bytes + 1), "m.yaml"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("a: b\n".encode("utf-16"), "m.yaml:1:1: not UTF-8: the file starts with a UTF-16"),
        (codecs.BOM_UTF16_BE + "a".encode("utf-16-be"), "m.yaml:1:1: not UTF-8: the file"),
        (b"a: 1\nb: caf\xe9\n", "m.yaml:2:7: not UTF-8: byte 0xe9 (invalid continuation byte)"),
        (b"a: \xed\xa0\x80\n", "m.yaml:1:4: not UTF-8: byte 0xed"),
        (b"a: \xe2\x82", "m.yaml:1:4: not UTF-8: byte 0xe2 (unexpected end of data)"),
    ],
)
def test_anything_but_utf_8_is_refused_at_its_first_bad_byte(data: bytes, expected: str) -> None:
    """UTF-16 (by its BOM), Latin-1, encoded surrogates and cut sequences: line and column."""
    assert refusal(decode_mapping, data, "m.yaml").startswith(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x00:", "m.yaml:1:2: character U+0000 is not allowed in a mapping file (NULs between"),
        ("a: \ud800", "m.yaml:1:4: character U+D800 is not allowed in a mapping file (a lone"),
        ("a:\n b\x07", "m.yaml:2:3: character U+0007 is not allowed in a mapping file"),
    ],
)
def test_characters_yaml_does_not_allow_are_refused_before_parsing(
    text: str, expected: str
) -> None:
    """NUL (UTF-16 read as UTF-8), lone surrogates and control characters are located."""
    assert refusal(read_yaml, text, "m.yaml").startswith(expected)


def test_an_empty_or_comment_only_text_holds_nothing() -> None:
    """Nothing to read is not an error here; the loader says a mapping is expected."""
    assert read_yaml("", "m.yaml") is None
    assert read_yaml("# only a comment\n", "m.yaml") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [[[[x]]]]", "m.yaml:1:7: nested deeper than the limit of 4 levels"),
        ("a: &a [x, *a]", "m.yaml:1:4: a[1]: alias *a is inside the node it names (a cycle)"),
        (
            "a: &a [[x]]\nb: [*a]",
            "m.yaml:2:4: b[0]: alias *a nests the file deeper than the limit of 4 levels "
            "once written out",
        ),
        ("a: &a x\nb: [*a, *a, *a, *a]", "m.yaml:2:4: b[3]: more than the limit of 3 aliases"),
        (
            "a: &a [x, x, x, x, x]\nb: *a\nc: *a",
            "m.yaml:3:1: c: alias *a takes the file past the limit of 20 keys and values "
            "once aliases are written out",
        ),
        (
            "a: [" + "x, " * 20 + "]",
            "m.yaml:1:56: more than the limit of 20 keys and values",
        ),
        (
            "a: &a [x, x, x, x, x]\nb: *a\nc: [y, y, y, y]",
            "m.yaml:3:14: c[3]: more than the limit of 20 keys and values",
        ),
        ("a: 123456", "m.yaml:1:4: a: a number longer than the limit of 5 characters"),
        ("a: 1.2345", "m.yaml:1:4: a: a number longer than the limit of 5 characters"),
    ],
)
def test_each_limit_is_named_where_it_is_crossed(text: str, expected: str) -> None:
    """Depth, cycles, depth through aliases, alias count, expansion, values and numbers."""
    assert refusal(read_yaml, text, "m.yaml", SMALL) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!binary aGk=", "m.yaml:1:4: a: the YAML tag !!binary is not allowed"),
        ("a: !!python/name:eval", "m.yaml:1:4: a: the YAML tag !!python/name:eval is not"),
        ("a: !custom {b: 1}", "m.yaml:1:4: a: the YAML tag !custom is not allowed"),
        ("a: 2025-01-01", "m.yaml:1:4: a: a date is not a value of a mapping file"),
        ('a: "x\\0"', "m.yaml:1:4: a: an escape gives character U+0000, which a mapping file"),
        ("? [a]\n: b", "m.yaml:1:3: a key is a plain value, not a list or a mapping"),
    ],
)
def test_tags_dates_escapes_and_complex_keys_are_refused(text: str, expected: str) -> None:
    """Only plain values: no tags that build objects, no dates, no characters a file cannot hold."""
    assert refusal(read_yaml, text, "m.yaml").startswith(expected)


def test_only_yaml_1_2_is_read() -> None:
    """A 1.1 directive (other booleans, numbers and dates) is refused; 1.2 may be named."""
    assert refusal(read_yaml, "%YAML 1.1\n---\na: 1e3\n", "m.yaml") == (
        "m.yaml:1:1: a %YAML 1.1 directive; mapping files are YAML 1.2 (remove the directive)"
    )
    assert read_yaml("%YAML 1.2\n---\na: 1\n", "m.yaml") == {"a": 1}


def test_yaml_errors_are_one_located_line() -> None:
    """Syntax errors keep their mark; a message in two parts reads as one sentence."""
    assert refusal(read_yaml, "a: 1\n---\nb: 2\n", "m.yaml") == (
        "m.yaml:2:1: not valid YAML: expected a single document in the stream, "
        "but found another document"
    )
    long = refusal(read_yaml, "a: 1\na: " + "x" * 500, "m.yaml")
    assert long.startswith('m.yaml:2:1: not valid YAML: found duplicate key "a"')
    assert long.endswith("…")
    assert len(long) < 240


def test_aliases_merge_keys_and_reused_anchors_within_limits_are_read() -> None:
    """Aliases are valid YAML: within the limits they read as the values they name."""
    tree = read_yaml("a: &a {k: 1}\nb: {<<: *a, z: 2}\nc: &a 3\nd: *a\n", "m.yaml")
    assert tree == {"a": {"k": 1}, "b": {"z": 2, "k": 1}, "c": 3, "d": 3}


def test_problems_print_on_one_line_and_quote_values_briefly() -> None:
    """Line breaks become escapes, overlong lines are cut, warnings say so."""
    assert one_line("a\nb\r\u2028") == "a\\nb\\r\\u2028"
    assert len(one_line("x" * 5000)) == 2000
    assert shown("y" * 100).endswith("…")
    assert shown("ok") == "'ok'"
    assert str(Problem("m.yaml", 3, 4, "odd", "r", "when", warning=True)) == (
        "m.yaml:3:4: warning: rule r: when: odd"
    )
