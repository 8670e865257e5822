"""The manifest stream as documents of text. A document is parsed only when something may change it,
and written back as its original text unless it was changed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import YAMLError

from infgw_postrender.errors import InputError, where
from infgw_postrender.yamlio import dump_document, load_document, one_line

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+?)[ \t]*$", re.MULTILINE)
_TOP_KEY = re.compile(r"^(apiVersion|kind):[ \t]*['\"]?([^'\"#\s]+)['\"]?[ \t]*(?:#.*)?$", re.MULTILINE)
_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.MULTILINE)


@dataclass
class Document:
    """One document of the stream: its separator line and its body, as they came."""

    index: int
    separator: str
    body: str
    line: int = 1  # the body's first line in the stream, for messages
    _data: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)
    changed: bool = False

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

    @property
    def data(self) -> Any:
        if not self._parsed:
            try:
                data = load_document(self.body)
            except YAMLError as exc:
                raise InputError(
                    f"{where(self.index, self.source)}: malformed YAML: {one_line(exc, self.line)}"
                ) from None
            if not isinstance(data, dict) or not isinstance(data.get("apiVersion"), str) or not isinstance(
                data.get("kind"), str
            ):
                raise InputError(
                    f"{where(self.index, self.source)}: not a Kubernetes object (a mapping with apiVersion and kind)"
                )
            self._data, self._parsed = data, True
        return self._data

    def text(self) -> str:
        if not self.changed:
            return self.separator + self.body
        return self.separator + _keep_ending(dump_document(self._data), self.body)


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


def new_document(index: int, data: Any) -> Document:
    """A document the post-renderer generates."""
    return Document(index, "---\n", "", 0, data, True, changed=True)
