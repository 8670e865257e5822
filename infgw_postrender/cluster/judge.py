"""Where a migration stands, read from the cluster alone: what `migrate` judges its steps done by, `plan` marks them
by and `status` reports (one judgement, three views)."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.cluster.analysis import last_analysis
from infgw_postrender.cluster.backends import ga_share
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.kube import Kubectl, NotFound, references
from infgw_postrender.cluster.settings import Settings


def unserved_crds(kubectl: Kubectl, names: tuple[str, ...]) -> list[str]:
    """Those of these CRDs the cluster lacks, in one read."""
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}
    listed = references([{**crd, "metadata": {"name": name}} for name in names])
    served = {obj["metadata"]["name"] for obj in kubectl.get_listed(listed, "read the CRDs the chart needs")}
    return [name for name in names if name not in served]


def alpha_gone(kubectl: Kubectl, helm: Helm, namespace: str, alpha_pool: str) -> bool:
    """No alpha pool of that name, none of its InferenceModels, and no alpha Helm release: what the backup step
    and the removal of the alpha stack are judged done by, and `status` calls finished (with all traffic on GA)."""
    from infgw_postrender.cluster.cleanup import pool_models

    resources = api().cluster.resources
    if kubectl.find(resources.alpha_pool, alpha_pool, namespace, f"read the alpha pool {namespace}/{alpha_pool}"):
        return False
    if pool_models(kubectl, alpha_pool, namespace):
        return False
    status = helm.status(alpha_pool, namespace, kubectl.context)
    # on the simple path the GA release takes the alpha release's name: a release whose pool is GA is not alpha
    ga = kubectl.find(resources.ga_pool, alpha_pool, namespace, f"read the GA pool {namespace}/{alpha_pool}")
    return status is None or ga is not None


def alpha_pools(kubectl: Kubectl, namespace: str) -> list[str]:
    """The names of the v1alpha2 InferencePools in the namespace (none once the alpha CRDs are gone)."""
    try:
        pools = kubectl.get([api().cluster.resources.alpha_pool], f"list the alpha pools of {namespace}", namespace)
    except NotFound:
        return []
    return sorted(pool["metadata"]["name"] for pool in pools)


def route_share(kubectl: Kubectl, settings: Settings) -> int | None:
    """The GA pool's share of the migration's route, as the cluster has it; None without the route or the pool."""
    return _share(_route(kubectl, settings), settings)


def stage_outcome(kubectl: Kubectl, settings: Settings, weight: int, since: str) -> dict:
    """After a traffic stage, from one read of the route: the GA share it has now, and the stage's analysis when
    this run noted one on it (at or after `since`, an ISO time in UTC)."""
    route = _route(kubectl, settings)
    note = last_analysis(route) if route else None
    fresh = note is not None and note.get("weight") == weight and str(note.get("at", "")) >= since
    return {"ga_weight": _share(route, settings), "analysis": note if fresh else None}


def _route(kubectl: Kubectl, settings: Settings) -> dict | None:
    where = f"read HTTPRoute {settings.namespace}/{settings.route}"
    return kubectl.find(api().cluster.resources.route, settings.route, settings.namespace, where)


def _share(route: dict | None, settings: Settings) -> int | None:
    return ga_share(route["spec"].get("rules") or [], settings.alpha_pool, settings.ga_release) if route else None
