"""One migration as the cluster has it now, for `status` (and `status --watch`): the stage (from the route's
weights), the route's conditions, each pool and its EPP's readiness, and the last analysed stage's verdict. Read
in one kubectl call (kube's reads together), or two where the user may not list them."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field

from infgw_postrender.api.mapping import alpha_group, api, ga_group
from infgw_postrender.api.objects import accepted_parents, condition
from infgw_postrender.cluster.analysis import describe_analysis, last_analysis
from infgw_postrender.cluster.backends import ga_share, is_pool, weight_of
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.kube import ClusterError, Kubectl
from infgw_postrender.cluster.state import read_items
from infgw_postrender.defaults import GA_SUFFIX
from infgw_postrender.errors import InputError


@dataclass
class Status:
    route: str
    stage: str  # not started | GA at N% | all traffic on GA | finished | no route
    ga_weight: int | None
    weights: dict[str, int] = field(default_factory=dict)  # pool -> summed weight over the route's rules
    route_conditions: list[str] = field(default_factory=list)  # per parent Gateway: Accepted, ResolvedRefs
    pools: dict[str, str] = field(default_factory=dict)  # pool -> what the cluster says of it and its EPP
    last_analysis: dict | None = None  # the last analysed stage's note on the route (analysis.keep_on_route)
    warnings: list[str] = field(default_factory=list)  # what would stop traffic: an EPP with no ready pod...
    next: list[str] = field(default_factory=list)  # the commands that go on (migrate) or back (abort)

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
        rows += [f"warning: {warning}" for warning in self.warnings]
        rows += [f"next: {command}" for command in self.next]
        return "\n".join(rows) + "\n"


def default_ga_pool(kubectl: Kubectl, route_name: str, alpha_pool: str) -> str:
    """The GA pool of this migration as the cluster shows it: the GA pool the route sends traffic to (the only
    one); else a GA pool with the alpha pool's name (the simple path's, which takes over the release's name);
    else ALPHA-POOL-ga, the zero-downtime path's default."""
    namespace = kubectl.default_namespace
    resources = api().cluster.resources
    route = kubectl.find(resources.route, route_name, namespace, f"read HTTPRoute {namespace}/{route_name}")
    on_route = sorted({ref["name"] for ref in _pool_refs(route) if ref.get("group") == ga_group()})
    if len(on_route) == 1:
        return on_route[0]
    if kubectl.find(resources.ga_pool, alpha_pool, namespace, f"read the GA pool {namespace}/{alpha_pool}"):
        return alpha_pool
    return f"{alpha_pool}{GA_SUFFIX}"


def _pool_refs(route: dict | None) -> list[dict]:
    rules = ((route or {}).get("spec") or {}).get("rules") or []
    return [ref for rule in rules for ref in rule.get("backendRefs") or [] if ref.get("kind") == api().pool.kind]


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
    refs = _pool_refs(route)
    if route is not None and not any((ref.get("group"), ref["name"]) in ((alpha_group(), alpha_pool), (ga_group(), ga_pool))
                                     for ref in refs):  # fmt: skip
        named = ", ".join(f"{ref['name']} ({'alpha' if ref.get('group') == alpha_group() else 'GA'})"
                          for ref in refs) or "no InferencePool"  # fmt: skip
        raise InputError(
            f"--alpha-pool {alpha_pool} --ga-pool {ga_pool}: HTTPRoute {namespace}/{route_name} sends traffic to "
            f"neither; it sends traffic to {named}: pass those pools (or --route, -n)"
        )
    epps = {name: ((pool.get("spec") or {}).get(ref) or {}).get("name")
            for name, pool, ref in ((alpha_pool, alpha, "extensionRef"), (ga_pool, ga, "endpointPickerRef")) if pool}  # fmt: skip
    deployments = {}
    if any(epps.values()):
        named_epps = [("apps/v1", "Deployment", namespace, epp) for epp in epps.values() if epp]
        for obj in kubectl.get_named(named_epps, "read the pools' EPP Deployments"):
            deployments[obj["metadata"]["name"]] = obj
    status = Status(f"{namespace}/{route_name}", "no route", None)
    for name, pool, group in ((alpha_pool, alpha, "alpha"), (ga_pool, ga, "GA")):
        if name == alpha_pool == ga_pool and pool is None:
            continue  # the simple path: one name for both pools, and one of them is there
        epp = deployments.get(epps.get(name) or "")
        status.pools[name] = _pool_state(group, pool, epp, epps.get(name))
        if pool is not None and epp is not None and not _ready(epp):
            status.warnings.append(f"the {group} pool {name}'s EPP has no ready pod: requests to it fail")
    if route is None:
        return status
    status.last_analysis = last_analysis(route)
    rules = route["spec"].get("rules") or []
    status.ga_weight = ga_share(rules, alpha_pool, ga_pool)
    for name, group in ((alpha_pool, alpha_group()), (ga_pool, ga_group())):
        pool_refs = [ref for rule in rules for ref in rule.get("backendRefs") or [] if is_pool(ref, group, name)]
        if pool_refs:
            status.weights[name] = sum(weight_of(ref) for ref in pool_refs)
    parents = (route.get("status") or {}).get("parents") or []
    for parent in parents:
        states = []
        for kind in ("Accepted", "ResolvedRefs"):
            found_condition = condition(parent, kind) or {}
            reason = f" ({found_condition['reason']})" if found_condition.get("status") == "False" else ""
            states.append(f"{kind}={found_condition.get('status', 'unknown')}{reason}")
        status.route_conditions.append(f"Gateway {(parent.get('parentRef') or {}).get('name')}: {' '.join(states)}")
    if not parents:
        status.warnings.append(f"no Gateway has reported on HTTPRoute {namespace}/{route_name}: its controller has "
                               "not taken it up (is the Gateway's class served here?)")  # fmt: skip
    if status.ga_weight is None:
        status.stage = "not started (the GA pool is not on the route)"
    elif status.ga_weight == 100:
        status.stage = "all traffic on GA (the alpha stack is still there)"
    else:
        status.stage = f"GA at {status.ga_weight}%"
    return status


