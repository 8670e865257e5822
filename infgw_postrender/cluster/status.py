"""One migration as the cluster has it now, for `status` (and `status --watch`): the stage (from the route's
weights), the route's conditions, each pool and its EPP's readiness, and the last analysed stage's verdict. Read
in one kubectl call (kube's reads together), or two where the user may not list them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from infgw_postrender.api.mapping import alpha_group, api, ga_group
from infgw_postrender.api.objects import accepted_parents, condition
from infgw_postrender.cluster.analysis import describe_analysis, last_analysis
from infgw_postrender.cluster.backends import ga_share, is_pool, weight_of
from infgw_postrender.cluster.kube import Kubectl


@dataclass
class Status:
    route: str
    stage: str  # not started | GA at N% | all traffic on GA | finished | no route
    ga_weight: int | None
    weights: dict[str, int] = field(default_factory=dict)  # pool -> summed weight over the route's rules
    route_conditions: list[str] = field(default_factory=list)  # per parent Gateway: Accepted, ResolvedRefs
    pools: dict[str, str] = field(default_factory=dict)  # pool -> what the cluster says of it and its EPP
    last_analysis: dict | None = None  # the last analysed stage's note on the route (analysis.keep_on_route)

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line, for a log: what changed shows as a new line."""
        weights = ", ".join(f"{pool} {weight}" for pool, weight in self.weights.items()) or "no pool on the route"
        line = f"{self.route}: {self.stage} ({weights}); {'; '.join(self.route_conditions) or 'no Gateway report'}"
        return line + (f"; last analysis {describe_analysis(self.last_analysis)}" if self.last_analysis else "")

    def table(self) -> str:
        rows = [f"HTTPRoute {self.route}: {self.stage}"]
        rows += [f"  weight  {pool}: {weight}" for pool, weight in self.weights.items()]
        rows += [f"  route   {state}" for state in self.route_conditions]
        rows += [f"  pool    {pool}: {state}" for pool, state in self.pools.items()]
        if self.last_analysis:
            rows.append(f"  last analysis  {describe_analysis(self.last_analysis)}")
        return "\n".join(rows) + "\n"


def read_status(kubectl: Kubectl, route_name: str, alpha_pool: str, ga_pool: str) -> Status:
    namespace = kubectl.default_namespace
    table = api().pool
    wanted = [
        (api().route.api_version, api().route.kind, namespace, route_name),
        (table.alpha_api_version, table.kind, namespace, alpha_pool),
        (table.ga_api_version, table.kind, namespace, ga_pool),
    ]
    found = kubectl.get_named(wanted, f"read HTTPRoute {namespace}/{route_name} and its pools")
    by_kind = {(o["kind"], o["apiVersion"].rpartition("/")[0]): o for o in found}
    route = by_kind.get((api().route.kind, api().route.api_version.rpartition("/")[0]))
    alpha = by_kind.get((table.kind, alpha_group()))
    ga = by_kind.get((table.kind, ga_group()))
    epps = {name: ((pool.get("spec") or {}).get(ref) or {}).get("name")
            for name, pool, ref in ((alpha_pool, alpha, "extensionRef"), (ga_pool, ga, "endpointPickerRef")) if pool}  # fmt: skip
    deployments = {}
    if any(epps.values()):
        named = [("apps/v1", "Deployment", namespace, epp) for epp in epps.values() if epp]
        for obj in kubectl.get_named(named, "read the pools' EPP Deployments"):
            deployments[obj["metadata"]["name"]] = obj
    status = Status(f"{namespace}/{route_name}", "no route", None)
    for name, pool, group in ((alpha_pool, alpha, "alpha"), (ga_pool, ga, "GA")):
        status.pools[name] = _pool_state(group, pool, deployments.get(epps.get(name) or ""), epps.get(name))
    if route is None:
        return status
    status.last_analysis = last_analysis(route)
    rules = route["spec"].get("rules") or []
    status.ga_weight = ga_share(rules, alpha_pool, ga_pool)
    for name, group in ((alpha_pool, alpha_group()), (ga_pool, ga_group())):
        refs = [ref for rule in rules for ref in rule.get("backendRefs") or [] if is_pool(ref, group, name)]
        if refs:
            status.weights[name] = sum(weight_of(ref) for ref in refs)
    for parent in (route.get("status") or {}).get("parents") or []:
        states = []
        for kind in ("Accepted", "ResolvedRefs"):
            found_condition = condition(parent, kind) or {}
            reason = f" ({found_condition['reason']})" if found_condition.get("status") == "False" else ""
            states.append(f"{kind}={found_condition.get('status', 'unknown')}{reason}")
        status.route_conditions.append(f"Gateway {(parent.get('parentRef') or {}).get('name')}: {' '.join(states)}")
    if status.ga_weight is None:
        status.stage = "not started (the GA pool is not on the route)"
    elif status.ga_weight == 100:
        status.stage = "finished" if alpha is None else "all traffic on GA (the alpha stack is still there)"
    else:
        status.stage = f"GA at {status.ga_weight}%"
    return status


def _pool_state(group: str, pool: dict | None, epp: dict | None, epp_name: str | None) -> str:
    if pool is None:
        return f"{group}, not there"
    accepted = accepted_parents(pool) if group == "GA" else []
    said = f"{group}, accepted by {', '.join(accepted)}" if accepted else group
    if epp is None:
        return f"{said}; EPP Deployment {epp_name or '(none named)'} not there"
    ready = (epp.get("status") or {}).get("readyReplicas") or 0
    return f"{said}; EPP {epp_name} {ready}/{(epp.get('spec') or {}).get('replicas', 1)} ready"
