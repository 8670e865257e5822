"""What is alpha in a cluster (or in a snapshot of one), what routes to it, and which path the guide suggests."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from infgw_postrender.api.mapping import alpha_group, api, ga_group
from infgw_postrender.api.objects import accepted_parents, pool_of_model
from infgw_postrender.cluster.helm import Helm, HelmError, context_args
from infgw_postrender.cluster.kube import ALL_NAMESPACES, Kubectl
from infgw_postrender.errors import InputError


@dataclass
class Findings:
    server_version: str | None = None
    alpha_pools: list[dict] = field(default_factory=list)
    alpha_models: list[dict] = field(default_factory=list)
    ga_pools: list[dict] = field(default_factory=list)
    routes: list[dict] = field(default_factory=list)  # routes with a backend that is an InferencePool
    releases: list[dict] = field(
        default_factory=list
    )  # Helm releases of the inferencepool or llm-d-router-gateway chart
    crds: list[dict] = field(default_factory=list)
    body_based_routing: list[dict] | None = field(
        default_factory=list
    )  # its routers; None: not known (a snapshot without Deployments)
    notes: list[str] = field(default_factory=list)

    @property
    def migration_needed(self) -> bool:
        return bool(self.alpha_pools or self.alpha_models)

    @property
    def live_alpha_routes(self) -> list[dict]:
        """Routes that send traffic (a weight above 0, or no weight) to an alpha pool."""
        return [r for r in self.routes if any(b["group"] == alpha_group() and b["weight"] != 0 for b in r["backends"])]

    @property
    def recommended_path(self) -> str | None:
        """zero-downtime while a route sends the alpha pools traffic, or once a GA pool is there (a migration begun,
        or alpha objects restored beside the GA stack: `migrate` goes on from the cluster); simple otherwise."""
        if not self.migration_needed:
            return None
        return "zero-downtime" if self.live_alpha_routes or self.ga_pools else "simple"

    def verdict(self) -> str:
        if not self.migration_needed and self.ga_pools:
            return (
                f"no migration needed: {len(self.ga_pools)} GA InferencePool(s) and no v1alpha2 InferencePool or "
                "InferenceModel left (a finished migration)"
            )
        if not self.migration_needed:
            return "no migration needed: no v1alpha2 InferencePool or InferenceModel found; install the v1 API directly"
        count = f"{len(self.alpha_pools)} v1alpha2 InferencePool(s), {len(self.alpha_models)} InferenceModel(s)"
        if self.recommended_path == "zero-downtime":
            routes = ", ".join(f"{r['namespace']}/{r['name']}" for r in self.live_alpha_routes)
            if not routes:
                return (
                    f"migration needed: {count} beside {len(self.ga_pools)} GA InferencePool(s) (a migration "
                    "begun, or a backup restored); path: zero-downtime, which goes on from where the cluster is"
                )
            return f"migration needed: {count}; path: zero-downtime (HTTPRoute {routes} sends live traffic to an alpha pool)"
        return f"migration needed: {count}; path: simple (no HTTPRoute sends traffic to an alpha pool, a short outage costs nothing)"

    @property
    def model_routing(self) -> str:
        """What becomes of the InferenceModels' model names, and what to pass for them."""
        if self.body_based_routing is None:
            return (
                "body-based routing: not known, the snapshot holds no Deployments (add deployments.apps to the "
                "`kubectl get`); without it the InferenceModels' model names do not pick an objective in v1"
            )
        if self.body_based_routing:
            where = ", ".join(f"{b['namespace']}/{b['name']}" for b in self.body_based_routing)
            return (
                f"body-based routing is deployed ({where}): render the route with infgw-postrender --model-routing "
                "(or the companion chart's modelObjectives) and clients keep sending only the model name"
            )
        return (
            "no body-based routing found: the InferenceModels' model names do not pick an objective in v1; clients "
            f"must send {api().objective.header} (or deploy upstream's body-based-routing chart, then use "
            "--model-routing)"
        )

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.update(
            migration_needed=self.migration_needed,
            recommended_path=self.recommended_path,
            verdict=self.verdict(),
            model_routing=self.model_routing if self.alpha_models else None,
        )
        return found


def read_cluster(kubectl: Kubectl, helm: Helm | None, namespace: str | None) -> Findings:
    """Three kubectl calls (version, CRDs, every present inference type at once) and one `helm list`."""
    scope = namespace or ALL_NAMESPACES
    table = api().cluster.resources
    findings = Findings(server_version=kubectl.server_version())
    crds = [c for c in kubectl.crds() if c["metadata"]["name"] in (*api().cluster.inference_crd_names, table.route)]
    present = {c["metadata"]["name"] for c in crds}
    wanted = [
        getattr(table, key)
        for key in ("alpha_pool", "alpha_model", "ga_pool", "route")
        if getattr(table, key) in present
    ]
    # Deployments in the same call: body-based routing is known by its router's image
    objects = kubectl.get([*wanted, table.deployment], "list the inference objects", scope) if wanted else []
    _classify(findings, crds + objects)
    if helm is not None:
        try:
            findings.releases = helm_releases(helm, namespace, kubectl.context)
        except HelmError as error:
            findings.notes.append(f"Helm releases not listed: {error}")
    return findings


