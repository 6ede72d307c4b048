"""Reading a mapping file safely: UTF-8 text and bounded YAML, every refusal located.

Admins own mapping files, and a mistake (or a hostile file) must end in a located problem, never
in a hang, a crash or a traceback. Each limit is checked before the work it bounds:

- the size, before anything is decoded;
- the encoding: UTF-8 only (a leading UTF-8 byte-order mark is dropped), with only the characters
  YAML allows in a file; the first other byte or character is reported;
- the nesting depth, while the YAML is composed, before anything recurses deeper;
- aliases, on the composed node graph, before a value is built: how many, none inside the node it
  names (a cycle), and the document with every alias and merge key written out stays within the
  depth and value limits;
- tags (YAML's own plain types only), over-long numbers, and characters written as escapes that a
  file may not hold.

Only then is the tree built, validated and compiled (`mappings.loader`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from mappings.problems import MappingError, Problem, dotted


@dataclass(frozen=True)
class Limits:
    """What a mapping file may hold. The default mapping is 12 KB: 882 values, 11 levels deep."""

    max_bytes: int = 256 * 1024
    max_depth: int = 40  # nodes from the top to the deepest value, aliases written out
    max_aliases: int = 200  # uses of `*name`, merge keys included
    max_values: int = 20_000  # keys and values once every alias is written out
    max_number_length: int = 30  # characters of one number


LIMITS = Limits()

_LINE_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
# The characters YAML allows in a file (YAML 1.2 §5.1, as ruamel.yaml's reader checks them).
_NOT_IN_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CORE = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(_CORE + name for name in ("str", "int", "float", "bool", "null", "merge"))
_COLLECTION_TAGS = frozenset({_CORE + "map", _CORE + "seq"})


def position(text: str, index: int) -> tuple[int, int]:
    """Line and column (1-based, in characters) of `text[index]`."""
    breaks = list(_LINE_BREAK.finditer(text, 0, index))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, index - start + 1


def decode_mapping(data: bytes, source: str, limits: Limits = LIMITS) -> str:
    """A mapping file's bytes as text: at most `limits.max_bytes`, UTF-8 (a BOM is dropped)."""
    if len(data) > limits.max_bytes:
        head = data[: limits.max_bytes].decode("utf-8", "replace")
        line, column = position(head, len(head))
        raise MappingError(
            [
                Problem(
                    source,
                    line,
                    column,
                    f"the file goes on past the size limit of {limits.max_bytes:,} bytes "
                    f"({limits.max_bytes // 1024} KiB) for a mapping file",
                )
            ]
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MappingError(
            [
                Problem(
                    source,
                    1,
                    1,
                    "not UTF-8: the file starts with a UTF-16 (or UTF-32) byte-order mark; "
                    "save it as UTF-8",
                )
            ]
        )
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = body[: exc.start].decode("utf-8")
        line, column = position(head, len(head))
        message = (
            f"not UTF-8: byte 0x{body[exc.start]:02x} ({exc.reason}); mapping files are UTF-8 "
            "(Latin-1 or Windows-1252 text must be saved as UTF-8)"
        )
        raise MappingError([Problem(source, line, column, message)]) from exc


def read_yaml(text: str, source: str, limits: Limits = LIMITS) -> Any:
    """The YAML tree of a mapping's text (None when it holds nothing), within `limits`."""
    _check_characters(text, source)
    yaml = YAML(typ="rt")
    yaml.max_depth = limits.max_depth
    yaml.Composer = _CountingComposer
    composer = yaml.composer
    composer.warn_double_anchors = False  # a reused anchor is valid YAML: the later wins
    composer.max_values = limits.max_values
    try:
        node = yaml.compose(text)
        _check_version(yaml, source)
        if node is None:
            return None
        _Graph(source, limits).measure(node, 1)
        return yaml.constructor.construct_document(node)
    except MaxDepthExceededError as exc:
        line, column = _mark(exc)
        message = f"nested deeper than the limit of {limits.max_depth} levels"
        raise MappingError([Problem(source, line, column, message)]) from exc
    except _TooManyValuesError as exc:
        line, column = _mark(exc)
        message = f"more than the limit of {limits.max_values:,} keys and values"
        raise MappingError([Problem(source, line, column, message)]) from exc
    except MarkedYAMLError as exc:
        line, column = _mark(exc)
        said = str(exc.problem or exc.context)
        if said.startswith("but ") and exc.context:
            said = f"{exc.context}, {said}"
        found = " ".join(said.split())
        message = f"not valid YAML: {found if len(found) <= 200 else found[:199] + '…'}"
        raise MappingError([Problem(source, line, column, message)]) from exc


def _check_version(yaml: YAML, source: str) -> None:
    """Mapping files are YAML 1.2: a `%YAML 1.1` directive would change what values mean."""
    version = yaml.doc_infos[-1].doc_version
    if version is not None and (version.major, version.minor) != (1, 2):
        message = (
            f"a %YAML {version.major}.{version.minor} directive; mapping files are YAML 1.2 "
            "(remove the directive)"
        )
        raise MappingError([Problem(source, 1, 1, message)])


def _mark(exc: MarkedYAMLError) -> tuple[int, int]:
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _check_characters(text: str, source: str) -> None:
    found = _NOT_IN_YAML.search(text)
    if found is None:
        return
    line, column = position(text, found.start())
    code = ord(found.group())
    hint = (
        " (NULs between the letters mean UTF-16: save the file as UTF-8)"
        if code == 0
        else " (a lone surrogate: the text is not Unicode)"
        if 0xD800 <= code <= 0xDFFF
        else ""
    )
    message = f"character U+{code:04X} is not allowed in a mapping file{hint}"
    raise MappingError([Problem(source, line, column, message)])


class _TooManyValuesError(MarkedYAMLError):
    """The file holds more keys and values than the limit (found while composing)."""


class _CountingComposer(Composer):
    """Stops composing at the value that crosses the limit, before the rest is even parsed."""

    max_values = 0
    composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Count each written value (aliases count later, with what they stand for)."""
        if not self.parser.check_event(AliasEvent):
            self.composed += 1
            if self.composed > self.max_values:
                raise _TooManyValuesError(problem_mark=self.parser.peek_event().start_mark)
        return super().compose_node(parent, index)


class _Graph:
    """Walks the composed nodes once; an alias counts with every value it stands for."""

    def __init__(self, source: str, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.measured: dict[int, tuple[int, int]] = {}  # node id -> (values, height)
        self.open: set[int] = set()
        self.path: list[str | int] = []
        self.aliases = 0
        self.values = 0

    def refuse(self, node: Node, message: str) -> MappingError:
        """A problem at a node, with its path from the top of the file."""
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return MappingError([Problem(self.source, line, column, message, None, dotted(self.path))])

    def measure(self, node: Node, depth: int, at: Node | None = None) -> tuple[int, int]:
        """How many values `node` stands for and how deep it goes; `at` is where it is written."""
        key = id(node)
        if key in self.open:
            raise self.refuse(
                at or node, f"alias *{node.anchor} is inside the node it names (a cycle)"
            )
        if key in self.measured:
            return self._alias(node, depth, at or node)
        self.open.add(key)
        self.values += 1
        if self.values > self.limits.max_values:
            raise self.refuse(
                node, f"more than the limit of {self.limits.max_values:,} keys and values"
            )
        if isinstance(node, ScalarNode):
            self._scalar(node)
            values, height = 1, 1
        else:
            if node.tag not in _COLLECTION_TAGS:
                raise self.refuse(node, _tag_message(str(node.tag)))
            values, height = 1, 1
            children = (
                [part for pair in node.value for part in pair]
                if isinstance(node, MappingNode)
                else node.value
            )
            for index, child in enumerate(children):
                if (
                    isinstance(node, MappingNode)
                    and not index % 2
                    and not isinstance(child, ScalarNode)
                ):
                    raise self.refuse(child, "a key is a plain value, not a list or a mapping")
                self.path.append(_label(node, index))
                where = children[index - 1] if isinstance(node, MappingNode) and index % 2 else node
                count, deep = self.measure(child, depth + 1, where)
                self.path.pop()
                values += count
                height = max(height, deep + 1)
        self.open.discard(key)
        self.measured[key] = (values, height)
        return values, height

    def _alias(self, node: Node, depth: int, at: Node) -> tuple[int, int]:
        limits = self.limits
        values, height = self.measured[id(node)]
        self.aliases += 1
        if self.aliases > limits.max_aliases:
            raise self.refuse(at, f"more than the limit of {limits.max_aliases} aliases")
        self.values += values
        if self.values > limits.max_values:
            raise self.refuse(
                at,
                f"alias *{node.anchor} takes the file past the limit of {limits.max_values:,} "
                "keys and values once aliases are written out",
            )
        if depth - 1 + height > limits.max_depth:
            raise self.refuse(
                at,
                f"alias *{node.anchor} nests the file deeper than the limit of "
                f"{limits.max_depth} levels once written out",
            )
        return values, height

    def _scalar(self, node: ScalarNode) -> None:
        if node.tag not in _PLAIN_TAGS:
            raise self.refuse(node, _tag_message(str(node.tag)))
        value = str(node.value)
        numeric = node.tag in (_CORE + "int", _CORE + "float")
        if numeric and len(value) > self.limits.max_number_length:
            raise self.refuse(
                node,
                f"a number longer than the limit of {self.limits.max_number_length} characters",
            )
        found = _NOT_IN_YAML.search(value)
        if found is not None:
            raise self.refuse(
                node,
                f"an escape gives character U+{ord(found.group()):04X}, which a mapping file "
                "may not hold",
            )


def _label(node: Node, index: int) -> str | int:
    """The path step to the `index`-th child: a key's text, or an item's index."""
    if not isinstance(node, MappingNode):
        return index
    return str(node.value[index // 2][0].value)  # keys are scalars (checked before)


def _tag_message(tag: str) -> str:
    if tag == _CORE + "timestamp":
        return (
            "a date is not a value of a mapping file (rules compare with today and day counts); "
            "quote it if it is text"
        )
    shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return f"the YAML tag {shown} is not allowed; mapping files hold plain values only"
