"""What one rewrite is given: the index, the pool group it works on, and the alpha release's names."""

from __future__ import annotations

from infgw_postrender.postrender.index import Identity, Index, PoolGroup


class Job:
    """Not a dataclass: creating a frozen one costs every start 0.5 ms (issue 33)."""

    __slots__ = ("index", "group", "alpha_pool", "alpha_names")

    def __init__(
        self,
        index: Index,
        group: PoolGroup,
        alpha_pool: str | None = None,
        alpha_names: frozenset[Identity] = frozenset(),  # the alpha release's objects, computed before any rename
    ) -> None:
        self.index, self.group, self.alpha_pool, self.alpha_names = index, group, alpha_pool, alpha_names
