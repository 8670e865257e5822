"""Remove the alpha stack once nothing routes to it, after writing a backup of everything it deletes; and
restore such a backup."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from infgw_postrender import blockyaml
from infgw_postrender.detect import accepted_parents
from infgw_postrender.errors import InputError, Refused
from infgw_postrender.helm import Helm, context_args
from infgw_postrender.kube import ALL_NAMESPACES, Kubectl, NotFound
from infgw_postrender.mapping import alpha_group, mapping
from infgw_postrender.names import epp_name
from infgw_postrender.yamlio import load_file_documents


@dataclass
class CleanupPlan:
    namespace: str
    alpha_pool: str
    helm_release: str | None = None
    objects: list[dict] = field(default_factory=list)  # what will be deleted, in deletion order
    crds: list[dict] = field(default_factory=list)  # alpha CRDs to delete (with --delete-crds)

    def describe(self) -> list[str]:
        lines = [f"helm uninstall {self.helm_release} -n {self.namespace}"] if self.helm_release else []
        lines += [f"delete {o['kind']} {_ref(o)}" for o in _unique(self.objects) + self.crds]
        return lines


def plan_cleanup(kubectl: Kubectl, helm: Helm | None, alpha_pool: str, ga_pool: str, delete_crds: bool) -> CleanupPlan:
    """Every check before anything changes: no route to the alpha pool, the GA pool serving."""
    resources = mapping()["cluster"]["resources"]
    namespace = kubectl.default_namespace
    plan = CleanupPlan(namespace, alpha_pool)
    try:
        pool = kubectl.get_one(resources["alpha_pool"], alpha_pool, namespace, f"read the alpha pool {namespace}/{alpha_pool}")
    except NotFound:
        pool = None
    routes = kubectl.get([resources["route"]], "list HTTPRoutes", ALL_NAMESPACES)
    for route in routes:
        for rule in route["spec"].get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if (ref.get("group"), ref.get("name"), ref.get("namespace") or route["metadata"]["namespace"]) == (
                        alpha_group(), alpha_pool, namespace):
                    raise Refused(
                        f"HTTPRoute {route['metadata']['namespace']}/{route['metadata']['name']} still routes to the alpha "
                        f"pool {alpha_pool}; shift it to GA weight 100 first (infgw-migrate shift ... --ga-weight 100)"
                    )
    try:
        ga = kubectl.get_one(resources["ga_pool"], ga_pool, namespace, f"read the GA pool {namespace}/{ga_pool}")
    except NotFound:
        raise Refused(f"GA InferencePool {namespace}/{ga_pool} does not exist; the alpha stack is the only one serving") from None
    if not accepted_parents(ga):
        raise Refused(f"GA InferencePool {namespace}/{ga_pool} is not accepted by any Gateway; it is not serving yet")
    # even with the pool gone (a run stopped half-way), its models, EPP and Helm release may be left
    plan.helm_release, plan.objects = alpha_stack(kubectl, helm, alpha_pool, pool, namespace)
    if delete_crds:
        plan.crds = _deletable_crds(kubectl, plan)
    return plan


def alpha_stack(kubectl: Kubectl, helm: Helm | None, alpha_pool: str, pool: dict | None,
                namespace: str) -> tuple[str | None, list[dict]]:
    """(the alpha Helm release or None, everything removing the alpha stack deletes). The chart names the
    release after the pool, so the release is found by the pool's name even when the pool is gone."""
    objects = _alpha_objects(kubectl, alpha_pool, pool, namespace)
    if helm is not None and helm.status(alpha_pool, namespace, kubectl.context) is not None:
        return alpha_pool, release_objects(kubectl, helm, alpha_pool, namespace) + objects
    return None, objects


def _alpha_objects(kubectl: Kubectl, alpha_pool: str, pool: dict | None, namespace: str) -> list[dict]:
    """The pool, its InferenceModels, and its EPP Deployment and Service."""
    resources = mapping()["cluster"]["resources"]
    models = [m for m in kubectl.get([resources["alpha_model"]], "list InferenceModels", namespace)
              if (m["spec"].get("poolRef") or {}).get("name") == alpha_pool]
    epp = ((pool or {}).get("spec", {}).get("extensionRef") or {}).get("name") or epp_name(alpha_pool)
    found = []
    for resource in ("deployments.apps", "services"):
        try:
            found.append(kubectl.get_one(resource, epp, namespace, f"read the EPP {resource} {epp}"))
        except NotFound:
            pass
    return models + found + ([pool] if pool else [])


