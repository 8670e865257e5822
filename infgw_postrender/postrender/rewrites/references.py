"""Every reference to a pool of the stream (routes, GKE policies, objectives) names the GA group and the pool's
final name: mapping.yaml's pool_references say where each kind keeps its reference."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from infgw_postrender.api.mapping import PoolReference, alpha_group, api, ga_group
from infgw_postrender.api.paths import containers
from infgw_postrender.postrender.index import Index
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.stream import Document


def follow_pool_references(job: Job) -> None:
    follow(job.index, job.group.own)


def follow(index: Index, documents: list[Document]) -> None:
    pool_kind, rules = api().pool.kind, _rules()
    for document in documents:
        rule = rules.get(document.kind)
        if rule is None:
            continue
        for ref, change in _references(document, rule.ref):
            if ref.get("kind", pool_kind) != pool_kind:
                continue
            group = index.by_pool.get((str(ref.get("name")), ref.get("namespace") or document.namespace))
            ref_group = ref.get("group", rule.default_group)
            if group is None or ref_group not in (alpha_group(), ga_group()):
                continue
            old_name = ref.get("name")
            if change("group", ga_group()):
                index.record(document, "updated", f"{rule.ref} group {ref_group or '(core)'} -> {ga_group()}")
            if change("name", group.final_pool):
                index.record(document, "updated", f"{rule.ref} name {old_name} -> {group.final_pool}")


@functools.cache
def _rules() -> dict[str, PoolReference]:
    """mapping.yaml's pool_references by kind (looked up for every pool's objects)."""
    return {rule.kind: rule for rule in api().pool_references}


Change = Callable[[Any, str], bool]  # sets one key of the reference; True when the value changed


def _references(document: Document, path: str) -> list[tuple[dict, Change]]:
    """Each reference, and how to change it. One at a path without lists (a policy's targetRef) is read off the
    text when it is written as one-line strings, and changed by splices, so that a policy that only needs a new
    name is not parsed."""
    if "[" not in path:
        keys = tuple(path.split("."))
        entries = document.peek_entries(*keys)
        if entries is not None and {"group", "name"} <= entries.keys():  # a key to add: the parsed tree adds it
            return [({key: value for key, (value, _) in entries.items()}, document.replacer(entries))]
    return [(ref, document.setter(at)) for at, ref in containers(document.data, path)]
