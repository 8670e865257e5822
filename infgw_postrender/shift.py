"""Move traffic between the alpha and GA pools on a live HTTPRoute: only their two backendRefs change, and only
if the route has not changed since it was read."""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from typing import Callable

from infgw_postrender import blockyaml
from infgw_postrender.detect import accepted_parents
from infgw_postrender.errors import Refused
from infgw_postrender.kube import Kubectl, NotFound
from infgw_postrender.mapping import mapping
from infgw_postrender.route import check_weight, rewrite_route


@dataclass
class ShiftResult:
    route: str
    weight: int
    diff: str  # empty when the route already had these weights
    applied: bool
    generation: int | None = None


def shift(
    kubectl: Kubectl, route_name: str, alpha_pool: str, ga_pool: str, weight: int,
    dry_run: bool = False, force: bool = False,
) -> ShiftResult:
    check_weight(weight)
    resources = mapping()["cluster"]["resources"]
    namespace = kubectl.default_namespace
    route = kubectl.get_one(resources["route"], route_name, namespace, f"read HTTPRoute {namespace}/{route_name}")
    if weight > 0 and not force:
        _refuse_unless_accepted(kubectl, route, ga_pool, namespace)
    rules = rewrite_route(route, f"HTTPRoute {namespace}/{route_name}", alpha_pool, ga_pool, weight).obj["spec"]["rules"]
    old, new = blockyaml.dump({"rules": route["spec"]["rules"]}), blockyaml.dump({"rules": rules})
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"{route_name} (live)", f"{route_name} (GA weight {weight})"))
    result = ShiftResult(f"{namespace}/{route_name}", weight, diff, applied=False)
    if dry_run or not diff:
        return result
    operations = [
        # a route changed by someone else since we read it is not overwritten: the patch fails, nothing changes
        {"op": "test", "path": "/metadata/resourceVersion", "value": route["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/rules", "value": rules},
    ]
    patched = kubectl.patch_json(resources["route"], route_name, namespace, operations,
                                 f"shift HTTPRoute {namespace}/{route_name} to GA weight {weight}")
    result.applied, result.generation = True, patched["metadata"].get("generation")
    return result


def _refuse_unless_accepted(kubectl: Kubectl, route: dict, ga_pool: str, namespace: str) -> None:
    resources = mapping()["cluster"]["resources"]
    try:
        pool = kubectl.get_one(resources["ga_pool"], ga_pool, namespace, f"read the GA InferencePool {namespace}/{ga_pool}")
    except NotFound:
        raise Refused(f"GA InferencePool {namespace}/{ga_pool} does not exist; install the GA release first") from None
    gateways = [parent.get("name") for parent in route["spec"].get("parentRefs") or []]
    accepted = accepted_parents(pool)
    if not any(gateway in accepted for gateway in gateways):
        raise Refused(
            f"GA InferencePool {namespace}/{ga_pool} is not accepted by Gateway {', '.join(gateways)} yet "
            f"(status.parents); wait until it is, or pass --force"
        )


def wait_accepted(kubectl: Kubectl, route_name: str, generation: int, timeout: float,
                  progress: Callable[[str], None], interval: float = 1.0) -> None:
    """Until every parent of the route reports Accepted and ResolvedRefs for this generation."""
    resources = mapping()["cluster"]["resources"]
    namespace = kubectl.default_namespace
    deadline = time.monotonic() + timeout
    while True:
        route = kubectl.get_one(resources["route"], route_name, namespace, f"read HTTPRoute {namespace}/{route_name}")
        parents = (route.get("status") or {}).get("parents") or []
        pending = []
        for condition in ("Accepted", "ResolvedRefs"):
            if not parents or not all(_true_for(parent, condition, generation) for parent in parents):
                pending.append(condition)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise Refused(
                f"HTTPRoute {namespace}/{route_name}: {', '.join(pending)} not reported for generation {generation} "
                f"after {timeout:.0f}s; see `kubectl describe httproute {route_name} -n {namespace}`"
            )
        progress(f"waiting for HTTPRoute {route_name} generation {generation}: {', '.join(pending)}")
        time.sleep(interval)


def _true_for(parent: dict, condition: str, generation: int) -> bool:
    return any(c.get("type") == condition and c.get("status") == "True" and c.get("observedGeneration", 0) >= generation
               for c in parent.get("conditions") or [])
