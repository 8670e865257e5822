"""Move traffic between the alpha and GA pools on a live HTTPRoute: only their two backendRefs change, only if
the route has not changed since it was read, and never toward a pool that is not there (backends.check_backends).

A Gateway accepts an InferencePool only once some route references it, so a route that does not reference the
GA pool yet first gets it at weight 0 (the guide's stage 2 starts from there); once the Gateway has accepted
the pool, the requested weights are applied."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from infgw_postrender.api.mapping import api
from infgw_postrender.api.names import check_weight
from infgw_postrender.api.objects import accepted_parents, condition
from infgw_postrender.cluster.backends import check_backends, ga_share
from infgw_postrender.cluster.gateways import check_gateway_class
from infgw_postrender.cluster.kube import Conflict, Kubectl
from infgw_postrender.cluster.waits import TimedOut, poll
from infgw_postrender.errors import MigrateError, Refused
from infgw_postrender.postrender.route import rewrite_route
from infgw_postrender.yaml import emitter


@dataclass
class ShiftResult:
    route: str
    weight: int
    diff: str  # empty when the route already had these weights
    applied: bool
    generation: int | None = None
    steps: list[str] = field(default_factory=list)  # what was done (or, with dry_run, would be), in order


_ATTEMPTS = 3  # writes of the route tried against a route that changed since it was read


def _quiet(_: str) -> None:
    pass


def shift(
    kubectl: Kubectl,
    route_name: str,
    alpha_pool: str,
    ga_pool: str,
    weight: int,
    dry_run: bool = False,
    force: bool = False,
    timeout: float = 300.0,
    progress: Callable[[str], None] = _quiet,
    accepted_classes: tuple[str, ...] = (),
) -> ShiftResult:
    """Refused (nothing changed) when the new weights would send traffic to a missing pool or EPP, or when the GA
    pool is about to join the route of a Gateway whose controller is not known to serve it (gateways.py). With
    force, the weights are written at once, without waiting for the Gateway to accept the GA pool."""
    check_weight(weight)
    namespace = kubectl.default_namespace
    what = f"HTTPRoute {namespace}/{route_name}"
    route = read_route(kubectl, route_name, namespace)
    if ga_share(route["spec"].get("rules") or [], alpha_pool, ga_pool) is None:  # the migration's first change
        for parent in route["spec"].get("parentRefs") or []:
            if parent.get("kind", "Gateway") == "Gateway":
                gateway = f"{parent.get('namespace') or namespace}/{parent['name']}"
                progress(check_gateway_class(kubectl, gateway, namespace, accepted_classes))
    target = _rules(route, what, alpha_pool, ga_pool, weight)
    check_backends(kubectl, namespace, target, f"{what} at GA weight {weight}")
    result = ShiftResult(f"{namespace}/{route_name}", weight, _diff(route, target, route_name, weight), applied=False)
    if not result.diff:
        return result
    if weight > 0 and not force:
        route = _until_accepted(kubectl, route, what, alpha_pool, ga_pool, timeout, dry_run, result, progress)
        if dry_run:
            return result
        target = _rules(route, what, alpha_pool, ga_pool, weight)
        check_backends(kubectl, namespace, target, f"{what} at GA weight {weight}")
    if dry_run:
        result.steps.append(f"would set GA weight {weight}")
        return result
    for attempt in range(_ATTEMPTS):
        try:
            result.generation = _patch(kubectl, route, target, f"shift {what} to GA weight {weight}")
            break
        except Conflict:
            if attempt == _ATTEMPTS - 1:
                raise Refused(
                    f"{what} changed under this command {_ATTEMPTS} times (another writer keeps changing "
                    "it); nothing was changed: run the same command again once it settles"
                ) from None
            progress(f"{what} changed since it was read: reading it again (another writer's changes are kept)")
            route = read_route(kubectl, route_name, namespace)  # their change kept, ours computed again on it
            target = _rules(route, what, alpha_pool, ga_pool, weight)
            check_backends(kubectl, namespace, target, f"{what} at GA weight {weight}")
    result.applied = True
    result.steps.append(f"set GA weight {weight} (generation {result.generation})")
    return result


def abort(
    kubectl: Kubectl,
    route_name: str,
    alpha_pool: str,
    ga_pool: str,
    timeout: float,
    progress: Callable[[str], None] = _quiet,
) -> ShiftResult:
    """Every request back on the alpha pool (the GA pool stays on the route at weight 0), through the checked
    shift: refused (exit 3, nothing changed) when the alpha pool or its EPP is gone, or when its Gateway reports
    it not Accepted. Run again, it changes nothing."""
    namespace = kubectl.default_namespace
    pool = kubectl.find(api().cluster.resources.alpha_pool, alpha_pool, namespace,
                        f"read the alpha InferencePool {namespace}/{alpha_pool}")  # fmt: skip
    if pool is None:
        raise Refused(
            f"abort: the alpha InferencePool {namespace}/{alpha_pool} is gone, so there is nothing to go back to; "
            "nothing changed (restore it from the backup first: `infgw-migrate restore`)"
        )
    # v1alpha2 reports its Gateways under status.parent (v1 renamed it parents)
    refused = [
        (parent.get("parentRef") or {}).get("name")
        for parent in (pool.get("status") or {}).get("parent") or []
        if (condition(parent, "Accepted") or {}).get("status") == "False"
    ]
    if refused:
        raise Refused(
            f"abort: Gateway {', '.join(map(str, refused))} reports the alpha InferencePool {namespace}/{alpha_pool} "
            "not Accepted; sending traffic back there would not serve it; nothing changed"
        )
    return shift(kubectl, route_name, alpha_pool, ga_pool, 0, timeout=timeout, progress=progress)


def _until_accepted(
    kubectl: Kubectl,
    route: dict,
    what: str,
    alpha_pool: str,
    ga_pool: str,
    timeout: float,
    dry_run: bool,
    result: ShiftResult,
    progress: Callable[[str], None],
) -> dict:
    """The route as it is once the route's Gateway has accepted the GA pool, adding the pool at weight 0 first
    when the route does not reference it."""
    namespace = kubectl.default_namespace
    gateways = [parent.get("name") for parent in route["spec"].get("parentRefs") or []]
    added = False
    if ga_share(route["spec"].get("rules") or [], alpha_pool, ga_pool) is None:
        first = _rules(route, what, alpha_pool, ga_pool, 0)
        check_backends(kubectl, namespace, first, f"{what} at GA weight 0")
        if dry_run:
            result.steps.append(
                f"would add the GA pool {ga_pool} at weight 0 (traffic unchanged) and wait until "
                f"Gateway {', '.join(gateways)} accepts it"
            )
            return route
        _patch(kubectl, route, first, f"add the GA pool {ga_pool} to {what} at weight 0")
        added = True
        result.steps.append(f"added the GA pool {ga_pool} at weight 0 (traffic unchanged)")
        progress(
            f"{what}: added the GA pool {ga_pool} at weight 0; waiting until Gateway {', '.join(gateways)} accepts it"
        )
    elif dry_run:
        return route

    def pending() -> str | None:
        pool = kubectl.find(
            api().cluster.resources.ga_pool, ga_pool, namespace, f"read the GA InferencePool {namespace}/{ga_pool}"
        )
        if pool is None:
            return f"GA InferencePool {namespace}/{ga_pool} does not exist"
        if any(gateway in accepted_parents(pool) for gateway in gateways):
            return None
        return f"GA InferencePool {namespace}/{ga_pool} not accepted by Gateway {', '.join(gateways)} (status.parents)"

    try:
        poll(pending, timeout, progress)
    except TimedOut as late:
        if added:
            raise MigrateError(
                f"{what} now references the GA pool {ga_pool} at weight 0 (traffic unchanged), but "
                f"after {timeout:.0f}s: {late.pending}; check the Gateway's controller, then run the "
                "same command again"
            ) from None
        raise Refused(
            f"after {timeout:.0f}s: {late.pending}; nothing changed; check the Gateway's controller "
            "(or pass --force to write the weights without waiting)"
        ) from None
    return read_route(kubectl, route["metadata"]["name"], namespace)


def read_route(kubectl: Kubectl, route_name: str, namespace: str) -> dict:
    """The live HTTPRoute (a ClusterError naming it when it cannot be read)."""
    return kubectl.get_one(
        api().cluster.resources.route, route_name, namespace, f"read HTTPRoute {namespace}/{route_name}"
    )


def _rules(route: dict, what: str, alpha_pool: str, ga_pool: str, weight: int) -> list[dict]:
    return rewrite_route(route, what, alpha_pool, ga_pool, weight).obj["spec"]["rules"]


def _diff(route: dict, rules: list[dict], route_name: str, weight: int) -> str:
    old, new = emitter.dump({"rules": route["spec"]["rules"]}), emitter.dump({"rules": rules})
    return "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"{route_name} (live)", f"{route_name} (GA weight {weight})"
        )
    )


def _patch(kubectl: Kubectl, route: dict, rules: list[dict], step: str) -> int | None:
    operations = [
        # a route changed by someone else since we read it is not overwritten: the patch fails, nothing changes
        {"op": "test", "path": "/metadata/resourceVersion", "value": route["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/rules", "value": rules},
    ]
    patched = kubectl.patch_json(
        api().cluster.resources.route, route["metadata"]["name"], route["metadata"]["namespace"], operations, step
    )
    return patched["metadata"].get("generation")


def wait_accepted(
    kubectl: Kubectl,
    route_name: str,
    generation: int | None,
    timeout: float,
    progress: Callable[[str], None],
    interval: float = 1.0,
) -> None:
    """Until every parent of the route reports Accepted and ResolvedRefs for this generation. The route has
    changed already, so a timeout is a failure (exit 1) that says so, not a refusal. A server that gave no
    generation (every API server gives one) is waited on for any."""
    namespace = kubectl.default_namespace
    observed = generation or 0

    def pending() -> str | None:
        route = read_route(kubectl, route_name, namespace)
        parents = (route.get("status") or {}).get("parents") or []
        if not parents:
            return f"HTTPRoute {route_name}: no Gateway has reported on it"
        states = [
            _condition_state(parent, kind, observed) for kind in ("Accepted", "ResolvedRefs") for parent in parents
        ]
        waiting = [state for state in states if state]
        return f"HTTPRoute {route_name} generation {generation}: {'; '.join(waiting)}" if waiting else None

    try:
        poll(pending, timeout, progress, interval)
    except TimedOut as late:
        raise MigrateError(
            f"HTTPRoute {namespace}/{route_name} was changed (generation {generation}), but after {timeout:.0f}s "
            f"{late.pending.split(': ', 1)[-1]}; see `kubectl describe httproute {route_name} -n {namespace}`"
        ) from None


def _condition_state(parent: dict, kind: str, generation: int) -> str | None:
    """None when the condition `kind` is True for this generation; else what the parent reports instead."""
    found = condition(parent, kind)
    if found is None or found.get("observedGeneration", 0) < generation:
        return f"{kind} not reported"
    if found.get("status") == "True":
        return None
    detail = found.get("reason") or ""
    if found.get("message"):
        detail += f": {found['message']}"
    return f"{kind} {found.get('status')} ({detail})" if detail else f"{kind} {found.get('status')}"
