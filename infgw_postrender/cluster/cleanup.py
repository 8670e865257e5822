"""Remove the alpha stack once nothing routes to it, after writing a backup of everything it deletes; and
restore such a backup."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infgw_postrender.api.mapping import alpha_group, api
from infgw_postrender.api.names import epp_name
from infgw_postrender.api.objects import accepted_parents, as_list, pool_of_model
from infgw_postrender.cluster.helm import Helm, context_args
from infgw_postrender.cluster.kube import ALL_NAMESPACES, Kubectl, NotFound, references
from infgw_postrender.cluster.state import BACKUP, StateKey, read_items, write_items
from infgw_postrender.errors import InputError, MigrateError, Refused
from infgw_postrender.yaml.roundtrip import load_file_documents

MODELS = "models"


@dataclass
class CleanupPlan:
    namespace: str
    alpha_pool: str
    helm_release: str | None = None
    objects: list[dict] = field(default_factory=list)  # what will be deleted, in deletion order
    crds: list[dict] = field(default_factory=list)  # alpha CRDs to delete (with --delete-crds)
    crds_kept: str | None = None  # why the alpha CRDs stay (--delete-unused-crds while objects are left)

    def describe(self) -> list[str]:
        lines = [f"helm uninstall {self.helm_release} -n {self.namespace}"] if self.helm_release else []
        lines += [f"delete {o['kind']} {_ref(o)}" for o in _unique(self.objects) + self.crds]
        return lines + ([f"keep the v1alpha2 CRDs: {self.crds_kept}"] if self.crds_kept else [])


def plan_cleanup(
    kubectl: Kubectl,
    helm: Helm | None,
    alpha_pool: str,
    ga_pool: str | None,
    delete_crds: str | None,
    with_downtime: bool = False,
) -> CleanupPlan:
    """Every check before anything changes: no route to the alpha pool, the GA pool serving; `with_downtime`
    (the simple path) skips both, since the outage is the point. `delete_crds`: None, "always" (refused while
    any object of them is left) or "unused" (kept, and said so, while any is)."""
    resources = api().cluster.resources
    namespace = kubectl.default_namespace
    plan = CleanupPlan(namespace, alpha_pool)
    pool = kubectl.find(resources.alpha_pool, alpha_pool, namespace, f"read the alpha pool {namespace}/{alpha_pool}")
    if not with_downtime:
        _refuse_while_serving(kubectl, alpha_pool, ga_pool, namespace)
    # even with the pool gone (a run stopped half-way), its models, EPP and Helm release may be left
    plan.helm_release, plan.objects = alpha_stack(kubectl, helm, alpha_pool, pool, namespace)
    if delete_crds:
        try:
            plan.crds = _deletable_crds(kubectl, plan)
        except Refused as still_used:
            if delete_crds == "always":
                raise
            plan.crds_kept = str(still_used).split(": ", 1)[-1]
    return plan


def _refuse_while_serving(kubectl: Kubectl, alpha_pool: str, ga_pool: str | None, namespace: str) -> None:
    resources = api().cluster.resources
    routes = kubectl.get([resources.route], "list HTTPRoutes", ALL_NAMESPACES)
    for route in routes:
        for rule in route["spec"].get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if (ref.get("group"), ref.get("name"), ref.get("namespace") or route["metadata"]["namespace"]) == (
                    alpha_group(),
                    alpha_pool,
                    namespace,
                ):
                    raise Refused(
                        f"HTTPRoute {route['metadata']['namespace']}/{route['metadata']['name']} still routes to the alpha "
                        f"pool {alpha_pool}; shift it to GA weight 100 first (infgw-migrate shift ... --ga-weight 100)"
                    )
    if ga_pool is None:
        raise InputError("cleanup: --ga-pool is required (or --with-downtime, the simple path's outage)")
    ga = kubectl.find(resources.ga_pool, ga_pool, namespace, f"read the GA pool {namespace}/{ga_pool}")
    if ga is None:
        raise Refused(f"GA InferencePool {namespace}/{ga_pool} does not exist; the alpha stack is the only one serving")
    if not accepted_parents(ga):
        raise Refused(f"GA InferencePool {namespace}/{ga_pool} is not accepted by any Gateway; it is not serving yet")


def alpha_stack(
    kubectl: Kubectl, helm: Helm | None, alpha_pool: str, pool: dict | None, namespace: str
) -> tuple[str | None, list[dict]]:
    """(the alpha Helm release or None, everything removing the alpha stack deletes). The chart names the
    release after the pool, so the release is found by the pool's name even when the pool is gone."""
    objects = _alpha_objects(kubectl, alpha_pool, pool, namespace)
    if helm is not None and helm.status(alpha_pool, namespace, kubectl.context) is not None:
        return alpha_pool, release_objects(kubectl, helm, alpha_pool, namespace) + objects
    return None, objects


