"""A live route's InferencePool backends: how much of the pools' traffic the GA pool gets, and the safety
invariant checked before every write to a route: no backendRef that carries traffic (a weight above 0; an
absent weight is 1) may name a pool that does not exist, or whose EPP Deployment is absent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infgw_postrender.api.mapping import alpha_group, api, ga_group
from infgw_postrender.errors import Refused

if TYPE_CHECKING:  # kubectl's module (json, subprocess) only where a cluster is asked: --offline imports none of it
    from infgw_postrender.cluster.kube import ClusterError, Kubectl


def weight_of(ref: dict) -> int:
    """Gateway API: an absent weight is 1."""
    return int(ref.get("weight", 1))


def is_pool(ref: dict, group: str, name: str) -> bool:
    return ref.get("kind") == api().pool.kind and ref.get("group") == group and ref.get("name") == name


def ga_share(rules: list[dict], alpha_pool: str, ga_pool: str) -> int | None:
    """The GA pool's percentage of the two pools' weight, the least over the rules that hold either; None
    while no rule references the GA pool. A rule holding only the GA pool counts 100."""
    shares = []
    for rule in rules:
        refs = rule.get("backendRefs") or []
        alpha = sum(weight_of(r) for r in refs if is_pool(r, alpha_group(), alpha_pool))
        ga_refs = [r for r in refs if is_pool(r, ga_group(), ga_pool)]
        ga = sum(weight_of(r) for r in ga_refs)
        if not ga_refs and not alpha:
            continue
        if not ga_refs:
            return None
        shares.append(round(100 * ga / (alpha + ga)) if alpha + ga else 0)
    return min(shares) if shares else None


def check_backends(kubectl: Kubectl, namespace: str, rules: list[dict], what: str) -> None:
    """Refused (nothing changed) when `rules` would send traffic to a pool that is not there to take it. At most
    two kubectl calls whatever the number of pools (the pools, then their EPP Deployments), none when the burst's
    reads together hold them."""
    table = api().pool
    api_versions = {alpha_group(): table.alpha_api_version, ga_group(): table.ga_api_version}
    wanted: dict[tuple, int] = {}
    for rule in rules:
        for ref in rule.get("backendRefs") or []:
            if ref.get("kind") != table.kind or weight_of(ref) == 0:
                continue
            key = (ref.get("group"), ref.get("namespace") or namespace, ref.get("name"))
            if key[0] not in api_versions:
                raise Refused(f"{what}: backendRef {key[2]} has group {key[0]!r}, neither pool API; nothing changed")
            wanted.setdefault(key, weight_of(ref))
    if not wanted:
        return
    step = f"read the InferencePools {what} would send traffic to"
    pools = {
        (o["apiVersion"].rpartition("/")[0], o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in kubectl.get_named([(api_versions[g], table.kind, n, name) for g, n, name in wanted], step)
    }
    epps = {}
    for key, weight in wanted.items():
        group, pool_namespace, name = key
        label = f"{'alpha' if group == alpha_group() else 'GA'} InferencePool {pool_namespace}/{name}"
        if key not in pools:
            raise Refused(
                f"{what} would send traffic (weight {weight}) to the {label}, which does not exist; nothing changed"
            )
        picker = "extensionRef" if group == alpha_group() else "endpointPickerRef"
        epps[key] = (((pools[key].get("spec") or {}).get(picker) or {}).get("name"), label)
    named = [("apps/v1", "Deployment", key[1], epp) for key, (epp, _) in epps.items() if epp]
    live = (
        kubectl.get_named(named, f"read the EPP Deployments of the pools {what} would send traffic to") if named else []
    )
    found = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in live}
    for key, (epp, label) in epps.items():
        if not epp or (key[1], epp) not in found:
            raise Refused(
                f"{what} would send traffic to the {label}, whose EPP Deployment {epp or '(none named)'} "
                "does not exist; nothing changed"
            )


def alpha_refs(rules: list[dict]) -> list[dict]:
    """The rules cut down to their alpha pool backendRefs: what must be live before the release that brings the
    GA pool itself is installed (its GA pool cannot exist yet)."""
    kept = [[ref for ref in rule.get("backendRefs") or [] if ref.get("group") == alpha_group()] for rule in rules]
    return [{"backendRefs": refs} for refs in kept if refs]


def check_generated_routes(routes: list[dict], notes: list[str], kubectl: Kubectl | None) -> None:
    """The post-renderer's routes that leave the alpha pool traffic, checked as `shift` checks a route (Refused
    when an alpha pool or its EPP is not there). Without kubectl (--offline), or when the cluster cannot be
    read, nothing is refused and a note says what was not checked; a namespace that could not be read is not
    asked again for the next route (1,000 releases of an umbrella chart rendered without a cluster: one kubectl
    call, not 1,000)."""
    unread: dict[str, ClusterError] = {}
    if kubectl is not None:
        from infgw_postrender.cluster.kube import ClusterError
    for route in routes:
        rules = alpha_refs((route.get("spec") or {}).get("rules") or [])
        if not rules:
            continue
        metadata = route["metadata"]
        pools = ", ".join(sorted({ref["name"] for rule in rules for ref in rule["backendRefs"]}))
        what = f"HTTPRoute {metadata['name']}"
        if kubectl is None:
            notes.append(f"{what}: the alpha pool {pools} was not checked on a cluster (--offline)")
            continue
        namespace = metadata.get("namespace") or kubectl.default_namespace
        try:
            if namespace in unread:
                raise unread[namespace]
            check_backends(kubectl, namespace, rules, what)
        except ClusterError as error:
            unread[namespace] = error
            notes.append(
                f"{what}: could not check on a cluster that the alpha pool {pools} and its EPP exist "
                f"({error}); pass --offline when rendering without one"
            )
        else:
            where = f"context {kubectl.context}" if kubectl.context else "kubectl's current context"
            notes.append(f"{what}: the alpha pool {pools} and its EPP exist ({where})")
