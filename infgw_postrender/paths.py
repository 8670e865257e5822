"""A tiny path language for the mapping file: `a.b[].c[kind=X].d`.

`[]` walks every item of a list; `[k=v]` keeps the items (or the mapping itself) whose k equals v.
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


def containers(obj: Any, path: str) -> Iterator[dict]:
    """The mappings a path ends at (its last step included), for reading or changing them."""
    nodes = [obj]
    for key, brackets, where in _steps(path):
        following = []
        for node in nodes:
            if not isinstance(node, dict) or key not in node:
                continue
            value = node[key]
            if brackets:
                items = value if isinstance(value, list) else [value]
                following.extend(
                    item for item in items if isinstance(item, dict) and (where is None or item.get(where[0]) == where[1])
                )
            else:
                following.append(value)
        nodes = following
    yield from (node for node in nodes if isinstance(node, dict))


def slots(obj: Any, path: str) -> Iterator[tuple[dict, str]]:
    """(mapping, key) pairs of the scalars a path names: the last step is the key."""
    head, _, last = path.rpartition(".")
    parents = containers(obj, head) if head else iter([obj] if isinstance(obj, dict) else [])
    for parent in parents:
        if last in parent:
            yield parent, last