def judge(status: Status, kubectl: Kubectl, helm: Helm, alpha_pool: str, ga_pool: str, state_dir: str) -> None:
    """Finished when all traffic is on GA and the alpha stack is gone, judged as migrate judges its last step
    (judge.alpha_gone); otherwise the commands that go on (the migrate command this migration's run state
    saved, or the guide's zero-downtime one) and, while the alpha pool can take the traffic back, abort."""
    from infgw_postrender.cluster.judge import alpha_gone
    from infgw_postrender.cluster.settings import RUN, own_command
    from infgw_postrender.cluster.state import state_key

    namespace = kubectl.default_namespace
    gone = alpha_gone(kubectl, helm, namespace, alpha_pool)
    if status.ga_weight == 100 and gone:
        status.stage = "finished"
        status.next = ["nothing: the migration is finished"]
        return
    try:  # the command migrate saved; a state file of another migration, or a cluster whose identity this user
        # may not read (get namespaces), gives the guide's command instead
        key = state_key(kubectl, namespace, alpha_pool)
        saved = read_items(key.path(state_dir, RUN), key, RUN, "--state-dir") or [{}]
    except (InputError, ClusterError):
        saved = [{}]
    route = status.route.partition("/")[2]
    context = ["--kube-context", kubectl.context] if kubectl.context else []
    command = saved[0].get("command") or shlex.join([
        *own_command(), "migrate", "-n", namespace, *context, "--path", "zero-downtime", "--alpha-pool", alpha_pool,
        *(["--ga-release", ga_pool] if ga_pool != f"{alpha_pool}{GA_SUFFIX}" else []), "--route", route,
        "--stages", "0,50,100",
    ])  # fmt: skip
    status.next = [f"to go on: {command}"]
    if not gone and status.ga_weight:
        back = [*own_command(), "abort", "-n", namespace, *context, "--route", route, "--alpha-pool", alpha_pool,
                "--ga-pool", ga_pool]  # fmt: skip
        status.next.append(f"to go back: {shlex.join(back)}")


def _pool_state(group: str, pool: dict | None, epp: dict | None, epp_name: str | None) -> str:
    if pool is None:
        return f"{group}, not there"
    accepted = accepted_parents(pool) if group == "GA" else []
    said = f"{group}, accepted by {', '.join(accepted)}" if accepted else group
    if epp is None:
        return f"{said}; EPP Deployment {epp_name or '(none named)'} not there"
    return f"{said}; EPP {epp_name} {_ready(epp)}/{(epp.get('spec') or {}).get('replicas', 1)} ready"


def _ready(epp: dict) -> int:
    return (epp.get("status") or {}).get("readyReplicas") or 0
