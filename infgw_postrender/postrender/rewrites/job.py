"""What one rewrite is given: the index, the pool group it works on, and the alpha release's names."""

from __future__ import annotations

from dataclasses import dataclass

from infgw_postrender.postrender.index import Identity, Index, PoolGroup


@dataclass(frozen=True, slots=True)
class Job:
    index: Index
    group: PoolGroup
    alpha_pool: str | None = None
    alpha_names: frozenset[Identity] = frozenset()  # the alpha release's objects, computed before any rename