def pool_models(kubectl: Kubectl, alpha_pool: str, namespace: str) -> list[dict]:
    """The InferenceModels of the alpha pool: poolRef is namespace-local, so those of its namespace naming it.
    Empty once the v1alpha2 CRDs are gone (the simple path deletes them): a list is NotFound only then."""
    try:
        models = kubectl.get([api().cluster.resources.alpha_model], "list InferenceModels", namespace)
    except NotFound:
        return []
    return [m for m in models if pool_of_model(m) == alpha_pool]


def _alpha_objects(kubectl: Kubectl, alpha_pool: str, pool: dict | None, namespace: str) -> list[dict]:
    """The pool, its InferenceModels, and its EPP Deployment and Service."""
    models = pool_models(kubectl, alpha_pool, namespace)
    epp = ((pool or {}).get("spec", {}).get("extensionRef") or {}).get("name") or epp_name(alpha_pool)
    named = [("apps/v1", "Deployment", namespace, epp), ("v1", "Service", namespace, epp)]
    found = kubectl.get_named(named, f"read the EPP Deployment and Service {namespace}/{epp}")
    return models + found + ([pool] if pool else [])


def release_objects(kubectl: Kubectl, helm: Helm, release: str, namespace: str) -> list[dict]:
    """What `helm uninstall` deletes: every object of the release's manifest, and Helm's own release records."""
    manifest = helm.run("get", "manifest", release, "-n", namespace, *context_args(kubectl.context)).stdout
    live = kubectl.get_listed(manifest, f"read the objects of Helm release {release}") if manifest.strip() else []
    records = kubectl.get(
        ["secrets"], f"read the Helm records of {release}", namespace, selector=f"owner=helm,name={release}"
    )
    return live + records


def _deletable_crds(kubectl: Kubectl, plan: CleanupPlan) -> list[dict]:
    """The alpha CRDs, only if no object of them is left anywhere once the plan's objects are gone."""
    table = api().cluster
    going = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in plan.objects}
    crds = [c for c in kubectl.crds() if c["metadata"]["name"] in table.alpha_crd_names]
    for crd in crds:
        left = [
            o
            for o in kubectl.get([crd["metadata"]["name"]], f"list {crd['metadata']['name']}", ALL_NAMESPACES)
            if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) not in going
        ]
        if left:
            where = ", ".join(f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in left[:5])
            raise Refused(
                f"--delete-crds: {crd['metadata']['name']} still has objects ({where}); deleting the CRD would delete them"
            )
    return crds


def _identity(obj: dict) -> tuple:
    """_key and the uid: the same object, not a later twin of the same name."""
    return *_key(obj), obj["metadata"].get("uid")


def save_backup(key: StateKey, path: str, objects: list[dict]) -> bool:
    """Make the backup at `path` hold every one of `objects` (kind, namespace, name and uid): written again,
    with what it held already kept, unless it does. True when it was written."""
    held = read_items(path, key, BACKUP, "--backup") or []
    have = {_identity(o) for o in held}
    if all(_identity(o) in have for o in objects) and Path(path).exists():  # not only in an earlier version's file
        return False
    merged = {_key(o): o for o in held}
    merged.update({_key(o): _stored(o) for o in objects})
    crds = [o for o in merged.values() if o["kind"] == "CustomResourceDefinition"]
    write_items(
        path, key, BACKUP, crds + [o for o in merged.values() if o["kind"] != "CustomResourceDefinition"], "--backup"
    )
    return True


def backup_alpha(
    kubectl: Kubectl, helm: Helm | None, key: StateKey, routes: list[str], backup: str, models_path: str | None
) -> list[str]:
    """The backup step of both paths; with `models_path`, the pool's InferenceModels alone too. Once the alpha
    pool and its models are gone (a re-run after cleanup), the export they left is kept as it is."""
    resources = api().cluster.resources
    pool = kubectl.find(
        resources.alpha_pool, key.pool, key.namespace, f"read the alpha pool {key.namespace}/{key.pool}"
    )
    _, objects = alpha_stack(kubectl, helm, key.pool, pool, key.namespace)
    found = [
        kubectl.find(resources.route, name, key.namespace, f"read HTTPRoute {key.namespace}/{name}") for name in routes
    ]
    objects += [route for route in found if route]
    lines = [f"backup written: {backup}" if save_backup(key, backup, objects) else f"backup {backup} is up to date"]
    if models_path:
        models = [o for o in objects if o["kind"] == api().alpha_model.kind]
        exported = read_items(models_path, key, MODELS, "--models") if pool is None and not models else None
        if exported is not None:
            if not Path(models_path).exists():  # an earlier version's file: kept under this cluster's name too
                write_items(models_path, key, MODELS, exported, "--models")
            lines.append(f"InferenceModels export {models_path} kept: the alpha pool and its models are gone")
        else:
            write_items(models_path, key, MODELS, [_stored(m) for m in models], "--models")
            lines.append(f"{len(models)} InferenceModel(s) of {key.pool} written to {models_path}")
    return lines