def release_objects(kubectl: Kubectl, helm: Helm, release: str, namespace: str) -> list[dict]:
    """What `helm uninstall` deletes: every object of the release's manifest, and Helm's own release records."""
    manifest = helm.run("get", "manifest", release, "-n", namespace, *context_args(kubectl.context)).stdout
    live = kubectl.get_listed(manifest, f"read the objects of Helm release {release}") if manifest.strip() else []
    records = kubectl.get(["secrets"], f"read the Helm records of {release}", namespace,
                          selector=f"owner=helm,name={release}")
    return live + records


def _deletable_crds(kubectl: Kubectl, plan: CleanupPlan) -> list[dict]:
    """The alpha CRDs, only if no object of them is left anywhere once the plan's objects are gone."""
    table = mapping()["cluster"]
    going = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in plan.objects}
    crds = [c for c in kubectl.crds() if c["metadata"]["name"] in table["alpha_crds"]]
    for crd in crds:
        left = [o for o in kubectl.get([crd["metadata"]["name"]], f"list {crd['metadata']['name']}", ALL_NAMESPACES)
                if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) not in going]
        if left:
            where = ", ".join(f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in left[:5])
            raise Refused(f"--delete-crds: {crd['metadata']['name']} still has objects ({where}); deleting the CRD would delete them")
    return crds


def write_backup(plan: CleanupPlan, path: str) -> None:
    """Written whole (to a temporary file, then renamed) before anything is deleted."""
    items = [_restorable(o) for o in plan.crds + _unique(plan.objects)]
    text = blockyaml.dump({"apiVersion": "v1", "kind": "List", "items": items})
    temporary = f"{path}.partial"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise InputError(f"--backup {path}: cannot write it ({exc.strerror}); nothing was deleted") from None


def run_cleanup(kubectl: Kubectl, helm: Helm | None, plan: CleanupPlan) -> list[str]:
    done = []
    if plan.helm_release and helm is not None:
        helm.run("uninstall", plan.helm_release, "-n", plan.namespace, *context_args(kubectl.context))
        done.append(f"helm uninstall {plan.helm_release}")
    # after the Helm release: whatever it left (InferenceModels made by hand), then the CRDs
    for objects, what in ((_unique(plan.objects), "the alpha objects"), (plan.crds, "the v1alpha2 CRDs")):
        if objects:
            kubectl.delete_listed(objects, f"delete {what}")
            done += [f"deleted {o['kind']} {_ref(o)}" for o in objects]
    return done


def _unique(objects: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key not in seen:
            seen.add(key)
            kept.append(obj)
    return kept


def _ref(obj: dict) -> str:
    namespace = obj["metadata"].get("namespace")
    return f"{namespace + '/' if namespace else ''}{obj['metadata']['name']}"


def restore(kubectl: Kubectl, path: str) -> list[str]:
    """Create what the backup holds and the cluster lacks (CRDs first, then the objects that need them);
    objects still there are left as they are."""
    from infgw_postrender.crds import wait_established

    items = [json.loads(json.dumps(o)) for o in load_file_documents(path, "restore")]
    if not items or not all(isinstance(o, dict) and "kind" in o and "metadata" in o for o in items):
        raise InputError(f"restore {path}: not a backup written by infgw-migrate cleanup")
    crds = [o for o in items if o["kind"] == "CustomResourceDefinition"]
    done = []
    for group in (crds, [o for o in items if o["kind"] != "CustomResourceDefinition"]):
        if not group:
            continue
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": [_restorable(o) for o in group]})
        there = {_key(o) for o in kubectl.get_listed(listed, "read what the backup holds")}
        missing = [o for o in group if _key(o) not in there]
        done += [f"kept {o['kind']} {_ref(o)} (already there)" for o in group if _key(o) in there]
        if missing:
            kubectl.create(json.dumps({"apiVersion": "v1", "kind": "List", "items": [_restorable(o) for o in missing]}),
                           "restore the backup")
            done += [f"restored {o['kind']} {_ref(o)}" for o in missing]
        if group is crds:
            wait_established(kubectl, [o["metadata"]["name"] for o in crds], 60, lambda _: None)
    return done


def _key(obj: dict) -> tuple:
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def _restorable(obj: dict) -> dict:
    clean = json.loads(json.dumps(obj))
    clean.pop("status", None)
    for key in mapping()["server_owned_metadata"]:
        clean["metadata"].pop(key, None)
    return clean
