"""The manifest stream as documents of text. A document is parsed only when something may change it, and written
back as its original text unless it was changed. Every change is a splice over that text: a changed scalar its new
text, a structural change the top-level entries it touched, emitted again (ruamel.yaml's round trip only for what
the fast reader cannot read)."""

from __future__ import annotations

import functools
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender import textual
from infgw_postrender.yaml import emitter, reader
from infgw_postrender.yaml.reader import NOT_STRINGS
from infgw_postrender.yaml.roundtrip import dump_document, load_document, load_errors, one_line, quiet

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
# A separator line whose line break has come. Its own break is left unmatched (a lookahead), to be the break the
# next separator line follows: a literal the engine scans for, where `^` would have it try every character.
_SEPARATOR_LINE = re.compile(r"(?P<line>---[ \t]*(?:#[^\n]*)?)(?=\n)")
_SEPARATOR_AFTER_BREAK = re.compile(r"\n(?P<line>---[ \t]*(?:#[^\n]*)?)(?=\n)")
_SOURCE = textual.LinePattern(r"# Source: (?P<source>.+?)[ \t]*$")
_TOP_KEY = textual.LinePattern(r"(?P<key>apiVersion|kind):[ \t]*['\"]?(?P<value>[^'\"#\s]+)['\"]?[ \t]*(?:#.*)?$")
# A document's first lines as charts render them: comments, apiVersion and kind (a word), then metadata's name (a
# word), maybe its namespace, each value alone on its line (the next line indented no more), then the rest of metadata.
_WORD_LINE = r"[ \t]+(?P<{}>[a-z][-a-z0-9.]*)[ \t]*\n"
# No CR; the other line breaks reader.has_other_break() finds are not ASCII, looked for after a match (identify):
# a class of them cost this pattern 1.5 ms to compile, at every start (issue 33).
_IN_LINE = "[^\n\r]"
_HEAD = re.compile(
    rf"(?:[ \t]*(?:#{_IN_LINE}*)?\n)*"
    rf"(?:apiVersion:{_IN_LINE}*\nkind:[ \t]*(?P<kind>[A-Z][A-Za-z0-9]*)[ \t]*\n"
    rf"|kind:[ \t]*(?P<kind_first>[A-Z][A-Za-z0-9]*)[ \t]*\napiVersion:{_IN_LINE}*\n)"
    rf"metadata:[ \t]*\n  name:{_WORD_LINE.format('name')}(?:  namespace:{_WORD_LINE.format('namespace')})?"
    r"(?=  [^ \n]|[^ \n]|\Z)"
    rf"(?P<rest>(?:[ \t#]{_IN_LINE}*(?:\n|\Z)|\n)*)"  # the rest of metadata: a namespace may be there
    r"(?=[^ \t#\n\r]|\Z)"  # then a top-level line, or the end
)
_NOT_READ = "not read off the text"  # Document._block's mark of a body whose text paths are closed
_CONTENT = textual.LinePattern(r"[ \t]*[^#\s]")
_CONTENT_INDENT = textual.LinePattern(r"(?P<indent> *)[^ \n#]")
_CONTENT_LINE = re.compile(r"^ *[^ \n#].*$", re.MULTILINE)
_BLOCK_SCALAR = re.compile(r"(?:^|[:-])[ \t]+[|>]", re.MULTILINE)
# What rewrite() asks of the lines outside the entries it reads in a document not parsed: plain enough that none
# opens a quoted or flow scalar that could run on to a line at column 0 (a hidden `spec:`), and each top-level line
# a key, a comment or an item of the list above it
_PLAIN_VALUE = r"""(?:"[^"\\\n]*"|'[^'\n]*'|[^\s"'#\[\]{}&*!%@`][^\n"'#\[\]{}]*)"""
_AFTER_VALUE = r"[ \t]*(?:#[^\n]*)?"
_PLAIN_LINE = (
    rf" *(?:#[^\n]*)?"  # blank, or a comment
    rf"| *(?:- +)*[^\s\"'#\[\]{{}},&*!|>%@`?:-][^\s:\"'#\[\]{{}},]*:(?:[ \t]+{_PLAIN_VALUE}?)?{_AFTER_VALUE}"  # key
    rf"| *(?:- +)+{_PLAIN_VALUE}?{_AFTER_VALUE}| *-"  # an item
    rf"| +{_PLAIN_VALUE}{_AFTER_VALUE}"  # a plain scalar's next line, indented
)


@functools.cache
def _plain_lines() -> re.Pattern:
    """Lines that are each _PLAIN_LINE: compiled when first needed (0.6 ms, at every start otherwise)."""
    return re.compile(rf"(?:{_PLAIN_LINE})(?:\n(?:{_PLAIN_LINE}))*")


Path = tuple  # keys and list indexes from the document's root
_NAME = ("metadata", "name")
T = TypeVar("T")

