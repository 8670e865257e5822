"""A tiny path language for the mapping file: `a.b[].c[kind=X].d`.

`[]` walks every item of a list; `[k=v]` keeps the items (or the mapping itself) whose k equals v.
Each match comes with its path from the root, so that a change can be made through Document.set().
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_STEP = re.compile(r"([^.\[]+)(\[(?:([^=\]]+)=([^\]]*))?\])?")


def _steps(path: str) -> list[tuple[str, bool, tuple[str, str] | None]]:
    steps = []
    for match in _STEP.finditer(path):
        key, brackets, filter_key, filter_value = match.groups()
        steps.append((key, brackets is not None, (filter_key, filter_value) if filter_key else None))
    return steps


def containers(obj: Any, path: str) -> Iterator[tuple[tuple, dict]]:
    """(path, mapping) for each mapping the path ends at."""
    nodes: list[tuple[tuple, Any]] = [((), obj)]
    for key, brackets, where in _steps(path):
        following = []
        for at, node in nodes:
            if not isinstance(node, dict) or key not in node:
                continue
            value = node[key]
            if not brackets:
                following.append((at + (key,), value))
            elif isinstance(value, list):
                following.extend(
                    (at + (key, index), item)
                    for index, item in enumerate(value)
                    if isinstance(item, dict) and (where is None or item.get(where[0]) == where[1])
                )
            elif isinstance(value, dict) and (where is None or value.get(where[0]) == where[1]):
                following.append((at + (key,), value))
        nodes = following
    yield from ((at, node) for at, node in nodes if isinstance(node, dict))


def slots(obj: Any, path: str) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of the scalars a path names: the last step is the key."""
    head, _, last = path.rpartition(".")
    parents = containers(obj, head) if head else iter([((), obj)] if isinstance(obj, dict) else [])
    for at, parent in parents:
        if last in parent:
            yield at + (last,), parent[last]
