"""The rewrites of one pool group, as a list of small functions run in this order: each takes a Job and changes
documents only through Document.set() and Document.rewrite(), recording what it did in the report.

The order matters: the alpha pool is converted before it is renamed, names are settled before references follow
them, and the EPP's flags name the pool's final name.
"""

from __future__ import annotations

from collections.abc import Callable

from infgw_postrender.postrender.index import Index, PoolGroup
from infgw_postrender.postrender.rewrites.epp import update_epp_flags
from infgw_postrender.postrender.rewrites.health_check import fix_health_check_port
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.rewrites.names import alpha_names, avoid_alpha_names, rename_pool
from infgw_postrender.postrender.rewrites.pool_api import convert_alpha_pool
from infgw_postrender.postrender.rewrites.rbac import grant_ga_pools
from infgw_postrender.postrender.rewrites.references import follow, follow_pool_references

REWRITES: tuple[Callable[[Job], None], ...] = (
    convert_alpha_pool,
    rename_pool,
    avoid_alpha_names,
    follow_pool_references,
    update_epp_flags,
    grant_ga_pools,
    fix_health_check_port,
)


def rewrite_group(
    index: Index, group: PoolGroup, alpha_pool: str | None = None, alpha_namespace: str | None = None
) -> None:
    """Every rewrite for one pool group. Its parsed trees are kept for what the pipeline reads of the group next
    (the EPP's image, for the target), and dropped by forget_group (memory stays flat)."""
    taken = alpha_names(index, group, alpha_pool, alpha_namespace) if alpha_pool else frozenset()
    job = Job(index, group, alpha_pool, taken)
    for rewrite in REWRITES:
        rewrite(job)


def forget_group(group: PoolGroup) -> None:
    """Drop the group's parsed trees, once nothing reads them any more."""
    for document in group.own:
        document.forget()


def rewrite_others(index: Index, claimed: set[int]) -> None:
    """References to the pools from documents no group claimed (routes or objectives of other charts)."""
    follow(index, [document for document in index.documents if document.kind and document.index not in claimed])
