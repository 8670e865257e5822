"""A document's text without parsing it: where a key's one-line value sits (regular expressions by depth, each
compiled once), what string that value reads as, and splices over the text. stream.Document reads and changes its
text through these."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from infgw_postrender.yaml import reader


def same_value(a: Any, b: Any) -> bool:
    """Equal as YAML values: True is not 1, and key order counts (it is what the text shows)."""
    return json.dumps(a, default=repr) == json.dumps(b, default=repr)


def apply_splices(text: str, splices: Iterable[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(splices, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


@functools.cache
def block_key(depth: int, key: str) -> re.Pattern:
    return re.compile(rf"^{'  ' * depth}{re.escape(key)}:[ \t]*(?:#.*)?$", re.MULTILINE)


# A one-line scalar after `key: `: double-quoted without escapes, single-quoted without '', or plain; then at
# most a comment. Whether it reads as that very string is one_line_string()'s to say.
ONE_LINE = r"""(?P<value>"[^"\\\n]*"|'[^'\n]*'|[^\s'"#][^\n]*?)(?:[ \t]+#.*)?[ \t]*$"""
STYLES = {'"': '"', "'": "'"}


@functools.cache
def scalar_key(depth: int, key: str) -> re.Pattern:
    return re.compile(rf"^{'  ' * depth}{re.escape(key)}:[ \t]+{ONE_LINE}", re.MULTILINE)


@functools.cache
def entry_line(depth: int) -> re.Pattern:
    """A line `key: value` of a block mapping at this depth, the key a plain word."""
    return re.compile(rf"^{'  ' * depth}(?P<key>[A-Za-z_][-A-Za-z0-9_.]*):[ \t]+{ONE_LINE}", re.MULTILINE)


def one_line_string(found: re.Match) -> str | None:
    """The string a matched ONE_LINE value reads as, or None when the reader might read it otherwise."""
    text = found.group("value")
    if text[0] == '"':
        return text[1:-1] if text[1:-1].isprintable() else None
    if text[0] == "'":
        return text[1:-1]
    return reader.plain_string(text)


@functools.cache
def block_end(depth: int) -> re.Pattern:
    return re.compile(rf"^ {{0,{2 * depth}}}[^ \n#]", re.MULTILINE)


def keep_ending(text: str, original: str) -> str:
    """A rewritten document ends like the original did, so the next separator stays on its own line."""
    if original.endswith("\n") or not original:
        return text if text.endswith("\n") else text + "\n"
    return text.rstrip("\n")


class Origin:
    """Where the values of a changed copy came from (by the copy's id), for the emitter to keep their form."""

    def __init__(self, spans: dict | None, body: str, originals: dict[int, int]) -> None:
        self._spans = spans or {}
        self._body, self._originals = body, originals

    def style(self, container: Any, key: Any) -> str | None:
        span = self._spans.get(self._originals.get(id(container)), {}).get(key)
        return span.style if span is not None else None

    def flow_text(self, value: Any) -> str | None:
        """The original one-line flow text of an unchanged flow collection."""
        span = self._spans.get(self._originals.get(id(value)), {}).get(reader.FLOW)
        if span is None:
            return None
        text = self._body[span.start : span.end]
        return text if same_value(reader.parse_flow(text), value) else None


def assign(path: tuple, value: Any, obj: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


def drop_spans(spans: dict, value: Any) -> None:
    """Forget the positions of a replaced value's containers: their ids may be reused by new objects."""
    if isinstance(value, (dict, list)):
        spans.pop(id(value), None)
        for item in value.values() if isinstance(value, dict) else value:
            drop_spans(spans, item)


def expanded_size(node: Any, sizes: dict[int, int], limit: int) -> int:
    """Nodes after expanding every alias: each node's size is counted once and reused (linear in the graph)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a cycle counts once
    value = node.value
    children = (
        [] if isinstance(value, str) else [n for pair in value for n in (pair if isinstance(pair, tuple) else (pair,))]
    )
    size = 1
    for child in children:
        size += expanded_size(child, sizes, limit)
        if size > limit:
            break
    sizes[id(node)] = size
    return size


_INDENTED = re.compile(r"^( +)(?P<key>[A-Za-z_][-A-Za-z0-9_.]*):(?P<rest>.*)$", re.MULTILINE)
_ANY_CONTENT = re.compile(r"^(?! *(?:#|$)).*$", re.MULTILINE)


def block_children(text: str, start: int, end: int, depth: int) -> dict[str, tuple[int, int]] | None:
    """The entries at `depth` (two spaces a level) of a block mapping's lines text[start:end], by key: the span of
    the lines under each; None when a line at that depth is anything else (a list, a scalar, a comment is fine)."""
    indent = "  " * depth
    found: dict[str, tuple[int, int]] = {}
    last = None
    for line in _ANY_CONTENT.finditer(text, start, end):
        content = line.group(0)
        if len(content) - len(content.lstrip(" ")) > len(indent):
            continue  # under the entry before it
        entry = _INDENTED.fullmatch(content)
        if entry is None or entry.group(1) != indent or entry.group("key") in found:
            return None
        if last is not None:
            found[last] = (found[last][0], line.start())
        last = entry.group("key")
        found[last] = (line.end(), end)
    return found


def flat_entries(text: str, start: int, end: int) -> dict[str, tuple[int, str]] | None:
    """A block mapping of one-line scalars whose lines are text[start:end], all at one indentation (whatever it
    is): each key's (end of its line, the indentation); None when it is not written so."""
    found: dict[str, tuple[int, str]] = {}
    indent = None
    for line in _ANY_CONTENT.finditer(text, start, end):
        entry = _INDENTED.fullmatch(line.group(0))
        rest = entry.group("rest") if entry else ""
        if entry is None or (indent is not None and entry.group(1) != indent) or entry.group("key") in found:
            return None
        if not re.fullmatch(r"[ \t]+" + ONE_LINE, rest):
            return None  # an empty value (a block under it), a flow collection over lines, a block scalar
        indent = entry.group(1)
        found[entry.group("key")] = (line.end(), indent)
    return found or None


def add_beside(text: str, block: tuple[int, int], depth: int, after: str, line: str, key: str):
    """(the insertions, the names of the mappings that get them) for Document.add_beside, or None."""
    children = block_children(text, *block, depth)
    if children is None:
        return None
    splices, names = [], []
    for name, span in children.items():
        entries = flat_entries(text, *span) if span[0] < span[1] else None
        if entries is not None and after in entries and key not in entries:
            line_end, indent = entries[after]
            splices.append((line_end, line_end, f"\n{indent}{line}"))
            names.append(name)
    return splices, names
