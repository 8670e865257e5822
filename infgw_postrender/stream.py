"""The manifest stream as documents of text. A document is parsed only when something may change it,
and written back as its original text unless it was changed: a changed scalar is spliced into the text, a
structural change re-emits the document through ruamel.yaml (comments and key order kept)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import YAMLError

from infgw_postrender import blockyaml
from infgw_postrender.errors import InputError, where
from infgw_postrender.yamlio import dump_document, load_document, one_line

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+?)[ \t]*$", re.MULTILINE)
_TOP_KEY = re.compile(r"^(apiVersion|kind):[ \t]*['\"]?([^'\"#\s]+)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)
_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)
_METADATA = re.compile(r"^metadata:[ \t]*\n((?:[ \t]*(?:#.*)?\n| .*\n?)*)", re.MULTILINE)
_META_KEY = re.compile(r"^  (name|namespace):[ \t]*([-a-z0-9.]+)[ \t]*(?:#.*)?$", re.MULTILINE)

Path = tuple  # keys and list indexes from the document's root


@dataclass
class Document:
    """One document of the stream: its separator line and its body, as they came."""

    index: int
    separator: str
    body: str
    line: int = 1  # the body's first line in the stream, for messages
    _data: Any = field(default=None, repr=False)
    _spans: dict | None = field(default=None, repr=False)  # fast-read positions; None once round-tripped
    _parsed: bool = field(default=False, repr=False)
    _splices: list = field(default_factory=list, repr=False)
    _round_trip: bool = field(default=False, repr=False)

    @property
    def changed(self) -> bool:
        return self._round_trip or bool(self._splices)

    @property
    def source(self) -> str | None:
        found = _SOURCE.search(self.body)
        return found.group(1) if found else None

    @property
    def is_empty(self) -> bool:
        return not _CONTENT.search(self.body)

    def header(self) -> tuple[str, str]:
        """(apiVersion, kind) read from the text without parsing; falls back to parsing when in doubt."""
        found = dict(match.groups() for match in _TOP_KEY.finditer(self.body))
        if "apiVersion" in found and "kind" in found:
            return found["apiVersion"], found["kind"]
        data = self.data
        return data["apiVersion"], data["kind"]

    def identity(self) -> tuple[str | None, str | None]:
        """(name, namespace) from the text when it is plain block YAML, else from parsing."""
        block = _METADATA.search(self.body)
        if block:
            found = dict(match.groups() for match in _META_KEY.finditer(block.group(1)))
            if "name" in found:
                return found["name"], found.get("namespace")
        metadata = self.data.get("metadata") or {}
        return metadata.get("name"), metadata.get("namespace")

    @property
    def data(self) -> Any:
        """The document's value. Read it; change it only through set() and edit()."""
        if not self._parsed:
            try:
                self._data, self._spans = blockyaml.parse(self.body)
            except blockyaml.Unsupported:
                self._data, self._spans = self._load(self.body), None
            if not isinstance(self._data, dict) or not isinstance(self._data.get("apiVersion"), str) or not isinstance(
                self._data.get("kind"), str
            ):
                raise InputError(
                    f"{where(self.index, self.source)}: not a Kubernetes object (a mapping with apiVersion and kind)"
                )
            self._parsed = True
        return self._data

    def _load(self, text: str) -> Any:
        try:
            return load_document(text)
        except YAMLError as exc:
            raise InputError(f"{where(self.index, self.source)}: malformed YAML: {one_line(exc, self.line)}") from None

    def set(self, path: Path, value: Any) -> bool:
        """Set one scalar; True if it changed. Spliced into the text when its position is known."""
        parent = self.data
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        try:
            if parent[key] == value and type(parent[key]) is type(value):
                return False
        except (KeyError, IndexError):
            pass
        span = self._spans.get(id(parent), {}).get(key) if self._spans is not None else None
        if span is not None and isinstance(value, str):
            self._splices.append((span.start, span.end, blockyaml.scalar_text(value, span.style)))
            parent[key] = value
            return True
        target = self.edit()
        for step in path[:-1]:
            target = target[step]
        target[key] = value
        return True

    def edit(self) -> Any:
        """The round-trip tree, for structural changes; the document will be re-emitted."""
        self.data
        if not self._round_trip:
            self._data = self._load(self._spliced())
            self._spans, self._splices, self._round_trip = None, [], True
        return self._data

    def _spliced(self) -> str:
        text = self.body
        for start, end, replacement in sorted(self._splices, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    def text(self) -> str:
        if self._round_trip:
            return self.separator + _keep_ending(dump_document(self._data), self.body)
        return self.separator + (self._spliced() if self._splices else self.body)


def _keep_ending(text: str, original: str) -> str:
    """A rewritten document ends like the original did, so the next separator stays on its own line."""
    if original.endswith("\n") or not original:
        return text if text.endswith("\n") else text + "\n"
    return text.rstrip("\n")


def split(text: str) -> list[Document]:
    """Split on `---` lines; what precedes the first one is document 0 (often empty)."""
    documents: list[Document] = []
    start, separator, line = 0, "", 1
    for match in _SEPARATOR.finditer(text):
        line_end = match.end() + 1 if text[match.end() : match.end() + 1] == "\n" else match.end()
        body = text[start : match.start()]
        documents.append(Document(len(documents), separator, body, line))
        line += body.count("\n") + 1
        separator, start = text[match.start() : line_end], line_end
    documents.append(Document(len(documents), separator, text[start:], line))
    return documents


def join(documents: list[Document]) -> str:
    return "".join(document.text() for document in documents)


def new_document(index: int, text: str) -> Document:
    """A document the post-renderer generates, already as text."""
    return Document(index, "---\n", text, 0)