# Larger than any object the API server stores (etcd keeps at most 1.5 MiB per object): a document this big that
# must be parsed is refused rather than round-tripped for minutes.
MAX_PARSED_BYTES = 3 * 1024 * 1024
# What a document's aliases may expand to. Real objects have a few thousand nodes; an alias bomb has billions.
MAX_EXPANDED_NODES = 100_000
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s,\[\]{}]+", re.MULTILINE)
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\[\]{}]+", re.MULTILINE)


# _Read and Document are plain classes, not dataclasses: creating those costs every start half a millisecond each,
# and one is itself (identity, not field-by-field equality).
class _Read:
    """What was read from a document's text: its value and where each scalar of it sits in that text."""

    __slots__ = ("data", "spans", "replaced")

    def __init__(self, data: Any, spans: dict | None) -> None:
        self.data = data
        self.spans = spans  # None when ruamel.yaml read it (outside the fast reader's subset): no positions
        # top-level entries whose new text waits as a splice: their values have no positions (nor quoting) to go by
        self.replaced: set = set()


class Document:
    """One document of the stream: its separator line and its body.

    Its state is kept apart by what it is: `_read` is what was read from the text (dropped by forget(), read again
    on demand); `_splices` are edits to the text not yet applied; `_tree` is ruamel.yaml's round-trip tree once a
    change needed it, the document's truth until settle() emits it."""

    __slots__ = (
        "index", "separator", "body", "line", "kind", "name", "namespace",
        "_read", "_splices", "_tree", "_blocks", "_name_at",
    )  # fmt: skip

    def __init__(self, index: int, separator: str, body: str, line: int = 1) -> None:
        self.index, self.separator = index, separator
        self.body = body  # its own text: a change makes a new one
        self.line = line  # the body's first line in the stream, for messages
        self.kind = ""  # kind, name and namespace once identify() has read them
        self.name: str | None = None
        self.namespace: str | None = None
        self._read: _Read | None = None
        self._splices: list | None = None  # None, not [], saves a list per document
        self._tree: Any = None
        self._blocks: dict | None = None  # _block()'s paths found in this body
        self._name_at = -1  # where identify() read metadata.name in this body (-1: not so)

    def __repr__(self) -> str:
        return f"Document(index={self.index}, kind={self.kind!r}, name={self.name!r}, namespace={self.namespace!r})"

    @property
    def too_big_to_parse(self) -> bool:
        return len(self.body) > MAX_PARSED_BYTES

    def contains(self, text: str) -> bool:
        return text in self.body

    @property
    def source(self) -> str | None:
        found = _SOURCE.search(self.body)
        return found.group("source") if found else None

    @property
    def is_empty(self) -> bool:
        return not _CONTENT.search(self.body)

    def header(self) -> tuple[str, str]:
        """(apiVersion, kind) read from the text without parsing; falls back to parsing when in doubt."""
        found: dict[str, str] = {match.group("key"): match.group("value") for match in _TOP_KEY.finditer(self.body)}
        if "apiVersion" in found and "kind" in found:
            return found["apiVersion"], found["kind"]
        data = self.data
        return data["apiVersion"], data["kind"]

    def identify(self) -> bool:
        """Set kind, name and namespace, from the text when it is plain block YAML, else from parsing. False,
        and nothing set, when the document is empty (comments at most)."""
        # a few kinds, thousands of documents; str(): ruamel's string subclasses cannot be interned
        body = self.body
        head = _HEAD.match(body)
        if head is not None and not body.isascii() and reader.has_other_break(body, 0, head.end() + 1):
            head = None  # a line break a YAML 1.1 reader sees and ruamel.yaml does not: parsed
        name: Any
        namespace: Any
        name, namespace, kind, kind_first = (
            head.group("name", "namespace", "kind", "kind_first") if head else (None,) * 4
        )
        if head is not None and name not in NOT_STRINGS and namespace not in NOT_STRINGS:
            # the layout charts render, read in one match; a namespace further down metadata is read off its line
            end = head.end()
            later = namespace is None and body.find("\n  namespace:", head.start("rest") - 1, end) >= 0
            found = self._locate(("metadata", "namespace")) if later else None
            if not later or found is not None:
                kind = str(kind or kind_first)  # unless a later line says it again
                self.kind = sys.intern(kind if body.find("\nkind:", end - 1) < 0 else self.header()[1])
                namespace = found[2] if found else namespace
                # interned: a release's EPP objects share one name (memory: 0.4 MB for a thousand releases)
                self.name, self.namespace = sys.intern(name), namespace and sys.intern(namespace)
                self._name_at = head.start("name")
                return True
        if self.is_empty:
            return False
        self.kind = sys.intern(str(self.header()[1]))
        found, namespace_found = self._locate(("metadata", "name")), self._locate(("metadata", "namespace"))
        if found is not None and (namespace_found is not None or not self._has_namespace()):
            name, namespace = found[2], namespace_found[2] if namespace_found else None
        elif self.too_big_to_parse:
            name = namespace = None  # too big to parse for its name: passed through unless something must change it
        else:
            metadata = self.data.get("metadata") or {}
            name, namespace = metadata.get("name"), metadata.get("namespace")
            for field_name, value in (("name", name), ("namespace", namespace)):
                if value is not None and not isinstance(value, str):
                    raise InputError(
                        f"{where(self.index, self.source)}: metadata.{field_name} is {value!r}, not a string; quote it"
                    )
        self.name, self.namespace = name, sys.intern(str(namespace)) if isinstance(namespace, str) else namespace
        return True

    def _has_namespace(self) -> bool:
        """A metadata.namespace line, whatever its value (one the text does not say plainly is parsed)."""
        block = self._block(("metadata",))
        return block is not None and self.body.find("\n  namespace:", block[0], block[1]) >= 0

    def check_aliases(self) -> None:
        """Refuse an alias bomb (anchors whose aliases expand without bound), counted without expanding it."""
        if not (self.contains("&") and self.contains("*")):
            return
        if not (_ANCHOR.search(self.body) and _ALIAS.search(self.body)):
            return
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            with quiet():
                node = YAML(typ="safe", pure=True).compose(self.body)
        except YAMLError:
            return  # malformed: reported where the document is parsed, or passed through for Helm to report
        if node is not None and textual.expanded_size(node, {}, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise InputError(
                f"{where(self.index, self.source)}: its aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                "(an alias bomb?); no Kubernetes object needs that"
            )

    def peek(self, *keys: str) -> str | None:
        """The one-line string at a path of block-mapping keys, read off the text without parsing when the
        document has the two-space block layout charts render. None when not found that way: parse then."""
        found = self._locate(keys)
        return found[2] if found else None

    def peek_mapping(self, *keys: str) -> dict[str, str] | None:
        """The block mapping at a path of keys when every entry of it is a one-line string, read off the text as
        peek() reads one (a GKE policy's targetRef, say). None when it is not written so: parse then."""
        found = self.peek_entries(*keys)
        return {key: value for key, (value, _) in found.items()} if found is not None else None

    def peek_entries(self, *keys: str) -> dict[str, tuple[str, tuple[int, int, str]]] | None:
        """peek_mapping() with where each string sits, (start, end, style), for replace()."""
        block = self._block(keys)
        if block is None or not self._untouched(*block):
            return None
        text, (start, end), entry_line = self.body, block, textual.entry_line(len(keys))
        found: dict[str, tuple[str, tuple[int, int, str]]] = {}
        for line in _CONTENT_LINE.finditer(text, start, end):
            entry = entry_line.fullmatch(text, line.start(), line.end())
            value = textual.one_line_string(entry) if entry else None
            if entry is None or value is None or entry.group("key") in found:
                return None
            found[entry.group("key")] = value, textual.span_of(text, entry)
        return found or None

    def add_beside(self, keys: tuple[str, ...], after: str, key: str, value: str) -> list[str] | None:
        """In each block mapping of one-line scalars under the mapping at `keys` that has `after` and not `key`,
        add `key: value` (a plain scalar) on the line after `after`'s, at its indentation: a splice of the text,
        no parse. The names of those mappings; None when the text is not laid out so (parse then)."""
        block = self._block(keys)
        if block is None or not self._untouched(*block):
            return None
        # what is added depends on the block's text alone: a health check, the same in every release of a chart
        found = _by_block_text(
            _ADDED_BESIDE,
            (len(keys), after, key, value),
            self.body,
            block,
            lambda: textual.add_beside(self.body, block, len(keys), after, f"{key}: {value}", key),
            _moved_splices,
        )
        if found is None:
            return None
        if found[0]:
            self._splices = (self._splices or []) + found[0]
        return found[1]

    def peek_items(self, keys: tuple[str, ...], fields: tuple[str, ...]) -> list[dict[str, Any]] | None:
        """The block sequence of mappings at a path of keys (a Deployment's containers, a Role's rules), read off
        the text: for each item, those of `fields` it has, a TextValue where the value is a one-line string, a list
        of them or empty, None where it is anything else (parse for that). None when the sequence is not written
        so, when the document was parsed already (read its data then), or when a change waits inside it.

        What is read depends on the block's text alone (every position in it is read from its start): a block
        read before (a Role's rules, the same in every release of a chart) is not read again (issue 33)."""
        block = self._block(keys) if self._read is None else None
        if block is None or not self._untouched(*block):
            return None
        return _by_block_text(_ITEMS_READ, fields, self.body, block, lambda: self._read_items(*block, fields), _moved)

    def _read_items(self, start: int, end: int, fields: tuple[str, ...]) -> list[dict[str, Any]] | None:
        body = self.body
        items = textual.sequence_items(body, start, end)
        if items is None:
            return None
        found = []
        for first, last, column in items:
            if not textual.is_mapping_item(body, first):
                return None
            found.append(
                {
                    key: None if entry is textual.TWICE else textual.entry_value(body, *entry)
                    for key, entry in textual.item_entries(body, first, last, column, fields).items()
                }
            )
        return found

    def replace(self, span: tuple[int, int, str], old: str, new: str) -> bool:
        """Splice `new` over the string `old` that peek_items() found at `span`, in its style; True if it changed."""
        if old == new:
            return False
        start, end, style = span
        quote = "" if style == "plain" else style
        if not self._untouched(start, end) or self.body[start:end] != quote + old + quote:
            # a rewrite's own mistake: a value changed twice, or positions read before the body was rewritten
            raise ValueError(f"{where(self.index, self.source)}: {old!r} is no longer at {start}")
        self._splices = (self._splices or []) + [(start, end, emitter.scalar_text(new, style))]
        return True

    def setter(self, at: Path) -> Callable[[Any, str], bool]:
        """`setter(key, value)`: set() of a child of the parsed path `at` (an arg by its position, a key)."""
        return lambda key, value: self.set(at + (key,), value)

    def replacer(self, found: Any) -> Callable[[Any, str], bool]:
        """`replacer(key, new)`: replace() of what a read off the text found, `found[key]` its (value, span) (a
        list by position, a mapping by key)."""
        return lambda key, new: self.replace(found[key][1], found[key][0], new)

    def add_entry(self, keys: tuple[str, ...], value: str) -> bool | None:
        """`keys[-1]: value` (a string) in the block mapping at keys[:-1], made under keys[:-2] when there is none
        (an annotation where a chart renders no annotations): a splice after that mapping's last line, no parse.
        False when the key is there already; None when the text is not laid out so (parse then). A parsed
        document is read again after it (its data would no longer say what the text does)."""
        *outer, parent, key = keys
        if self._read is not None and outer[0] in self._read.replaced:
            return None  # the entry's text waits to be replaced: the body no longer says what it holds
        block = self._block(tuple(outer))
        if block is None or any(
            start == end and block[0] <= start <= block[1] for start, end, _ in self._splices or ()
        ):
            return None  # not found, or a line added there already that the body does not show yet
        depth = len(outer)
        children = textual.block_children(self.body, *block, depth)
        if children is None:
            return None
        line = f"{emitter.scalar_text(key, 'plain')}: {emitter.scalar_text(value, 'plain')}"
        if parent in children:
            under = children[parent]
            entries = textual.flat_entries(self.body, *under) if under[0] < under[1] else None
            if entries is None:
                return None
            if key in entries:
                return False
            at, indent = max(entries.values())
            insertion = f"\n{indent}{line}"
        else:
            at = textual.last_line_end(self.body, *block)
            insertion = f"\n{'  ' * depth}{parent}:\n{'  ' * (depth + 1)}{line}"
        if any(start < at < end for start, end, _ in self._splices or ()):
            return None
        self._splices = (self._splices or []) + [(at, at, insertion)]
        self._read = None
        return True

    def _block(self, keys: tuple) -> tuple[int, int] | None:
        """(start, end) of the lines under the block-mapping path `keys`, found by indentation alone; None once
        the text no longer holds the values (a round-tripped tree is emitted only at settle()). Each path is found
        once while the body stays the same (splices wait beside it): several rewrites read one document."""
        if self._tree is not None:
            return None
        if self._blocks is None:  # first read off this body: one with a line break other than LF is parsed
            self._blocks = {_NOT_READ: None} if reader.has_other_break(self.body) else {}
        blocks = self._blocks
        if _NOT_READ in blocks:
            return None
        if keys in blocks:
            return blocks[keys]
        text, start, end, known = self.body, 0, len(self.body), max(len(keys) - 1, 0)
        while known > 0 and keys[:known] not in blocks:
            known -= 1  # the longest path above it found already
        if known:
            found_above = blocks[keys[:known]]
            if found_above is None:
                return None
            start, end = found_above
        above: int | None = None  # the depth of a level whose end was not looked for: its key line ends at start
        for depth in range(known, len(keys)):
            key = keys[depth]
            found = textual.find_key(text, 2 * depth, key, textual.BLOCK_KEY_REST, start, end)
            line = found.start() - len(key) - 1 - 2 * depth if found is not None else 0
            if found is not None and above is not None and textual.block_end(above).search(text, start, line):
                found = None  # the level above ended before this key: it is not under it
            if found is None:
                blocks[keys[: depth + 1]] = None
                return None
            if depth < len(keys) - 1:  # a level on the way: the next key must come before its end, not found here
                above, start = depth, found.end()
                continue
            following = textual.block_end(depth).search(text, found.end(), end)  # the next line indented no more
            start, end = found.end(), following.start("line") if following else end
            blocks[keys] = start, end
        return start, end

    def _locate(self, keys: tuple, block: tuple[int, int] | None = None) -> tuple[int, int, str, str] | None:
        """(start, end, value, style) of the one-line string at `keys` in the text, found as peek() finds it;
        `block` is the block of keys[:-1] when the caller has found it already."""
        if keys == _NAME and block is None and self._tree is None:
            in_head = self._name_in_head()
            if in_head is not None:
                return in_head
        block = self._block(keys[:-1]) if block is None else block
        if block is None:
            return None
        text, (start, end), depth = self.body, block, len(keys) - 1
        found = textual.find_key(text, 2 * depth, keys[-1], textual.SCALAR_KEY_REST, start, end)
        if found is None:
            return None
        following = _CONTENT_INDENT.search(text, found.end(), end)
        if following is not None and len(following.group("indent")) > 2 * depth:
            return None  # a scalar continued on the next lines
        value = textual.one_line_string(found)
        if value is None:
            return None
        at = found.start("value")
        if not self._untouched(at, found.end("value")):
            return None  # changed by a splice that has not been applied yet
        return at, found.end("value"), value, textual.STYLES.get(text[at], "plain")

    def _name_in_head(self) -> tuple[int, int, str, str] | None:
        """metadata.name where identify() read it, in the first lines as charts render them (_HEAD): where
        finding metadata's block and the key in it takes five times as long (a rename a release, issue 33)."""
        at, body = self._name_at, self.body
        if at < 0 or reader.has_other_break(body):  # as _block() refuses such a body
            return None
        end = body.index("\n", at)  # _HEAD's name: a word alone on its line, trailing blanks aside
        while body[end - 1] in " \t":
            end -= 1
        value = body[at:end]
        return (at, end, value, "plain") if value not in NOT_STRINGS and self._untouched(at, end) else None

    def _untouched(self, start: int, end: int) -> bool:
        """No pending splice overlaps this span of the body."""
        return not self._splices or not any(s[0] < end and start < s[1] for s in self._splices)

    @property
    def data(self) -> Any:
        """The document's value. Read it; change it only through set() and edit()."""
        if self._tree is not None:
            return self._tree
        if self._read is None:
            if self.too_big_to_parse:
                raise InputError(
                    f"{where(self.index, self.source)}: {len(self.body) / 2**20:.0f} MiB, larger than any "
                    "object the API server stores (1.5 MiB); check the chart's values"
                )
            self._commit()
            body = self.body
            try:
                try:
                    read = _Read(*reader.parse(body))
                except reader.Unsupported:
                    read = _Read(self._load(body), None)
            except RecursionError:
                raise InputError(
                    f"{where(self.index, self.source)}: nested too deeply for a Kubernetes object"
                ) from None
            data = read.data
            if (
                not isinstance(data, dict)
                or not isinstance(data.get("apiVersion"), str)
                or not isinstance(data.get("kind"), str)
            ):
                raise InputError(
                    f"{where(self.index, self.source)}: not a Kubernetes object (a mapping with apiVersion and kind)"
                )
            if not isinstance(data.get("metadata", {}), dict):
                raise InputError(f"{where(self.index, self.source)}: metadata is not a mapping")
            self._read = read
        return self._read.data

    def forget(self) -> None:
        """Forget the parsed tree and the paths found, and apply pending splices (memory: a splice list a changed
        document, a thousand releases long, adds up; the text is what a later read parses anyway)."""
        self._commit()
        self._read = self._blocks = None

    def _commit(self) -> None:
        """Apply pending splices to a text of this document's own, so that positions start afresh (where identify()
        read the name moves with the splices before its line: a converted pool is renamed next, issue 33)."""
        if self._splices:
            self._name_at = self._name_moved()
            self.body, self._splices, self._blocks = self._spliced(), None, None

    def _name_moved(self) -> int:
        """Where identify() read the name, once the pending splices are applied: -1 unless every splice ends before
        the name's line or starts after it."""
        at, body = self._name_at, self.body
        if at < 0:
            return -1
        line_start, line_end = body.rfind("\n", 0, at) + 1, body.find("\n", at)
        for start, end, text in self._splices or ():
            if end < line_start:
                at += len(text) - (end - start)
            elif start <= line_end:
                return -1
        return at

    def _load(self, text: str) -> Any:
        try:
            return load_document(text)
        except load_errors() as exc:
            raise InputError(f"{where(self.index, self.source)}: malformed YAML: {one_line(exc, self.line)}") from None
        except TypeError:  # ruamel's constructor on a mapping or list used as a key: no Kubernetes object has one
            raise InputError(
                f"{where(self.index, self.source)}: a mapping key that is itself a mapping or a list; "
                "fix the chart's output"
            ) from None

    def set(self, path: Path, value: Any) -> bool:
        """Set one value; True if it changed. A string whose position is known is spliced into the text."""
        if (
            self._read is None
            and self._tree is None
            and not self.too_big_to_parse
            and isinstance(value, str)
            and all(isinstance(k, str) for k in path)
        ):
            found = self._locate(path)  # found without parsing: splice it so (a rename of a ConfigMap, say)
            if found is not None:
                if found[2] == value:
                    return False
                self._splices = self._splices or []
                self._splices.append((found[0], found[1], emitter.scalar_text(value, found[3])))
                return True
        if self._read is not None and path[0] in self._read.replaced:
            self.forget()  # read the spliced text again, for the positions and quoting of what was replaced
        parent = self.data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        try:
            # the same YAML value: 1 is not True, but ruamel.yaml's quoted string is the str it holds (a flag
            # read from a round-tripped Deployment was reported updated to the value it had)
            if textual.same_value(parent[key], value):
                return False
        except (KeyError, IndexError):
            pass
        spans = self._read.spans if self._read is not None else None
        span = spans.get(id(parent), {}).get(key) if spans is not None else None
        if span is not None and isinstance(value, str):
            self._splices = self._splices or []
            self._splices.append((span.start, span.end, emitter.scalar_text(value, span.style)))
            parent[key] = value
            return True
        self.rewrite((path[0],), functools.partial(textual.assign, path, value))
        return True

    def rewrite(self, keys: tuple[str, ...], transform: Callable[[Any], T]) -> T:
        """A structural change: `transform` changes the object in place, and returns what it likes. `keys` are
        the top-level entries it reads and changes (the pool's `spec:`, the Role's `rules:`): the smallest blocks
        that hold the change. It must leave every other entry as it is, and change nothing but its argument (it
        may be called again, on the whole object, when its change cannot be spliced).

        The entries that changed are emitted again by our emitter and spliced over their old text; every other line
        stays byte for byte. A document not parsed yet is not parsed whole: `transform` is given those entries
        alone, each parsed from its own lines (an alpha pool's `spec`, not its metadata: issue 33). When a changed
        entry holds what the emitter would not keep (a comment, a block scalar) or the document is outside the fast
        reader's subset, the document goes through ruamel.yaml's round trip instead; `transform` is then applied
        to that tree.
        """
        if self._read is None and self._tree is None and not self._splices:
            done = self._rewrite_entries(keys, transform)
            if done is not None:
                return done[0]
        if self._read is not None and self._read.replaced.intersection(keys):
            self.forget()
        data = self.data
        read = self._read
        if read is not None and read.spans is not None:
            memo: dict = {}
            changed = {key: _copied(value, memo) if key in keys else value for key, value in data.items()}
            result = transform(changed)
            entries = self._top_entries()
            spliced = (
                _entry_splices(self.body, entries, read.spans, data, changed, keys, memo, self._splices or [])
                if entries is not None and list(entries) == list(data)
                else None
            )
            if spliced is not None:
                self._splices, emitted = spliced
                own = read.spans.get(id(data), {})
                for key in keys:
                    if key in data and (key not in changed or key in emitted):
                        own.pop(key, None)  # its text is replaced: a later change re-emits the entry again
                        textual.drop_spans(read.spans, data[key])
                for key in [key for key in data if key not in changed]:
                    del data[key]
                data.update((key, changed[key]) for key in changed if key in emitted)
                read.replaced.update(emitted)
                return result
        return transform(self.edit())

    def _rewrite_entries(self, keys: tuple[str, ...], transform: Callable[[Any], T]) -> tuple[T] | None:
        """rewrite() of a document not parsed yet, from the named entries alone, each parsed from its own lines and
        spliced over them, the text then applied (the body is the truth again); None when that cannot be done so
        (rewrite() parses the whole document then). The document must be a mapping written from column 0, each
        top-level key once (_top_entries), and no line outside the entries may hide another key (a quoted or flow
        scalar left open)."""
        body = self.body
        if self.too_big_to_parse or reader.has_other_break(body):
            return None
        top = self._top_entries()
        if top is None:
            return None
        entries = {key: at for key, at in top.items() if key in keys}
        outside, plain_lines = 0, _plain_lines()
        for start, end, _ in entries.values():
            if not plain_lines.fullmatch(body, outside, start):
                return None
            outside = end
        if not plain_lines.fullmatch(body, outside):
            return None
        old: dict[Any, Any] = {}
        spans: dict[int, dict[Any, Any]] = {}
        for key, (start, end, key_text) in entries.items():
            line = textual.SCALAR_KEY_REST.fullmatch(body, start + len(key_text) + 1, end)
            string = textual.one_line_string(line) if line is not None else None
            if string is not None:  # `apiVersion: ...`, read without a parse: re-emitted whole, it needs no span
                old[key] = string
                continue
            try:
                value, found_spans = reader.parse(body[start:end], start)
            except reader.Unsupported:
                return None
            if not isinstance(value, dict) or list(value) != [key]:
                return None
            old[key] = value[key]
            spans.update(found_spans)
        memo: dict = {}
        changed = {key: _copied(value, memo) for key, value in old.items()}
        result = transform(changed)
        spliced = _entry_splices(body, entries, spans, old, changed, keys, memo, [])
        if spliced is None:
            return None
        self._splices = spliced[0]
        self._commit()
        return (result,)

    def _top_entries(self) -> dict[Any, tuple[int, int, str]] | None:
        """Each top-level key: (start of its line, end of its last content line, the key as written); None unless
        the document is a mapping written from column 0, each key once."""
        body = self.body
        entries: dict[Any, tuple[int, int, str]] = {}
        last_key, last_start, last_end = None, 0, 0
        for found in _CONTENT_LINE.finditer(body):
            line = found.group(0)
            if line[0] != " " and not (line == "-" or line.startswith("- ")):  # a list at column 0 is its key's
                key = reader.top_key(line)
                if key is None:
                    return None
                if last_key is not None:
                    entries[last_key[0]] = (last_start, last_end, last_key[1])
                if key[0] in entries or (last_key is not None and key[0] == last_key[0]):
                    return None  # written twice: the parser's to refuse
                last_key, last_start = key, found.start()
            elif last_key is None:
                return None
            last_end = found.end()
        if last_key is not None:
            entries[last_key[0]] = (last_start, last_end, last_key[1])
        return entries

    def edit(self) -> Any:
        """The round-trip tree, for structural changes outside the fast reader's subset; re-emitted at settle()."""
        _ = self.data  # parsed (and checked) first: the round trip starts from the same text
        if self._tree is None:
            self._tree = self._load(self._spliced())
            self._read, self._splices = None, None
        return self._tree

    def _spliced(self) -> str:
        return textual.apply_splices(self.body, self._splices or ())

    def add_text(self, parts: list[str]) -> int:
        """Its text added to `parts`; the characters added."""
        if self._tree is None and not self._splices:  # as it came: no copy of it joined to its separator
            parts.append(self.separator)
            parts.append(self.body)
            return len(self.separator) + len(self.body)
        text = self.text()
        parts.append(text)
        return len(text)

    def text(self) -> str:
        if self._tree is not None:
            self.settle()
        return self.separator + (self._spliced() if self._splices else self.body)

    def settle(self) -> None:
        """Emit a rewritten document once, before anything is written, and check that the text reads back as the
        same object: ruamel.yaml can emit YAML it cannot read (a comment on an explicit key, say)."""
        if self._tree is None:
            return
        from ruamel.yaml import YAML

        text = textual.keep_ending(dump_document(self._tree), self.body)
        try:
            with quiet():
                again = YAML(typ="safe", pure=True).load(text)
        except load_errors():
            again = None
        expected = self._tree
        if (
            not isinstance(again, dict)
            or [again.get(k) for k in ("apiVersion", "kind")] != [expected.get(k) for k in ("apiVersion", "kind")]
            or again.get("metadata") != expected.get("metadata")
        ):
            raise InputError(
                f"{where(self.index, self.source)}: its YAML cannot be rewritten faithfully; "
                "write it in plain block style (no explicit keys, anchors or tags)"
            )
        self.body, self._tree, self._blocks, self._name_at = text, None, None, -1


_WRITTEN_AT_ONCE = 1 << 16


def split(text: str) -> list[Document]:
    """Split on `---` lines; what precedes the first one is document 0 (often empty)."""
    return split_chunks([text])


def read_chunks(source: TextIO, size: int = 1 << 16) -> Iterator[str]:
    while chunk := source.read(size):
        yield chunk


# What peek_items() read and add_beside() added, by what was asked and the block's text, positions from the block's
# start: the same few blocks recur in every release of a chart
_ITEMS_READ: dict[tuple, Any] = {}
_ADDED_BESIDE: dict[tuple, Any] = {}


def _by_block_text(
    memo: dict[tuple, Any],
    asked: Any,
    body: str,
    block: tuple[int, int],
    read: Callable[[], T],
    moved: Callable[[T, int], T],
) -> T:
    """What `read()` finds in body[block] (a function of that text and of `asked`), remembered: the same block
    elsewhere gets a copy with its positions moved there. 64 blocks at most: what recurs is seen in the first
    releases (issue 33)."""
    start, end = block
    key = (asked, body[start:end])
    if key in memo:
        return moved(memo[key], start)
    found = read()
    if len(memo) < 64:
        memo[key] = moved(found, -start)
    return found


def _moved_splices(
    found: tuple[list[tuple[int, int, str]], list[str]] | None, offset: int
) -> tuple[list[tuple[int, int, str]], list[str]] | None:
    """A copy of add_beside()'s insertions with their positions moved by `offset`."""
    if found is None:
        return None
    return [(at + offset, to + offset, text) for at, to, text in found[0]], list(found[1])


def _moved(items: list[dict[str, Any]] | None, offset: int) -> list[dict[str, Any]] | None:
    """A copy of peek_items()'s reading with every position moved by `offset` (its lists copied: callers keep them)."""
    if items is None:
        return None
    return [
        {
            key: None
            if found is None
            else textual.TextValue(
                list(found.value) if isinstance(found.value, list) else found.value,
                None if found.spans is None else [(at + offset, to + offset, style) for at, to, style in found.spans],
            )
            for key, found in item.items()
        }
        for item in items
    ]


def _entry_splices(
    body: str,
    entries: dict[Any, tuple[int, int, str]],
    spans: dict,
    old: dict,
    new: dict,
    keys: tuple[str, ...],
    memo: dict,
    splices: list,
) -> tuple[list, dict[Any, str]] | None:
    """The splices that re-emit the entries of `old` (top-level entries of `body`, at their `entries` positions)
    that differ in `new`, added to the pending `splices` (those inside a replaced entry dropped), and the entries'
    new texts; None (nothing changed) when that cannot be done faithfully.

    The entries' new text waits as splices over the original body, like a changed scalar, so the positions of
    every other entry stay valid and the document is not parsed again. The emitted entries are read back, to
    check that they mean the new values, unless the emitter writes them exactly by construction
    (emitter.exactly_written: strings, ints, bools, null; a property test holds it to that)."""
    kept = [key for key in new if key in old]
    if kept != [key for key in old if key in new] or not set(new).symmetric_difference(old) <= set(keys):
        return None  # reordered, or an entry it did not name came or went
    origin = textual.Origin(spans, body, {id(made): original for original, made in memo.items()})
    splices = list(splices)
    emitted: dict[Any, str] = {}
    for key, (start, end, key_text) in entries.items():
        if key not in keys or key in new and textual.same_value(old[key], new[key]):
            continue
        block = body[start:end]
        # no `|` or `>` (a memchr each), no block scalar: the pattern, with no literal to look for, costs more
        if "#" in block or (("|" in block or ">" in block) and _BLOCK_SCALAR.search(block)):
            return None
        splices = [splice for splice in splices if not start <= splice[0] < end]
        if key in new:
            emitted[key] = emitter.dump_entry(key_text, new[key], origin)
            splices.append((start, end, emitted[key]))
        else:
            splices.append((start, end + 1, ""))
    added = [key for key in new if key not in old]
    if added:
        for key in added:
            emitted[key] = emitter.dump_entry(emitter.scalar_text(str(key), "plain"), new[key], origin)
        tail = "".join(emitted[key] + "\n" for key in added)
        splices.append((len(body), len(body), ("" if body.endswith("\n") or not body else "\n") + tail))
    if not emitter.exactly_written({key: new[key] for key in emitted}):  # else read back, to be sure
        try:
            again = reader.parse("\n".join(emitted.values()))[0] if emitted else {}
        except reader.Unsupported:
            return None
        if list(again or ()) != list(emitted) or not all(textual.same_value(again[key], new[key]) for key in emitted):
            return None
    return splices, emitted


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of a value the fast reader read (dicts, lists, immutable scalars), each container's copy in `memo`
    under its original's id (the memo keeps the copies alive: an id is not reused while it counts). copy.deepcopy
    does the same for any object, at four times the cost (a converted pool, issue 33)."""
    if isinstance(value, dict):
        made: Any = {key: _copied(item, memo) for key, item in value.items()}
    elif isinstance(value, list):
        made = [_copied(item, memo) for item in value]
    else:
        return value
    memo[id(value)] = made
    return made


def split_chunks(chunks: Iterable[str]) -> list[Document]:
    """Split a stream read a chunk at a time, finding separators with one regex per chunk; each document keeps
    its own text (no copy of the whole stream). Text is joined only up to a complete line, so a document or a line
    longer than a chunk costs no more than its length."""
    documents: list[Document] = []
    separator, first_line = "", 1
    lines: list[str] = []  # the current document's complete lines so far
    partial: list[str] = []  # the line after them, not yet ended
    for chunk in chunks:
        if "\n" not in chunk:
            partial.append(chunk)
            continue
        buffer, start = "".join(partial) + chunk, 0
        first = _SEPARATOR_LINE.match(buffer)  # at the buffer's start; after it, one that follows a line break
        for found in itertools.chain([first] if first else [], _SEPARATOR_AFTER_BREAK.finditer(buffer)):
            line = found.start("line")
            body = "".join(lines) + buffer[start:line] if lines else buffer[start:line]
            documents.append(Document(len(documents), separator, body, first_line))
            first_line += body.count("\n") + 1
            separator, start, lines = sys.intern(found.group("line") + "\n"), found.end() + 1, []
        cut = buffer.rfind("\n", start) + 1
        if cut > start:
            lines.append(buffer[start:cut])
        partial = [buffer[max(cut, start) :]]
    rest = "".join(lines) + "".join(partial)
    last = _SEPARATOR.search(rest)  # a final separator without a line break after it
    if last is not None and last.end() == len(rest):
        body = rest[: last.start()]
        documents.append(Document(len(documents), separator, body, first_line))
        first_line += body.count("\n") + 1
        separator, rest = rest[last.start() :], ""
    documents.append(Document(len(documents), separator, rest, first_line))
    return documents


def join(documents: list[Document]) -> str:
    return "".join(document.text() for document in documents)


def write(documents: list[Document], out: TextIO) -> None:
    """A piece of 64 KiB at a time, so that the whole output never sits in memory at once, and each piece one
    write: a write a document cost an umbrella chart's post-render 5% (issue 33)."""
    parts: list[str] = []
    size = 0
    for document in documents:
        size += document.add_text(parts)
        if size >= _WRITTEN_AT_ONCE:
            out.write("".join(parts))
            parts, size = [], 0
    out.write("".join(parts))


def new_document(index: int, text: str, separator: str = "---\n") -> Document:
    """A document the post-renderer generates, already as text."""
    return Document(index, separator, text, 0)
