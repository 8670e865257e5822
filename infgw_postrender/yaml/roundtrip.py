"""YAML reading and writing. Round-trip mode keeps comments, key order and quoting of what we rewrite."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from infgw_postrender.errors import InputError

# ruamel.yaml is imported where it is used: most post-renders never need it, and it costs start-up time.


@lru_cache(maxsize=1)
def _round_trip():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    # A key given twice is an error, not a silent last-one-wins.
    yaml.allow_duplicate_keys = False
    return yaml


@contextmanager
def quiet() -> Iterator[None]:
    """ruamel.yaml's warnings kept off stderr while it reads: an anchor defined again is YAML (the later one
    counts), and the tool's stderr is its summary, its progress or its one-line error, not a Python warning."""
    from ruamel.yaml.error import YAMLFutureWarning, YAMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", YAMLWarning)
        warnings.simplefilter("ignore", YAMLFutureWarning)
        yield


def load_document(text: str) -> Any:
    """One document, round-trip (comments and order kept). Raises YAMLError on malformed input."""
    try:
        with quiet():
            return _round_trip().load(text)
    except Exception:
        _round_trip.cache_clear()  # a failed load leaves the parser mid-stream: the next load needs a new one
        raise


def dump_document(data: Any) -> str:
    out = io.StringIO()
    _round_trip().dump(data, out)
    return out.getvalue()


def load_errors() -> tuple[type[BaseException], ...]:
    """What a ruamel.yaml load raises on malformed input: YAMLError, and IndexError or ValueError from its number
    constructors on a few forms its resolver takes for numbers (0x_, -_, ._), which are bad input, not bugs here."""
    from ruamel.yaml.error import YAMLError

    return YAMLError, IndexError, ValueError


def load_file_documents(path: str, what: str) -> list[Any]:
    """Every non-empty document of a user's YAML file; a `kind: List` is flattened to its items."""
    from ruamel.yaml import YAML

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot read it ({exc.strerror}); pass a readable YAML file") from None
    documents = _one_block_document(text)
    if documents is None:
        try:
            with quiet():
                documents = [doc for doc in YAML(typ="rt").load_all(text) if doc is not None]
        except load_errors() as exc:
            raise InputError(f"{what} {path}: not valid YAML ({one_line(exc)}); fix the file") from None
    items: list[Any] = []
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            items.extend(doc["items"])
        else:
            items.append(doc)
    return items


def _one_block_document(text: str) -> list[Any] | None:
    """The file's one document when the fast reader reads it (block YAML: this tool's own backups and exports,
    `kubectl get -o yaml`), about 15 times faster than ruamel.yaml; None for anything else (several documents
    among them), which ruamel.yaml reads."""
    from infgw_postrender.yaml import reader

    try:
        value, _ = reader.parse(text)
    except (reader.Unsupported, RecursionError):
        return None
    return [] if value is None else [value]


def one_line(exc: BaseException, first_line: int = 1) -> str:
    """A YAML error on one line: the problem and where, as a line number counted from `first_line`."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem.splitlines()[0]} at line {mark.line + first_line}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def plain(value: Any) -> Any:
    """A round-trip tree (a user's file) as plain dicts and lists with string keys, as the emitter writes objects
    the post-renderer generates from it."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
