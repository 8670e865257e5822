"""A fast reader for the block-style YAML that Helm charts render, with the position of every scalar.

It reads only a strict subset (block mappings and sequences, plain and quoted one-line scalars, `|`/`|-`
block scalars, one-line flow collections). Anything else raises Unsupported and the caller falls back to
ruamel.yaml, so the subset only has to be right, not complete. The positions let a changed scalar be
spliced into the original text instead of re-emitting the document.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple


class Unsupported(Exception):
    """Outside the subset: parse this document with the full YAML library instead."""


# The key, in a flow collection's spans, of the collection's own text.
FLOW = ...


class Span(NamedTuple):  # a tuple: one is made per scalar, a frozen dataclass is several times slower
    start: int
    end: int
    style: str  # "plain", "'" or '"'


_new_span = tuple.__new__


_KEY = re.compile(
    r"""(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#\-?:,\[\]{}&*!|>%@`][^:#]*?)[ \t]*:(?:[ \t]+|$)"""
)
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# Forms that YAML 1.1/1.2 readers disagree on or that need more than int()/float(): leave them to ruamel.
_DOUBTFUL_NUMBER = re.compile(
    r"[-+]?(?:0[xXoObB][0-9a-fA-F_]*|0[0-9_]+|[0-9][0-9_]*_[0-9_]*|[0-9]+[eE][-+]?[0-9]+|[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)"
    r"|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)|\.(?:nan|NaN|NAN)"
)
_NULLS = {"null", "Null", "NULL", "~"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INDICATORS = set("#&*!|>%@`'\"[]{},?:")
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029", "\ufeff")


# Where YAML 1.1 readers (libyaml, Go's) and 1.2 ones (ruamel.yaml) disagree on where a line ends: text that holds
# one is left to ruamel.yaml, by this reader and by every read off the text.
def has_other_break(text: str, start: int = 0, end: int | None = None) -> bool:
    """One of _OTHER_BREAKS in text[start:end]. An ASCII text (a flag CPython keeps: no scan) can hold only CR,
    found by a memchr: several times faster than a pattern's search, on nearly every document (issue 33)."""
    if text.isascii():
        return text.find("\r", start, len(text) if end is None else end) >= 0
    return _other_break().search(text, start, len(text) if end is None else end) is not None


@functools.cache
def _other_break() -> re.Pattern:
    return re.compile("[" + "".join(_OTHER_BREAKS) + "]")  # compiled when first needed: 0.5 ms at start


_SAFE_PLAIN = re.compile(r"[A-Za-z_/][-A-Za-z0-9._/]*")
_COMMENT = re.compile(r"[ \t]+#")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_FLOW_KEY = re.compile(r"[^,\[\]{}:#]*")
_FLOW_VALUE = re.compile(r"[^,\[\]{}#]*")
# A plain scalar that is the whole rest of its line, with no space in it: no comment, no `: `, nothing to strip.
# Most values charts render look like this: _mapping() reads them without _value()'s general checks.
_SIMPLE_PLAIN = re.compile(r"[^\s#&*!|>%@`'\"\[\]{},?:-]\S*(?<!:)")


class _Lines:
    """The document's lines, with a cursor that skips blank and comment lines unless asked for raw lines."""

    def __init__(self, text: str, base: int = 0) -> None:
        self.raw: list[tuple[int, int, str]] = []  # (offset, indent, line)
        is_content: list[bool] = []
        offset = base
        raw, content = self.raw.append, is_content.append
        # most documents have no tab, directive or document end at all: then no line needs the checks
        suspect = "\t" in text or "%" in text or "..." in text
        for line in text.split("\n"):
            stripped = line.lstrip(" ")
            if suspect and (stripped[:1] == "\t" or line[:1] == "%" or (line[:3] == "..." and line.rstrip() == "...")):
                raise Unsupported("tab, directive or document end")
            raw((offset, len(line) - len(stripped), line))
            content(stripped != "" and stripped[0] != "#")
            offset += len(line) + 1
        # the first content line at or after each line (len(raw) when none): current() is the hot path
        self.count = len(self.raw)
        self.next_content = [self.count] * (self.count + 1)
        for position in range(self.count - 1, -1, -1):
            self.next_content[position] = position if is_content[position] else self.next_content[position + 1]
        self.position = 0
        self.column: int | None = None  # where the current line's content starts, when not at its indent

    def current(self) -> tuple[int, int, str] | None:
        """(offset, column, text) of the current content line, the column moved when inside a `- ` item."""
        position = self.next_content[self.position]
        if position == self.count:
            return None
        if position != self.position:
            self.position, self.column = position, None
        if self.column is None:
            return self.raw[position]
        offset, _, line = self.raw[position]
        return offset, self.column, line

    def advance(self) -> None:
        self.position += 1
        self.column = None


def parse(text: str, base: int = 0) -> tuple[Any, dict[int, dict[Any, Span]]]:
    """The document's value, and for each container (by id) the spans of its scalar children; `base` is where
    `text` starts in a larger one (a document's entry read alone), for spans in that text's positions."""
    if has_other_break(text):
        raise Unsupported("a line break other than LF")
    lines = _Lines(text, base)
    spans: dict[int, dict[Any, Span]] = {}
    if lines.current() is None:
        return None, spans
    value = _node(lines, spans)
    if lines.current() is not None:
        raise Unsupported("content after the top-level node")
    return value, spans


def _node(lines: _Lines, spans: dict) -> Any:
    current = lines.current()
    if current is None:
        raise Unsupported("a node expected, and the document ended")
    offset, column, line = current
    content = line[column:]
    if content == "-" or content.startswith("- "):
        return _sequence(lines, column, spans)
    if _KEY.match(content):
        return _mapping(lines, column, spans)
    raise Unsupported("a scalar on its own line")


def _mapping(lines: _Lines, indent: int, spans: dict) -> dict:
    result: dict = {}
    own: dict[Any, Span] = {}
    spans[id(result)] = own
    current = lines.current()
    while current is not None:
        offset, column, line = current
        if column < indent:
            break
        if column > indent:
            raise Unsupported("unexpected indentation")
        if line.startswith("- ", column) or line.endswith("-") and len(line) == column + 1:
            break
        found = _KEY.match(line, column)
        if not found:
            raise Unsupported("not a key")
        key = found.group("key")
        if key[0] in "'\"":
            key = _key(key)
        if key in result:
            raise Unsupported("duplicate key")
        rest_at = found.end()
        lines.advance()
        if _SIMPLE_PLAIN.fullmatch(line, rest_at):
            current = _no_continuation(lines, indent)  # read once: the next entry's line
            own[key] = _new_span(Span, (offset + rest_at, offset + len(line), "plain"))  # no Python __new__ a scalar
            result[key] = _resolve(line[rest_at:])
            continue
        result[key] = _value(lines, indent, line[rest_at:], offset + rest_at, own, key, spans, in_sequence=False)
        current = lines.current()
    return result


def _sequence(lines: _Lines, indent: int, spans: dict) -> list:
    result: list = []
    own: dict[Any, Span] = {}
    spans[id(result)] = own
    while (current := lines.current()) is not None:
        offset, column, line = current
        if column != indent:
            if column > indent:
                raise Unsupported("unexpected indentation")
            break
        content = line[column:]
        if not (content == "-" or content.startswith("- ")):
            break
        after = content[1:]
        inner = column + 1 + (len(after) - len(after.lstrip(" ")))
        rest = line[inner:]
        if rest and not rest.startswith("#") and _KEY.match(rest):
            lines.column = inner  # `- key: value`: a mapping that starts on this line
            result.append(_mapping(lines, inner, spans))
            continue
        if rest.startswith("- ") or rest == "-":
            raise Unsupported("nested sequence on one line")
        lines.advance()
        result.append(_value(lines, indent, rest, offset + inner, own, len(result), spans, in_sequence=True))
    return result


def _value(lines: _Lines, indent: int, rest: str, at: int, own: dict, key: Any, spans: dict, in_sequence: bool) -> Any:
    """The value after `key:` or `- ` (`rest`, starting at offset `at`), and any nested block below it."""
    if rest == "" or rest.startswith("#"):
        following = lines.current()
        if following is None:
            return None
        if following[1] > indent:
            return _node(lines, spans)
        content = following[2][following[1] :]
        if not in_sequence and following[1] == indent and (content == "-" or content.startswith("- ")):
            return _sequence(lines, indent, spans)
        return None
    first = rest[0]
    if first in "|>":
        return _block_scalar(lines, indent, rest)
    if first in "[{":
        value, end = _flow(rest, 0)
        if rest[end:].strip() and not rest[end:].lstrip().startswith("#"):
            raise Unsupported("text after a flow collection")
        _no_continuation(lines, indent)
        spans[id(value)] = {FLOW: Span(at, at + end, "flow")}  # its text, for an emitter that keeps it
        return value
    if first in "'\"":
        value, end = _quoted(rest)
        tail = rest[end:]
        if tail.strip() and not _COMMENT.match(tail):
            raise Unsupported("text after a quoted scalar")
        own[key] = Span(at, at + end, first)
        _no_continuation(lines, indent)
        return value
    if first in _INDICATORS or (first == "-" and rest[1:2] in ("", " ")):
        raise Unsupported("indicator")
    comment = _COMMENT.search(rest)
    text = (rest[: comment.start()] if comment else rest).rstrip(" \t")
    if ": " in text or text.endswith(":") or " #" in text:
        raise Unsupported("plain scalar with ': '")
    own[key] = Span(at, at + len(text), "plain")
    _no_continuation(lines, indent)
    return _resolve(text)


def _no_continuation(lines: _Lines, indent: int) -> tuple[int, int, str] | None:
    """The next content line, refused when it goes on with the scalar just read (indented more than its key)."""
    following = lines.current()
    if following is not None and following[1] > indent:
        raise Unsupported("multi-line scalar")
    return following


def _block_scalar(lines: _Lines, indent: int, header: str) -> str:
    """`|` (keep one final newline) or `|-` (none); other block scalar forms go to the full parser."""
    chomp = header.split("#", 1)[0].strip()
    if chomp not in ("|", "|-") or (header.strip() != chomp and not re.match(r"\|-?[ \t]+#", header)):
        raise Unsupported("folded or indented block scalar")
    body: list[str] = []
    block_indent = None
    while lines.position < len(lines.raw):
        offset, line_indent, line = lines.raw[lines.position]
        if line.strip() == "":
            body.append("")
        elif line_indent > indent and (block_indent is None or line_indent >= block_indent):
            block_indent = block_indent or line_indent
            body.append(line[block_indent:])
        elif line_indent > indent:
            raise Unsupported("block scalar indentation")
        else:
            break
        lines.position += 1
    while body and body[-1] == "":
        body.pop()
        lines.position -= 1  # trailing blank lines belong to what follows
    text = "\n".join(body)
    return text + "\n" if chomp == "|" and body else text


def top_key(line: str) -> tuple[str, str] | None:
    """(key, the key as written) of a line `key: ...` at column 0, or None."""
    found = _KEY.match(line)
    if not found:
        return None
    written = found.group("key")
    return _key(written), written


def parse_flow(text: str) -> Any:
    """The value of a one-line flow collection, as parse() reads it."""
    return _flow(text, 0)[0]


def _key(text: str) -> str:
    if text[0] in "'\"":
        value, end = _quoted(text)
        return value
    return text


def _quoted(text: str) -> tuple[str, int]:
    quote = text[0]
    if quote == "'":
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:
                raise Unsupported("unterminated quote")
            if text[end + 1 : end + 2] == "'":
                end += 2
                continue
            return text[1:end].replace("''", "'"), end + 1
    found = _DOUBLE_QUOTED.match(text)
    if not found:
        raise Unsupported("unterminated quote")
    if "\\" not in found.group(1) and found.group(1).isprintable():
        return found.group(1), found.end()  # nothing to unescape
    if _SURROGATE_ESCAPE.search(found.group(1)):
        raise Unsupported("surrogate escape")  # JSON pairs them, YAML does not
    import json  # here, for the few strings with escapes: its import costs every start 1 ms (issue 33)

    try:
        return json.loads(found.group(0)), found.end()
    except ValueError:
        raise Unsupported("escape outside JSON's") from None


def _flow(text: str, at: int) -> tuple[Any, int]:
    """A one-line flow collection starting at text[at] (`[` or `{`): (value, index after it)."""
    opening = text[at]
    closing = "]" if opening == "[" else "}"
    result: Any = [] if opening == "[" else {}
    at += 1
    while True:
        at = _skip_spaces(text, at)
        if at >= len(text):
            raise Unsupported("flow collection over several lines")
        if text[at] == closing:
            return result, at + 1
        if opening == "{":
            key, at = _flow_scalar(text, at, key=True)
            at = _skip_spaces(text, at)
            if text[at : at + 1] != ":":
                raise Unsupported("flow mapping without ':'")
            value, at = _flow_item(text, _skip_spaces(text, at + 1))
            if key in result:
                raise Unsupported("duplicate key")
            result[key] = value
        else:
            value, at = _flow_item(text, at)
            result.append(value)
        at = _skip_spaces(text, at)
        if text[at : at + 1] == ",":
            at += 1
        elif text[at : at + 1] != closing:
            raise Unsupported("flow collection syntax")


def _flow_item(text: str, at: int) -> tuple[Any, int]:
    if text[at : at + 1] in ("[", "{"):
        return _flow(text, at)
    return _flow_scalar(text, at, key=False)


def _flow_scalar(text: str, at: int, key: bool) -> tuple[Any, int]:
    if text[at : at + 1] in ("'", '"'):
        value, length = _quoted(text[at:])
        return value, at + length
    found = (_FLOW_KEY if key else _FLOW_VALUE).match(text, at)
    plain = found.group(0).rstrip() if found else ""  # both patterns match the empty string: never None
    if not plain or plain[0] in _INDICATORS or ": " in plain or plain.endswith(":"):
        raise Unsupported("flow scalar")
    value = plain if key else _resolve(plain)
    return value, at + len(plain)


def _skip_spaces(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t":
        at += 1
    return at


def _resolve(text: str) -> Any:
    """Plain scalar -> value, as YAML 1.2's core schema does; anything doubtful is Unsupported."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text[:1].isalpha():  # no number starts with a letter
        return text
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _DOUBTFUL_NUMBER.fullmatch(text):
        raise Unsupported("number in a form readers disagree on")
    return text


# YAML 1.1's other booleans. Helm and kubectl read YAML with sigs.k8s.io/yaml, whose goyaml.v2 fork resolves these
# plain words to true and false (vendor/sigs.k8s.io/yaml/goyaml.v2/resolve.go in kubernetes/kubernetes): a
# string written so would reach the API server as a bool.
_YAML11_BOOLS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"}


# The words some reader takes for a bool or null: no string may be written so, plain.
NOT_STRINGS = frozenset(_YAML11_BOOLS | set(_BOOLS) | _NULLS)


def plain_string(text: str) -> str | None:
    """The plain scalar `text` when every reader Kubernetes users run reads it as that same string (not a
    number, bool or null, YAML 1.1's yes/no/on/off included; no indicator). _SAFE_PLAIN's first character is
    one no number starts with, so only the words are left to rule out."""
    return text if text not in NOT_STRINGS and _SAFE_PLAIN.fullmatch(text) else None


# A word: a letter or `/` first (or a flag's dashes, then a letter), then nothing a reader stops at.
_WORD = re.compile(r"(?:--?)?[A-Za-z/][^\s#,\[\]{}'\"]*")


def plain_word(text: str) -> str | None:
    """A one-line plain scalar read as a string, wider than plain_string() (an image `registry/epp:v1.0.0`, a flag
    `--pool-name`): no number, timestamp or null starts with a letter or `/`, so it is a string to YAML 1.1 and
    1.2 readers alike, unless it is one of their words (true, yes, null...)."""
    if text in NOT_STRINGS or text.endswith(":") or not _WORD.fullmatch(text):
        return None
    return text
