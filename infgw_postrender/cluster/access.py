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
    "customresourcedefinitions",
    "clusterroles",
    "clusterrolebindings",
    "clusterpodmonitorings",
    "gatewayclasses",
    "tokenreviews",
    "subjectaccessreviews",
}
_LISTED_EVERYWHERE = {("list", "httproutes")}


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


def missing(kubectl: Kubectl, namespace: str) -> list[str]:
    """Each permission the server refuses, as `VERB RESOURCE.GROUP in NAMESPACE` (or `cluster-wide`)."""
    reviews = [
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec}
        for spec in _reviews(namespace)
    ]
    text = kubectl.run(
        ["create", "-f", "-", "-o", "json"],
        "ask the server what you may do (SelfSubjectAccessReview)",
        input=json.dumps(as_list(reviews)),
        changes=False,
    )
    refused, decoder, at = [], json.JSONDecoder(), 0
    while at < len(text):
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        answer, at = decoder.raw_decode(text, at)
        for review in answer.get("items", [answer]):
            if (review.get("status") or {}).get("allowed"):
                continue
            spec = review["spec"]
            if "nonResourceAttributes" in spec:
                refused.append(f"{spec['nonResourceAttributes']['verb']} {spec['nonResourceAttributes']['path']}")
                continue
            asked = spec["resourceAttributes"]
            where = f"in {asked['namespace']}" if asked.get("namespace") else "cluster-wide"
            group = f".{asked['group']}" if asked.get("group") else ""
            refused.append(f"{asked['verb']} {asked['resource']}{group} {where}")
    return refused


def check(kubectl: Kubectl, namespace: str, own: list[str]) -> None:
    """Refused, before any change, when the server denies any permission a migration needs."""
    refused = missing(kubectl, namespace)
    if refused:
        raise Refused(
            f"you may not {'; '.join(refused)}: nothing was changed; bind what `{' '.join(own)} rbac "
            f"--subject user:NAME` prints (kubectl apply -f -), then run the same command again"
        )
