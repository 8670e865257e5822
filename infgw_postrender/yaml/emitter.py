"""Block YAML out: the layout charts render (two-space mappings, lists at their key's indentation), for the
objects the post-renderer generates and the entries it rewrites. What it writes reads back as the same value
(tests check it against ruamel.yaml)."""

from __future__ import annotations

import functools
import re
from typing import Any, Protocol

from infgw_postrender.yaml.reader import plain_string


class Origin(Protocol):
    """Where re-emitted values came from, so that they keep their form: a string its quotes, a one-line flow
    collection its text."""

    def style(self, container: Any, key: Any) -> str | None: ...

    def flow_text(self, value: Any) -> str | None: ...


def dump(obj: Any, origin: Origin | None = None) -> str:
    """Block YAML for plain objects (dicts, lists, str, int, float, bool, None), in the layout charts render."""
    lines: list[str] = []
    _emit(obj, 0, lines, None, origin)
    return "\n".join(lines) + "\n"


def dump_entry(key: str, value: Any, origin: Origin | None = None) -> str:
    """One top-level `key: value` entry, its lines without the final line break. `key` is written as given."""
    if isinstance(value, (dict, list)) and value:
        flow = origin.flow_text(value) if origin else None
        if flow is not None:
            return f"{key}: {flow}"
        lines = [f"{key}:"]
        _emit(value, 2 if isinstance(value, dict) else 0, lines, None, origin)
        return "\n".join(lines)
    return f"{key}: {_scalar(value)}"


def _emit(obj: Any, indent: int, lines: list[str], first_prefix: str | None, origin: Origin | None) -> None:
    pad = " " * indent
    prefix = pad if first_prefix is None else first_prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            head = f"{prefix}{_key_text(key)}:"
            prefix = pad
            nested = isinstance(value, (dict, list))
            flow = origin.flow_text(value) if origin and nested else None
            if flow is not None:
                lines.append(f"{head} {flow}")
            elif nested and value:
                lines.append(head)
                _emit(value, indent + 2 if isinstance(value, dict) else indent, lines, None, origin)
            else:
                lines.append(f"{head} {_scalar(value, origin.style(obj, key) if origin else None)}")
    elif isinstance(obj, list):
        if first_prefix is not None:  # a list inside a list: its dash alone on the line above
            lines.append(first_prefix.rstrip())
        for number, item in enumerate(obj):
            nested = isinstance(item, (dict, list))
            flow = origin.flow_text(item) if origin and nested else None
            if flow is not None:
                lines.append(f"{pad}- {flow}")
            elif nested and item:
                _emit(item, indent + 2, lines, f"{pad}- ", origin)
            else:
                lines.append(f"{pad}- {_scalar(item, origin.style(obj, number) if origin else None)}")
    else:
        lines.append(prefix + _scalar(obj))


def _key_text(key: Any) -> str:
    return _plain_text(str(key)) if isinstance(key, str) else scalar_text(str(key), "plain")


@functools.lru_cache(maxsize=512)  # keys and values recur (apiVersion, groups, kinds, `true`): each written once
def _plain_text(text: str) -> str:
    return scalar_text(text, "plain")


def _scalar(value: Any, style: str | None = None) -> str:
    if type(value) is str and style is None:  # most are: a generated object's strings
        return _plain_text(value)
    if isinstance(value, str):
        return scalar_text(value, style or "plain")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value)) if value == value and abs(value) != float("inf") else double_quoted(str(value))
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar_text(str(value), style or "plain")


def scalar_text(value: Any, style: str) -> str:
    """A string as a YAML scalar, in the original style where that is safe."""
    if style == "'" and all(_printable(ord(char)) for char in value):  # only double quotes can escape
        return "'" + value.replace("'", "''") + "'"
    if style == "plain" and plain_string(value) is not None:
        return value
    return double_quoted(value)


def double_quoted(value: str) -> str:
    """A YAML double-quoted scalar: non-printable characters escaped, everything else as it is."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif _printable(code):
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _printable(code: int) -> bool:
    return (
        0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    ) and code not in (0xFEFF, 0x2028, 0x2029)  # line breaks to YAML 1.1 readers, and the byte order mark


@functools.cache
def _not_exact() -> re.Pattern:
    """What double_quoted() escapes in a form the fast reader leaves to ruamel.yaml (`\x1f`), and surrogates:
    compiled when first needed (0.3 ms at start)."""
    return re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def exactly_written(value: Any) -> bool:
    """Whether the emitter's text for `value` reads back as `value` by construction, with no need to read it back:
    string keys, and scalars that are strings (plain only where plain_string() says so, else quoted; control
    characters and surrogates aside), ints, bools or null. A float's text is not (1e+100 reads back as a string to
    some readers). Walked with a stack, no call a node: it runs on every entry a rewrite emits (issue 33)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            # printable ASCII holds none of them (two flags, no pattern); tab and line feed are written exactly too
            if not (item.isascii() and item.isprintable()) and _not_exact().search(item):
                return False
        elif kind is dict:
            for key in item:
                if not isinstance(key, str):
                    return False
            pending.extend(item)
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif isinstance(item, str):  # a subclass (ruamel.yaml's): judged as its base type
            pending.append(str(item))
        elif isinstance(item, dict):
            pending.append(dict(item))
        elif isinstance(item, list):
            pending.append(list(item))
        elif not (item is None or kind is int or kind is bool):
            return False
    return True
