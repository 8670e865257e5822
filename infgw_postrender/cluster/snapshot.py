"""A snapshot (`kubectl get crd,... -A -o yaml`) read at the post-renderer's speed: kubectl writes one `kind: List`
document whose items start at column 0 with `- `, so each item is sniffed for its kind before anything is parsed.
Items of kinds detect does not use are skipped unparsed; of a CRD only its metadata, names and versions are
needed, so its schemas and its last-applied copy of itself (most of a CRD's bytes) are cut before it is parsed."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from infgw_postrender.errors import InputError
from infgw_postrender.yaml import reader
from infgw_postrender.yaml.roundtrip import load_document, load_file_documents

_ITEM = re.compile(r"^- ", re.M)
_KIND = re.compile(r"^(?:- |  )kind: ['\"]?([A-Za-z0-9]+)['\"]?$", re.M)
# keys whose value detect never reads, and that make up most of a CRD
_HEAVY = re.compile(r"^( *)(?:schema|kubectl\.kubernetes\.io/last-applied-configuration):(?: [|>][-+]?)?$")


def read_objects(path: str, kinds: set[str]) -> list[dict]:
    """The snapshot's objects of these kinds (a CRD without its schemas)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"--from-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); "
            "pass the output of `kubectl get ... -A -o yaml`"
        ) from None
    if text.lstrip().startswith("{"):
        try:
            found = json.loads(text)
        except ValueError:
            raise InputError(
                f"--from-file {path}: not valid JSON; pass the output of `kubectl get ... -o json`"
            ) from None
        items = found.get("items", [found]) if isinstance(found, dict) else []
        return [item for item in items if isinstance(item, dict) and item.get("kind") in kinds]
    body = _list_items(text)
    if body is None:  # not kubectl's List layout (a hand-made file): parse it all
        return [
            item
            for item in load_file_documents(path, "--from-file")
            if isinstance(item, dict) and item.get("kind") in kinds
        ]
    start, end = body
    starts = [found.start() for found in _ITEM.finditer(text, start, end)] + [end]
    objects = []
    for begin, finish in itertools.pairwise(starts):
        kind = _KIND.search(text, begin, finish)
        if kind is None or kind.group(1) not in kinds:
            continue
        objects.append(_parse_item(text[begin:finish], path))
    return objects


def _list_items(text: str) -> tuple[int, int] | None:
    """Where a List's `items:` sequence lies (from its first `- ` to the next top-level key)."""
    found = re.search(r"^items:\n(?=- )", text, re.M)
    if found is None or not re.search(r"^kind: List$", text, re.M):
        return None
    after = re.compile(r"^[A-Za-z]", re.M).search(text, found.end())
    return found.end(), after.start() if after else len(text)


def _parse_item(item: str, path: str) -> dict:
    lines = _without_heavy(("  " + item[2:]).splitlines(True))
    text = "".join(line[2:] for line in lines)
    try:
        data: Any = reader.parse(text)[0]
    except reader.Unsupported:
        data = load_document(text)
    if not isinstance(data, dict):
        raise InputError(
            f"--from-file {path}: an item is not a Kubernetes object; pass the output of `kubectl get ... -o yaml`"
        )
    return data


def _without_heavy(lines: list[str]) -> list[str]:
    """The lines, with the value of each heavy key replaced by an empty one."""
    kept, skip_deeper_than = [], None
    for line in lines:
        if skip_deeper_than is not None:
            stripped = line.strip()
            if not stripped or len(line) - len(line.lstrip(" ")) > skip_deeper_than:
                continue
            skip_deeper_than = None
        heavy = _HEAVY.match(line.rstrip("\n"))
        if heavy:
            key = line.rstrip("\n").split(":", 1)[0]
            kept.append(f"{key}: ''\n")
            skip_deeper_than = len(heavy.group(1))
            continue
        kept.append(line)
    return kept