def _stored(obj: dict) -> dict:
    """As read, less what restore never needs; the uid stays, to tell this object from a later twin."""
    kept = json.loads(json.dumps(obj))
    kept["metadata"].pop("managedFields", None)
    return kept


def run_cleanup(
    kubectl: Kubectl,
    helm: Helm | None,
    plan: CleanupPlan,
    key: StateKey,
    backup: str,
    progress: Callable[[str], None],
    timeout: float = 60,
) -> list[str]:
    """Delete what the plan lists, once the backup holds all of it (written again first when it does not). An
    object is said to be deleted once the server no longer has it: a finalizer holds it until its controller
    removes it, and the CRDs are deleted only after every object is gone (waited for up to `timeout`)."""
    if save_backup(key, backup, plan.crds + plan.objects):
        progress(f"backup written: {backup} (restore with: helm infgw-migrate restore {backup})")
    else:
        progress(f"backup {backup} already holds every object to delete")
    done = []
    if plan.helm_release and helm is not None:
        helm.run("uninstall", plan.helm_release, "-n", plan.namespace, *context_args(kubectl.context))
        done.append(f"helm uninstall {plan.helm_release}")
    # after the Helm release: whatever it left (InferenceModels made by hand), then the CRDs
    for objects, what in ((_unique(plan.objects), "the alpha objects"), (plan.crds, "the v1alpha2 CRDs")):
        if objects:
            kubectl.delete_listed(objects, f"delete {what}")
            _wait_gone(kubectl, objects, timeout, progress, backup)
            done += [f"deleted {o['kind']} {_ref(o)}" for o in objects]
    return done


def _wait_gone(
    kubectl: Kubectl, objects: list[dict], timeout: float, progress: Callable[[str], None], backup: str
) -> None:
    from infgw_postrender.cluster.waits import TimedOut, poll

    listed = references(objects)

    def left() -> str | None:
        found = kubectl.get_listed(listed, "check that what was deleted is gone")
        return (
            ", ".join(
                f"{o['kind']} {_ref(o)}"
                + (
                    f" (finalizers: {', '.join(o['metadata']['finalizers'])})"
                    if o["metadata"].get("finalizers")
                    else ""
                )
                for o in found
            )
            or None
        )

    try:
        poll(left, timeout, progress)
    except TimedOut as still:
        raise MigrateError(
            f"deleted, but still there after {timeout:g}s: {still.pending}; a finalizer holds an "
            "object until its controller removes it: let it finish (or remove the finalizer), then "
            f"run the same command again; the backup {backup} holds everything"
        ) from None


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
    from infgw_postrender.cluster.waits import wait_established

    items = [json.loads(json.dumps(o)) for o in load_file_documents(path, "restore") if isinstance(o, dict)]
    if not items or not all(isinstance(o, dict) and "kind" in o and "metadata" in o for o in items):
        raise InputError(f"restore {path}: not a backup written by infgw-migrate cleanup")
    crds = [o for o in items if o["kind"] == "CustomResourceDefinition"]
    done = []
    for group in (crds, [o for o in items if o["kind"] != "CustomResourceDefinition"]):
        if not group:
            continue
        listed = json.dumps(as_list([_restorable(o) for o in group]))
        there = {_key(o) for o in kubectl.get_listed(listed, "read what the backup holds")}
        missing = [o for o in group if _key(o) not in there]
        done += [f"kept {o['kind']} {_ref(o)} (already there)" for o in group if _key(o) in there]
        if missing:
            kubectl.create(json.dumps(as_list([_restorable(o) for o in missing])), "restore the backup")
            done += [f"restored {o['kind']} {_ref(o)}" for o in missing]
        if group is crds:
            wait_established(kubectl, [o["metadata"]["name"] for o in crds], 60, lambda _: None)
    return done


def _key(obj: dict) -> tuple:
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def _restorable(obj: dict) -> dict:
    """The object as it was, without what the API server owns; kubectl apply's copy is kept, as it was."""
    clean = json.loads(json.dumps(obj))
    clean.pop("status", None)
    for key in api().server_owned_metadata:
        clean["metadata"].pop(key, None)
    return clean