def read_snapshot(path: str, server_version: str | None, namespace: str | None) -> Findings:
    """A snapshot: the YAML (or JSON) of `kubectl get crd,inferencepools...,httproutes... -A -o yaml`."""
    from infgw_postrender.cluster.snapshot import read_objects

    table = api()
    kinds = {"CustomResourceDefinition", table.pool.kind, table.alpha_model.kind, table.route.kind, "Deployment"}
    wanted_crds = set(table.cluster.inference_crd_names) | {table.cluster.resources.route}
    objects = [
        json.loads(json.dumps(item))
        for item in read_objects(path, kinds)
        if item.get("kind") != "CustomResourceDefinition" or (item.get("metadata") or {}).get("name") in wanted_crds
    ]
    if not objects:
        raise InputError(f"--from-file {path}: no Kubernetes objects; pass the output of `kubectl get ... -A -o yaml`")
    if namespace:
        objects = [
            o for o in objects if o["kind"] == "CustomResourceDefinition" or o["metadata"].get("namespace") == namespace
        ]
    findings = Findings(server_version=server_version)
    _classify(findings, objects)
    if not any(o["kind"] == "Deployment" for o in objects):
        findings.body_based_routing = None
    findings.notes.append(f"read from {path}, not from a cluster")
    return findings


def helm_releases(helm: Helm, namespace: str | None, context: str | None) -> list[dict]:
    args = ["list", "-o", "json", *(["-n", namespace] if namespace else ["-A"]), *context_args(context)]
    charts = {project.chart.name for project in api().releases}
    releases = []
    for release in json.loads(helm.run(*args).stdout or "[]"):
        name, _, version = release.get("chart", "").rpartition("-")
        if name in charts:
            releases.append(
                {
                    "namespace": release["namespace"],
                    "name": release["name"],
                    "chart": name,
                    "chart_version": version,
                    "status": release.get("status"),
                }
            )
    return releases


def _classify(findings: Findings, objects: list[dict]) -> None:
    pool_kind = api().pool.kind
    for obj in objects:
        group, kind = obj.get("apiVersion", "").rpartition("/")[0], obj.get("kind")
        metadata = obj.get("metadata") or {}
        where = {"namespace": metadata.get("namespace"), "name": metadata.get("name")}
        spec = obj.get("spec") or {}
        if kind == "CustomResourceDefinition":
            findings.crds.append(
                {
                    "name": metadata.get("name"),
                    "owner": crd_owner(obj),
                    "versions": [v["name"] for v in spec.get("versions", []) if v.get("served")],
                }
            )
        elif kind == pool_kind and group == alpha_group():
            findings.alpha_pools.append(
                {
                    **where,
                    "epp": (spec.get("extensionRef") or {}).get("name"),
                    "selector": spec.get("selector") or {},
                    "target_port": spec.get("targetPortNumber"),
                }
            )
        elif kind == pool_kind and group == ga_group():
            findings.ga_pools.append({**where, "accepted_by": accepted_parents(obj)})
        elif kind == api().alpha_model.kind:
            findings.alpha_models.append(
                {
                    **where,
                    "pool": pool_of_model(obj),
                    "model_name": spec.get("modelName"),
                    "criticality": spec.get("criticality"),
                }
            )
        elif kind == api().route.kind:
            backends = [
                {"group": ref.get("group", ""), "name": ref.get("name"), "weight": ref.get("weight", 1)}
                for rule in spec.get("rules") or []
                for ref in rule.get("backendRefs") or []
                if ref.get("kind") == pool_kind
            ]
            if backends:
                findings.routes.append({**where, "backends": backends})
        elif kind == "Deployment":
            images = [
                c.get("image") or "" for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            ]
            router = next((image for image in images if f"{api().body_based_routing.image}:" in image), None)
            if router and findings.body_based_routing is not None:
                findings.body_based_routing.append({**where, "image": router})


def crd_owner(crd: dict) -> str:
    metadata = crd.get("metadata") or {}
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    for rule in api().cluster.crd_owners:
        if rule.label and rule.label in labels and rule.value in (None, labels[rule.label]):
            return rule.owner
        if rule.annotation and rule.annotation in annotations:
            return rule.owner
    return "unknown"


def table(findings: Findings) -> str:
    """The findings for people."""
    lines = [f"server version: {findings.server_version or 'unknown'}", ""]
    rows = [("KIND", "NAMESPACE", "NAME", "DETAIL")]
    rows += [("InferencePool (v1alpha2)", p["namespace"], p["name"], f"EPP {p['epp']}") for p in findings.alpha_pools]
    rows += [
        (
            "InferenceModel (v1alpha2)",
            m["namespace"],
            m["name"],
            f"pool {m['pool']}, {m['criticality'] or 'no criticality'}",
        )
        for m in findings.alpha_models
    ]
    rows += [
        (
            "InferencePool (v1)",
            p["namespace"],
            p["name"],
            f"accepted by {', '.join(p['accepted_by']) or 'no Gateway yet'}",
        )
        for p in findings.ga_pools
    ]
    rows += [
        (
            "HTTPRoute",
            r["namespace"],
            r["name"],
            ", ".join(
                f"{'alpha' if b['group'] == alpha_group() else 'GA'} {b['name']}={b['weight']}" for b in r["backends"]
            ),
        )
        for r in findings.routes
    ]
    rows += [
        ("Helm release", r["namespace"], r["name"], f"{r['chart']} {r['chart_version']} ({r['status']})")
        for r in findings.releases
    ]
    rows += [("CRD", "", c["name"], f"{', '.join(c['versions'])}; installed by {c['owner']}") for c in findings.crds]
    rows += [("body-based routing", b["namespace"], b["name"], b["image"]) for b in findings.body_based_routing or []]
    widths = [max(len(str(row[i] or "")) for row in rows) for i in range(3)]
    lines += [
        f"{row[0]:<{widths[0]}}  {row[1] or '':<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip() for row in rows
    ]
    notes = findings.notes + ([findings.model_routing] if findings.alpha_models else [])
    lines += ["", *(f"note: {note}" for note in notes), findings.verdict()]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"
