"""What a migration may do, asked of the server before its first change: a SelfSubjectAccessReview for every verb
of every rule of rbac.yaml (the ClusterRole `infgw-migrate rbac` prints), all in one kubectl call. The server's
authorizer answers (RBAC, and on GKE also IAM), so what is checked is what the steps would meet."""

from __future__ import annotations

import json
import os
from functools import lru_cache

from infgw_postrender.api.objects import as_list
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.errors import InputError, Refused

# Resources without a namespace: asked about cluster-wide. httproutes are asked about cluster-wide too: cleanup
# lists the routes of every namespace before it removes the alpha pool.
_CLUSTER_WIDE = {
    "namespaces",
    "customresourcedefinitions",
    "clusterroles",
    "clusterrolebindings",
    "clusterpodmonitorings",
    "gatewayclasses",
    "tokenreviews",
    "subjectaccessreviews",
}
_LISTED_EVERYWHERE = {("list", "httproutes")}
_READS = ("get", "list", "watch")


@lru_cache(maxsize=1)
def role() -> dict:
    from infgw_postrender.yaml import reader

    with open(os.path.join(os.path.dirname(__file__), "rbac.yaml"), encoding="utf-8") as handle:
        value, _ = reader.parse(handle.read())
    return value


def manifests(subject: str) -> list[dict]:
    """The ClusterRole and a ClusterRoleBinding to `subject`: `user:NAME`, `group:NAME` or
    `serviceaccount:NAMESPACE:NAME`."""
    kind, _, name = subject.partition(":")
    kinds = {"user": "User", "group": "Group", "serviceaccount": "ServiceAccount"}
    if kind not in kinds or not name or (kind == "serviceaccount" and ":" not in name):
        raise InputError(f"--subject {subject!r}: expected user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME")
    entry: dict = {"kind": kinds[kind], "name": name.rpartition(":")[2] if kind == "serviceaccount" else name}
    if kind == "serviceaccount":
        entry["namespace"] = name.partition(":")[0]
    else:
        entry["apiGroup"] = "rbac.authorization.k8s.io"
    cluster_role = role()
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": f"{cluster_role['metadata']['name']}-{entry['name']}",
            "labels": dict(cluster_role["metadata"]["labels"]),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role["metadata"]["name"],
        },
        "subjects": [entry],
    }
    return [cluster_role, binding]


def _reviews(namespace: str) -> list[dict]:
    found = []
    for rule in role()["rules"]:
        for verb in rule["verbs"]:
            if "nonResourceURLs" in rule:
                found += [{"nonResourceAttributes": {"path": path, "verb": verb}} for path in rule["nonResourceURLs"]]
                continue
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    wide = resource in _CLUSTER_WIDE or (verb, resource) in _LISTED_EVERYWHERE
                    attributes = {"verb": verb, "group": group, "resource": resource}
                    found.append({"resourceAttributes": {**attributes, **({} if wide else {"namespace": namespace})}})
    return found


def missing(kubectl: Kubectl, namespace: str) -> dict[str, list[str]]:
    """What the server refuses, by resource (`RESOURCE.GROUP in NAMESPACE`, `cluster-wide`, or a URL path): the
    verbs refused on it, in the role's order."""
    reviews = [
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
        for spec in _reviews(namespace)
    ]
    refused: dict[str, list[str]] = {}
    for review in _created(kubectl, reviews, "ask the server what you may do (SelfSubjectAccessReview)"):
        if (review.get("status") or {}).get("allowed"):
            continue
        spec = review["spec"]
        if "nonResourceAttributes" in spec:
            asked = spec["nonResourceAttributes"]
            refused.setdefault(asked["path"], []).append(asked["verb"])
            continue
        asked = spec["resourceAttributes"]
        where = f"in {asked['namespace']}" if asked.get("namespace") else "cluster-wide"
        group = f".{asked['group']}" if asked.get("group") else ""
        refused.setdefault(f"{asked['resource']}{group} {where}", []).append(asked["verb"])
    return refused


def subject(kubectl: Kubectl) -> str:
    """Who the server takes the user for (SelfSubjectReview), as `rbac --subject` takes it: `user:NAME` or
    `serviceaccount:NAMESPACE:NAME`; `user:NAME` when the server does not say (before Kubernetes 1.28)."""
    from infgw_postrender.cluster.kube import ClusterError

    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    try:
        found = _created(kubectl, [review], "ask the server who you are (SelfSubjectReview)")
    except ClusterError:
        return "user:NAME"
    name = (((found or [{}])[0].get("status") or {}).get("userInfo") or {}).get("username") or "NAME"
    if name.startswith("system:serviceaccount:"):
        return "serviceaccount:" + name.removeprefix("system:serviceaccount:")
    return f"user:{name}"


def _created(kubectl: Kubectl, objects: list[dict], step: str) -> list[dict]:
    """The server's answers to reviews it answers and never stores (`kubectl create -f - -o json`)."""
    text = kubectl.run(["create", "-f", "-", "-o", "json"], step, input=json.dumps(as_list(objects)), changes=False)
    answers, decoder, at = [], json.JSONDecoder(), 0
    while at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        answer, at = decoder.raw_decode(text, at)
        answers += answer.get("items", [answer])
    return answers


def check(kubectl: Kubectl, namespace: str, own: list[str], reads_only: bool = False) -> dict[str, list[str]]:
    """Refused, before anything is read or changed, when the server denies any permission a migration needs:
    the verbs refused, by resource, and who the server takes the user for. With `reads_only` (plan, which changes
    nothing), only a refused read is refused; the refused writes are returned, for a note."""
    refused = missing(kubectl, namespace)
    reads = {resource: [verb for verb in verbs if verb in _READS] for resource, verbs in refused.items()}
    stopping = {resource: verbs for resource, verbs in (reads if reads_only else refused).items() if verbs}
    if stopping:
        who = subject(kubectl)
        raise Refused(
            f"{who.partition(':')[2]} may not {described(stopping)}: nothing was read or changed; as a cluster "
            f"admin, apply what `{' '.join(own)} rbac --subject {who}` prints (| kubectl apply -f -), then run the "
            "same command again"
        )
    return refused


def described(refused: dict[str, list[str]]) -> str:
    """`get, list httproutes.gateway.networking.k8s.io in default; delete ...`: the verbs by resource."""
    return "; ".join(f"{', '.join(verbs)} {resource}" for resource, verbs in refused.items())
