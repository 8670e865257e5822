"""A document's text without parsing it: where a key's one-line value sits (regular expressions by depth, each
compiled once), what string that value reads as, and splices over the text. stream.Document reads and changes its
text through these."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from infgw_postrender.yaml import reader


def same_value(a: Any, b: Any) -> bool:
    """Equal as YAML values: True is not 1, 1 is not 1.0, and key order counts (it is what the text shows). Walked,
    not serialised: it runs on every entry a rewrite emits (issue 33)."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(ka == kb and same_value(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True))
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(b, (dict, list)) or _scalar_kind(a) != _scalar_kind(b):
        return False
    return a == b or (a != a and b != b)  # NaN reads back as NaN


def _scalar_kind(value: Any) -> type:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    return type(value)


def apply_splices(text: str, splices: Iterable[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(splices, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


class LinePattern:
    """A pattern that starts at a line's start (`^` in MULTILINE), searched the fast way: the engine scans for a
    line break, a literal, where `^` would have it try every character (several times faster on a document).
    Its matches name the line's start `line`: match.start("line")."""

    __slots__ = ("_source", "_after_break", "_at_start")

    def __init__(self, source: str) -> None:
        self._source = source
        self._after_break: re.Pattern | None = None  # compiled when first searched: start-up counts (issue 33)
        self._at_start: re.Pattern | None = None

    def search(self, text: str, start: int = 0, end: int | None = None) -> re.Match | None:
        """The first match whose line starts in text[start:end] (at `start` itself when a line starts there)."""
        if self._after_break is None or self._at_start is None:
            self._after_break = re.compile(f"\n(?P<line>{self._source})", re.MULTILINE)
            self._at_start = re.compile(f"(?P<line>{self._source})", re.MULTILINE)
        end = len(text) if end is None else end
        if start == 0 or text[start - 1] == "\n":
            found = self._at_start.match(text, start, end)
            if found is not None:
                return found
        return self._after_break.search(text, start, end)

    def finditer(self, text: str, start: int = 0, end: int | None = None) -> Iterator[re.Match]:
        """Each match in turn, as search() finds it: a line right after a matched line break is found too."""
        while (found := self.search(text, start, end)) is not None:
            yield found
            start = max(found.end(), found.start("line") + 1)


def find_key(text: str, column: int, key: str, rest: re.Pattern, start: int, end: int) -> re.Match | None:
    """The first line in text[start:end] (the line at `start` itself when one starts there) that is `key:` at
    `column`, followed by what `rest` matches: the match of `rest`. A literal find, no pattern per key: keys are
    many, and each compiled pattern costs a start-up (issue 33)."""
    needle = "\n" + " " * column + key + ":"
    size = len(needle)
    if start == 0 and text.startswith(needle[1:], 0, end):  # the first line: no line break before it
        found = rest.match(text, size - 1, end)
        if found is not None:
            return found
        at = text.find(needle, 0, end)
    else:
        at = text.find(needle, start - 1 if start and text[start - 1] == "\n" else start, end)
    while at >= 0:
        found = rest.match(text, at + size, end)
        if found is not None:
            return found
        at = text.find(needle, at + 1, end)
    return None


# A one-line scalar after `key: `: double-quoted without escapes, single-quoted without '', or plain; then at
# most a comment. Whether it reads as that very string is one_line_string()'s to say. A plain one is read a word at
# a time, blanks only before a word that is no comment, possessively: no retry of the line's end after each
# character (twice as fast on an EPP's args, issue 33).
ONE_LINE = r"""(?P<value>"[^"\\\n]*"|'[^'\n]*'|[^\s'"#](?:[^ \t\n]|[ \t]+[^ \t\n#])*+)(?:[ \t]+#.*)?[ \t]*$"""
STYLES = {'"': '"', "'": "'"}
BLOCK_KEY_REST = re.compile(r"[ \t]*(?:#.*)?$", re.MULTILINE)  # `key:` alone: a block under it
SCALAR_KEY_REST = re.compile(rf"[ \t]+{ONE_LINE}", re.MULTILINE)  # `key: value` on one line


@functools.cache
def entry_line(depth: int) -> re.Pattern:
    """A line `key: value` of a block mapping at this depth, the key a plain word."""
    return re.compile(rf"^{'  ' * depth}(?P<key>[A-Za-z_][-A-Za-z0-9_.]*):[ \t]+{ONE_LINE}", re.MULTILINE)


def one_line_string(found: re.Match) -> str | None:
    """The string a matched ONE_LINE value reads as, or None when the reader might read it otherwise."""
    return _reads_as(found.group("value"))


@functools.lru_cache(maxsize=512)  # values recur (flags, `default`, API groups): each judged once (issue 33)
def _reads_as(text: str) -> str | None:
    if text[0] == '"':
        return text[1:-1] if text[1:-1].isprintable() else None
    if text[0] == "'":
        return text[1:-1]
    return reader.plain_string(text) or reader.plain_word(text)


@functools.cache
def block_end(depth: int) -> LinePattern:
    """The first line after a key's block: indented no more than the key, unless it is an item of a sequence
    written at the key's own indentation (`args:` then `- --pool-name`, as charts write lists)."""
    item = r"(?!-(?: |$))"
    if depth == 0:
        return LinePattern(rf"{item}[^ \n#]")
    return LinePattern(rf"(?: {{0,{2 * depth - 1}}}[^ \n#]| {{{2 * depth}}}{item}[^ \n#])")


def keep_ending(text: str, original: str) -> str:
    """A rewritten document ends like the original did, so the next separator stays on its own line."""
    if original.endswith("\n") or not original:
        return text if text.endswith("\n") else text + "\n"
    return text.rstrip("\n")


_NO_SPANS: dict = {}


class Origin:
    """Where the values of a changed copy came from (by the copy's id), for the emitter to keep their form."""

    def __init__(self, spans: dict | None, body: str, originals: dict[int, int]) -> None:
        self._spans = spans or {}
        self._body, self._originals = body, originals

    def style(self, container: Any, key: Any) -> str | None:
        original = self._originals.get(id(container))  # None for what the change made: nothing to look up
        span = self._spans.get(original, _NO_SPANS).get(key) if original is not None else None
        return span.style if span is not None else None

    def flow_text(self, value: Any) -> str | None:
        """The original one-line flow text of an unchanged flow collection."""
        original = self._originals.get(id(value))
        span = self._spans.get(original, _NO_SPANS).get(reader.FLOW) if original is not None else None
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
    deeper = indent + " "
    found: dict[str, tuple[int, int]] = {}
    last = None
    for line in _ANY_CONTENT.finditer(text, start, end):
        if text.startswith(deeper, line.start()):
            continue  # under the entry before it
        entry = _INDENTED.fullmatch(text, line.start(), line.end())
        if entry is None or entry.group(1) != indent or entry.group("key") in found:
            return None
        if last is not None:
            found[last] = (found[last][0], line.start())
        last = entry.group("key")
        found[last] = (line.end(), end)
    return found


def last_line_end(text: str, start: int, end: int) -> int:
    """The end of the last content line of text[start:end] (`start` when there is none)."""
    last = start
    for line in _ANY_CONTENT.finditer(text, start, end):
        last = line.end()
    return last


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
        if not _INLINE.fullmatch(rest):  # compiled once, not looked up in re's cache a line
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
        if not _ANY_CONTENT.search(text, *span):
            continue  # a scalar: nothing under it
        entries = flat_entries(text, *span)
        if entries is None:
            return None  # a mapping written otherwise (an anchor, a nested block): parse it
        if after in entries and key not in entries:
            line_end, indent = entries[after]
            splices.append((line_end, line_end, f"\n{indent}{line}"))
            names.append(name)
    return splices, names


class TextValue(NamedTuple):
    """An entry's value read off the text: a one-line string, a list of them (flow or block), or None (empty).
    `spans` are where each string sits, (start, end, style), for a change to be spliced: one for a string, one
    per item for a block list, None for a flow list (read, never spliced)."""

    value: str | list[str] | None
    spans: list[tuple[int, int, str]] | None


_DASH = re.compile(r"- +(?=[^ \t\n#])")
_ENTRY = re.compile(r"(?P<key>[A-Za-z_][-A-Za-z0-9_.]*):(?=[ \t]|$)", re.MULTILINE)
_INLINE = re.compile(rf"[ \t]+{ONE_LINE}")
_EMPTY = re.compile(r"[ \t]*(?:#.*)?")
_FLOW_LIST = re.compile(r"[ \t]+(?P<flow>\[[^\n#]*\])[ \t]*(?:#.*)?")


def _column(content: str) -> int | None:
    """Where a content line's text starts; None when a tab is part of its indentation (the reader's refusal)."""
    column = len(content) - len(content.lstrip(" "))
    return None if content[column] == "\t" else column


@functools.cache
def _shallow(column: int) -> LinePattern:
    """A content line indented `column` spaces or less (a comment is not content; a tab is, to be refused)."""
    return LinePattern(rf"(?P<indent> {{0,{column}}})[^ \n#]")


def sequence_items(text: str, start: int, end: int) -> list[tuple[int, int, int]] | None:
    """The items of the block sequence whose lines are text[start:end], dashes at one indentation: for each,
    (offset of its content after `- `, end of its lines, that content's column). None when a line at the dashes'
    indentation starts no item with content on its line, or a line is indented less. Only the lines at the
    dashes' indentation are visited; what is under them is read when asked for."""
    first = _ANY_CONTENT.search(text, start, end)
    if first is None:
        return None
    indent = _column(first.group(0))
    if indent is None:
        return None
    items: list[list[int]] = []
    for line in _shallow(indent).finditer(text, first.start(), end):
        at = line.start("line")
        dash = _DASH.match(text, at + indent)
        if len(line.group("indent")) < indent or dash is None:
            return None
        if items:
            items[-1][1] = at
        items.append([dash.end(), end, dash.end() - at])
    return [(first, last, column) for first, last, column in items]


@functools.cache
def _next_key(column: int) -> re.Pattern:
    """The next line indented `column` or less that is not an item of a sequence at that column."""
    return re.compile(
        rf"\n(?: {{0,{column - 1}}}[^ \n#]| {{{column}}}(?!-(?: |$))[^ \n#])" if column else r"\n[^ \n#-]"
    )


TWICE = (-1, -1, -1)  # item_entries() of a key the mapping has twice: what it means is the parser's to say


@functools.cache
def _keys_at(column: int, keys: tuple[str, ...]) -> re.Pattern:
    """A line that is one of `keys` at `column`, then `:` and a space, a tab or the line's end."""
    names = "|".join(map(re.escape, keys))
    return re.compile(rf"\n {{{column}}}(?P<key>{names}):(?=[ \t\n]|$)")


def item_entries(
    text: str, first: int, end: int, column: int, keys: tuple[str, ...]
) -> dict[str, tuple[int, int, int]]:
    """The entries among `keys` of the block mapping that starts at `first` (an item's content, after its dash) at
    `column`, its other lines up to `end`: for each key it has, (offset after `key:`, end of that line, end of the
    lines under it), TWICE for a key it has twice. The keys' lines are found in one pass (a Role's rules ask for
    three keys an item, issue 33). A line at `column` is one of the mapping's keys or an item of a sequence
    written at its key's indentation (`args:` then `- --pool-name`): whatever else is under a key is indented more."""
    found: dict[str, Any] = {}
    for key in keys:  # the item's first line: `- key: ...`
        after = first + len(key) + 1
        if text.startswith(key + ":", first) and text[after : after + 1] in ("", " ", "\t", "\n"):
            found[key] = after
            break
    for line in _keys_at(column, keys).finditer(text, first, end):
        key = line.group("key")
        found[key] = TWICE if key in found else line.end()
    entries = {}
    for key, value_at in found.items():
        if value_at is TWICE:
            entries[key] = TWICE
            continue
        line_end = text.find("\n", value_at, end)
        if line_end < 0:
            entries[key] = (value_at, end, end)
            continue
        following = _next_key(column).search(text, line_end, end)
        entries[key] = (value_at, line_end, following.start() if following else end)
    return entries


def is_mapping_item(text: str, first: int) -> bool:
    """An item's content starts with a key (`- name: epp`), as a block mapping's first line."""
    return _ENTRY.match(text, first) is not None


def entry_value(text: str, value_at: int, line_end: int, under_end: int) -> TextValue | None:
    """The value of an entry item_entries() found, when it is a one-line string, a list of them or empty; else
    None (a nested mapping, a number, a block scalar: parse then)."""
    if line_end < under_end and _ANY_CONTENT.search(text, line_end, under_end):  # lines under it: a block list?
        return scalar_sequence(text, line_end, under_end) if _EMPTY.fullmatch(text, value_at, line_end) else None
    flow = _FLOW_LIST.fullmatch(text, value_at, line_end)
    if flow is not None:
        return _flow_strings(flow.group("flow"))
    inline = _INLINE.fullmatch(text, value_at, line_end)
    if inline is not None:
        value = one_line_string(inline)
        return TextValue(value, [span_of(text, inline)]) if value is not None else None
    return TextValue(None, []) if _EMPTY.fullmatch(text, value_at, line_end) else None


@functools.cache
def _sequence_line(column: int) -> re.Pattern:
    return re.compile(rf"\n {{{column}}}- +{ONE_LINE}", re.MULTILINE)


_BLANK_LINES = re.compile(r"(?:\n[ \t]*(?:#.*)?)*")


def scalar_sequence(text: str, start: int, end: int) -> TextValue | None:
    """A block sequence of one-line strings, text[start:end] (from a line break), one item a line at one
    indentation, blank and comment lines between; else None."""
    first = _CONTENT_AFTER_BREAK.search(text, start, end)
    if first is None:
        return None
    values: list[str] = []
    spans: list[tuple[int, int, str]] = []
    at = first.start()
    for item in _sequence_line(len(first.group("indent"))).finditer(text, at, end):
        if item.start() != at and not _BLANK_LINES.fullmatch(text, at, item.start()):
            return None
        value = one_line_string(item)
        if value is None:
            return None
        values.append(value)
        start, stop = item.span("value")  # span_of(), inline: an EPP has a dozen args (issue 33)
        spans.append((start, stop, STYLES.get(text[start], "plain")))
        at = item.end()
    return TextValue(values, spans) if values and _BLANK_LINES.fullmatch(text, at, end) else None


_CONTENT_AFTER_BREAK = re.compile(r"\n(?P<indent> *)[^ \n#]")


_FLOW_WORD = r"""(?:"[^"\\\n]*"|[A-Za-z/][-A-Za-z0-9./]*)"""
_FLOW_WORDS = re.compile(rf"\[[ \t]*(?:{_FLOW_WORD}[ \t]*(?:,[ \t]*{_FLOW_WORD}[ \t]*)*)?\]")
_FLOW_ITEM = re.compile(r"""(?:"([^"\\\n]*)"|([A-Za-z/][-A-Za-z0-9./]*))""")


def _flow_strings(flow: str) -> TextValue | None:
    """A one-line flow list of strings (`["get", "list"]`, as charts write a Role's rules); None when an item is
    anything else."""
    items = _flow_items(flow)
    return TextValue(list(items), None) if items is not None else None


@functools.lru_cache(maxsize=512)  # the same lists recur (a Role's verbs): each read once (issue 33)
def _flow_items(flow: str) -> tuple[str, ...] | None:
    """Double-quoted items without escapes and plain words are read here, the rest by the reader."""
    if _FLOW_WORDS.fullmatch(flow):
        items = []
        for quoted, word in _FLOW_ITEM.findall(flow):
            if word:
                if word in reader.NOT_STRINGS:  # else a string: _FLOW_WORD is a plain_word() with nothing to strip
                    break
                items.append(word)
            elif quoted.isprintable():
                items.append(quoted)
            else:
                break
        else:
            return tuple(items)
    try:
        parsed = reader.parse_flow(flow)
    except reader.Unsupported:
        return None
    return tuple(parsed) if all(isinstance(item, str) for item in parsed) else None


def span_of(text: str, found: re.Match) -> tuple[int, int, str]:
    """(start, end, style) of a matched ONE_LINE value."""
    return found.start("value"), found.end("value"), STYLES.get(text[found.start("value")], "plain")
